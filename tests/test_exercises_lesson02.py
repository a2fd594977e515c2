import math

import pytest
import torch
import torch.nn.functional as F
from wrong_answers import lesson02 as wrong02

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
    assert check_lambda_schedule(
        lambda p, gamma=10.0: torch.tensor(2 / (1 + math.exp(-gamma * p)) - 1)
    ).ok
    assert check_lambda_schedule(dann_lambda, gamma=5.0).startswith("OK")
    with pytest.raises(CheckFailed, match="takes 1 positional argument"):
        check_lambda_schedule(lambda p: dann_lambda(p))  # no gamma argument


@pytest.mark.parametrize(
    "wrong, match",
    [
        (lambda p, gamma: -dann_lambda(p, gamma), "wrong sign"),
        (lambda p, gamma: 2 / (1 + math.exp(-gamma * p)), "starts at 1"),
        (lambda p, gamma: 1 / (1 + math.exp(-gamma * p)), "logistic"),
        (lambda p, gamma: p, r"at p = 0.05 expected"),
        (lambda p, gamma: dann_lambda(p, 5.0), "expected"),
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
    with pytest.raises(CheckFailed, match="labels are swapped"):
        check_domain_loss(lambda z, d: F.binary_cross_entropy_with_logits(z, 1 - d))


def test_class_loss_check():
    assert check_class_loss(F.cross_entropy).startswith("OK")
    assert check_class_loss(lambda z, y: F.nll_loss(F.log_softmax(z, 1), y))
    with pytest.raises(CheckFailed, match="double softmax"):
        check_class_loss(lambda z, y: F.cross_entropy(torch.softmax(z, 1), y))
    with pytest.raises(CheckFailed, match="log-probabilities"):
        check_class_loss(F.nll_loss)
    with pytest.raises(CheckFailed, match="label smoothing"):
        check_class_loss(lambda z, y: F.cross_entropy(z, y, label_smoothing=0.1))


def test_optimizer_check_finds_a_head_left_out():
    model = build_model("toy")
    full = torch.optim.SGD(model.parameters(), lr=0.1)
    n = sum(p.numel() for p in model.parameters())
    assert (
        check_optimizer(model, full) == f"OK: the optimiser updates all {n} parameters of the model"
    )
    partial = torch.optim.SGD(
        [*model.features.parameters(), *model.domain_head.parameters()], lr=0.1
    )
    with pytest.raises(CheckFailed, match=r"2 trainable parameters .*label_head\.weight"):
        check_optimizer(model, partial)
    for p in model.label_head.parameters():  # frozen: it would keep its random values too
        p.requires_grad_(False)
    with pytest.raises(CheckFailed, match="frozen"):
        check_optimizer(model, partial)


# Wrong answers written independently of the checkers (tests/wrong_answers), each with the
# mistake its message must name.
GRL_MESSAGES = {
    "+lambda in backward": "scaled by \\+lambda",
    "gradient passed through": "passes through unchanged",
    "-grad, not scaled": "not scaled",
    "-lambda^2 in backward": "-lambda \\* grad_output",
    "forward returns lambda*x": "identity",
    "forward returns -x": "identity",
    "x.detach()": "detach",
    "backward returns one value (crash)": "one gradient per input",
    "lambda not saved on ctx (crash)": "ctx.lambd = lambd",
    "gradient returned for lambda (crash)": "None as the gradient of lambd",
    "in-place grad_output.mul_": "in place",
    "lambda ignored (always 1)": "not scaled",
}
LAMBDA_MESSAGES = {
    "forgot the -1": "starts at 1",
    "sign flipped": "wrong sign",
    "exp(+gamma p)": "wrong sign",
    "plain sigmoid": "logistic",
    "gamma ignored (10)": "use the gamma argument",
    "gamma = 1": "expected lambda_p",
    "tanh(gamma p)": "expected lambda_p",
    "1 - exp(-gamma p)": "expected lambda_p",
    "linear ramp": "expected lambda_p",
    "p in percent": "expected lambda_p",
    "torch.exp on a float (crash)": "math.exp or np.exp",
}
DOMAIN_LOSS_MESSAGES = {
    "softmax over one logit": "softmax over a single logit",
    "sigmoid then BCE-with-logits": "sigmoid applied twice",
    "BCE on raw logits (crash)": "binary_cross_entropy_with_logits",
    "labels swapped": "labels are swapped",
    "loss negated": "wrong sign",
    "MSE on sigmoid": "expected binary cross-entropy",
    "cross_entropy on 1-D logits": "expected binary cross-entropy",
    "reduction='none'": "must be a scalar",
    "reduction='sum'": "sum over the batch",
    "hinge loss": "expected binary cross-entropy",
    "long labels (crash)": "floats",
}
CLASS_LOSS_MESSAGES = {
    "double softmax": "double softmax",
    "nll_loss on logits": "log-probabilities",
    "nll_loss on probabilities": "expected cross-entropy",
    "log_softmax over dim 0": "expected cross-entropy",
    "label_smoothing=0.1": "label smoothing",
    "reduction='sum'": "sum over the batch",
    "BCE on one-hot": "expected cross-entropy",
    "logits transposed (crash)": "do not transpose",
    "float labels (crash)": "integers",
    "one-hot of argmax as logits": "expected cross-entropy",
}
OPTIMIZER_MESSAGES = {
    "label head left out": "label_head.weight",
    "domain head left out": "domain_head",
    "features only": "never updated",
    "optimiser of a copy": "never updated",
    "lr = 0": "learning rate 0",
    "label head frozen": "frozen",
    "domain head group lr 0": "learning rate 0.*domain_head",
}
# PyTorch refuses to build these optimisers, before any check runs
BUILD_FAILS = {"parameters twice (crash)", "GRL parameters only (crash)"}


def _cases(wrong, messages):
    return [pytest.param(fn, messages[label], id=label) for label, fn in wrong]


@pytest.mark.parametrize("answer, message", _cases(wrong02.WRONG_GRL, GRL_MESSAGES))
def test_grl_wrong_answers_are_named(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check_grl(answer)


@pytest.mark.parametrize("answer, message", _cases(wrong02.WRONG_LAMBDA, LAMBDA_MESSAGES))
def test_lambda_wrong_answers_are_named(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check_lambda_schedule(answer)


@pytest.mark.parametrize("answer, message", _cases(wrong02.WRONG_DOMAIN_LOSS, DOMAIN_LOSS_MESSAGES))
def test_domain_loss_wrong_answers_are_named(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check_domain_loss(answer)


@pytest.mark.parametrize("answer, message", _cases(wrong02.WRONG_CLASS_LOSS, CLASS_LOSS_MESSAGES))
def test_class_loss_wrong_answers_are_named(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check_class_loss(answer)


@pytest.mark.parametrize("label, build", wrong02.WRONG_OPTIMIZER, ids=lambda x: str(x))
def test_optimizer_wrong_answers_are_named(label, build):
    model = build_model("toy")
    if label in BUILD_FAILS:
        with pytest.raises(ValueError):
            build(model)
        return
    with pytest.raises(CheckFailed, match=OPTIMIZER_MESSAGES[label]):
        check_optimizer(model, build(model))


@pytest.mark.parametrize(
    "check, answer",
    [(check_grl, fn) for _, fn in wrong02.RIGHT_GRL]
    + [(check_lambda_schedule, fn) for _, fn in wrong02.RIGHT_LAMBDA]
    + [(check_domain_loss, fn) for _, fn in wrong02.RIGHT_DOMAIN_LOSS]
    + [(check_class_loss, fn) for _, fn in wrong02.RIGHT_CLASS_LOSS],
)
def test_right_answers_written_differently_pass(check, answer):
    assert check(answer).ok


@pytest.mark.parametrize("label, build", wrong02.RIGHT_OPTIMIZER, ids=lambda x: str(x))
def test_right_optimizers_pass(label, build):
    model = build_model("toy")
    assert check_optimizer(model, build(model)).ok
