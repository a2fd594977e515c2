"""The checkers' common contract: OK, not done yet (the stub), or CheckFailed (a wrong answer)."""

import pytest
import torch

from dannlib.exercises import CheckFailed, Verdict, checker
from dannlib.exercises.lesson02 import check_lambda_schedule
from dannlib.schedules import dann_lambda


def test_a_right_answer_is_ok_and_reads_as_its_message():
    verdict = check_lambda_schedule(dann_lambda)
    assert isinstance(verdict, Verdict) and verdict.ok
    assert str(verdict).startswith("OK")
    assert verdict.use("mine", "dannlib's") == "mine"


def test_an_unsolved_stub_is_not_done_yet_and_the_lesson_uses_dannlibs_version():
    def my_lambda(p, gamma=10.0):
        raise NotImplementedError("Student exercise: the lambda schedule")

    verdict = check_lambda_schedule(my_lambda)
    assert not verdict.ok
    assert verdict.startswith("not done yet: write `my_lambda`")
    assert verdict.use(my_lambda, dann_lambda) is dann_lambda


def test_a_wrong_answer_still_fails_loudly():
    with pytest.raises(CheckFailed, match="wrong sign"):
        check_lambda_schedule(lambda p, gamma: -dann_lambda(p, gamma))


def test_an_error_inside_the_students_code_becomes_a_hint_with_their_line():
    def my_lambda(p, gamma=10.0):
        return torch.exp(-gamma * p)  # p is a float here

    with pytest.raises(CheckFailed) as err:
        check_lambda_schedule(my_lambda)
    message = str(err.value)
    assert message.startswith("your function raised TypeError at `return torch.exp(-gamma * p)")
    assert "Hint: p is a Python float: use math.exp or np.exp" in message


def test_a_not_implemented_error_that_is_not_the_stubs_is_not_hidden():
    @checker("my_fn", "anything")
    def check(fn):
        fn()
        return "OK"

    def uses_an_unsupported_op():
        raise NotImplementedError("aten::something is not implemented for 'MPS'")

    with pytest.raises(NotImplementedError, match="MPS"):
        check(uses_an_unsupported_op)
