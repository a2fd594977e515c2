import math

import pytest

from dannlib.schedules import annealed_lr, dann_lambda


def test_lambda_formula_at_known_points():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_lambda(1.0) > 0.999


def test_lr_formula_at_known_points():
    assert annealed_lr(0.0) == pytest.approx(0.01)
    assert annealed_lr(0.5) == pytest.approx(0.01 / 6**0.75)
    assert annealed_lr(1.0) == pytest.approx(0.01 / 11**0.75)


def test_schedules_are_monotone():
    ps = [i / 100 for i in range(101)]
    lambdas = [dann_lambda(p) for p in ps]
    lrs = [annealed_lr(p) for p in ps]
    assert all(a < b for a, b in zip(lambdas, lambdas[1:]))
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
