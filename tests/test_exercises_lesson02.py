import math

import pytest
import torch
import torch.nn.functional as F

from dannlib import build_model, grad_reverse
from dannlib.exercises import CheckFailed
from dannlib.exercises.lesson02 import (
    check_class_loss,
    check_domain_loss,
    check_grl,
    check_lambda_schedule,
    check_optimizer,
)
from dannlib.schedules import dann_lambda


def test_lambda_schedule_accepts_the_paper_schedule():
    assert check_lambda_schedule(dann_lambda).startswith("OK")
    assert check_lambda_schedule(lambda p: torch.tensor(2 / (1 + math.exp(-10 * p)) - 1))
    assert check_lambda_schedule(lambda p: dann_lambda(p, 5.0), gamma=5.0).startswith("OK")


@pytest.mark.parametrize(
    "wrong, match",
    [
        (lambda p: -dann_lambda(p), "wrong sign"),
        (lambda p: 2 / (1 + math.exp(-10 * p)), "starts at 1"),
        (lambda p: 1 / (1 + math.exp(-10 * p)), "logistic"),
        (lambda p: p, r"at p = 0.05 expected"),
        (lambda p: dann_lambda(p, 5.0), "expected"),
    ],
)
def test_lambda_schedule_names_the_mistake(wrong, match):
    with pytest.raises(CheckFailed, match=match):
        check_lambda_schedule(wrong)


class _Reverse(torch.autograd.Function):
    """A GRL whose backward multiplies by `factor(lambd)`, to build correct and buggy layers."""

    @staticmethod
    def forward(ctx, x, lambd, factor):
        ctx.scale = factor(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return ctx.scale * g, None, None


def test_grl_check_accepts_dannlib_and_a_hand_written_layer():
    assert check_grl(grad_reverse).startswith("OK")
    assert check_grl(lambda x, lambd: _Reverse.apply(x, lambd, lambda lam: -lam)).startswith("OK")


@pytest.mark.parametrize(
    "factor, match",
    [
        (lambda lam: lam, "not reversed"),
        (lambda lam: 1.0, "unchanged"),
        (lambda lam: -1.0, "not scaled"),
        (lambda lam: 0.0, "zero"),
        (lambda lam: -2 * lam, "must return -lambda"),
    ],
)
def test_grl_check_names_the_mistake(factor, match):
    with pytest.raises(CheckFailed, match=match):
        check_grl(lambda x, lambd: _Reverse.apply(x, lambd, factor))


def test_grl_check_rejects_a_changed_forward_and_a_detached_output():
    with pytest.raises(CheckFailed, match="identity"):
        check_grl(lambda x, lambd: -x)
    with pytest.raises(CheckFailed, match="detach"):
        check_grl(lambda x, lambd: x.detach())


def test_domain_loss_check():
    assert check_domain_loss(F.binary_cross_entropy_with_logits).startswith("OK")
    assert check_domain_loss(lambda z, d: F.binary_cross_entropy(torch.sigmoid(z), d))
    with pytest.raises(CheckFailed, match="softmax over a single logit"):
        check_domain_loss(
            lambda z, d: F.binary_cross_entropy(torch.softmax(z.unsqueeze(1), 1).squeeze(1), d)
        )
    with pytest.raises(CheckFailed, match="sigmoid applied twice"):
        check_domain_loss(lambda z, d: F.binary_cross_entropy_with_logits(torch.sigmoid(z), d))
    with pytest.raises(CheckFailed, match="scalar"):
        check_domain_loss(lambda z, d: F.binary_cross_entropy_with_logits(z, d, reduction="none"))
    with pytest.raises(CheckFailed, match="expected binary cross-entropy"):
        check_domain_loss(lambda z, d: F.binary_cross_entropy_with_logits(z, 1 - d))


def test_class_loss_check():
    assert check_class_loss(F.cross_entropy).startswith("OK")
    assert check_class_loss(lambda z, y: F.nll_loss(F.log_softmax(z, 1), y))
    with pytest.raises(CheckFailed, match="double softmax"):
        check_class_loss(lambda z, y: F.cross_entropy(torch.softmax(z, 1), y))
    with pytest.raises(CheckFailed, match="log-probabilities"):
        check_class_loss(F.nll_loss)
    with pytest.raises(CheckFailed, match="expected cross-entropy"):
        check_class_loss(lambda z, y: F.cross_entropy(z, y, label_smoothing=0.1))


def test_optimizer_check_finds_a_head_left_out():
    model = build_model("toy")
    full = torch.optim.SGD(model.parameters(), lr=0.1)
    n = sum(p.numel() for p in model.parameters())
    assert check_optimizer(model, full) == f"OK: the optimiser updates all {n} trainable parameters"
    partial = torch.optim.SGD(
        [*model.features.parameters(), *model.domain_head.parameters()], lr=0.1
    )
    with pytest.raises(CheckFailed, match=r"2 trainable parameters .*label_head\.weight"):
        check_optimizer(model, partial)
    for p in model.label_head.parameters():  # frozen on purpose: not a mistake
        p.requires_grad_(False)
    assert check_optimizer(model, partial).startswith("OK")
