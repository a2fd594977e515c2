import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression

from dannlib import build_model, grad_reverse
from dannlib.checks import (
    CheckFailed,
    check_class_loss,
    check_dann_loop,
    check_dann_step,
    check_domain_loss,
    check_effective_sample_size,
    check_grl,
    check_importance_weights,
    check_lambda_schedule,
    check_optimizer,
)
from dannlib.data.loaders import IndexStream
from dannlib.reweighting import effective_sample_size
from dannlib.schedules import dann_lambda
from dannlib.train import dann_step


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


def test_effective_sample_size_check():
    assert check_effective_sample_size(effective_sample_size).startswith("OK")
    assert check_effective_sample_size(lambda w: w.sum() ** 2 / (w * w).sum())
    with pytest.raises(CheckFailed, match="divided by n"):
        check_effective_sample_size(lambda w: w.sum() ** 2 / (w**2).sum() / len(w))
    with pytest.raises(CheckFailed, match="square the sum"):
        check_effective_sample_size(lambda w: w.sum() / (w**2).sum())
    with pytest.raises(CheckFailed, match="expected"):
        check_effective_sample_size(lambda w: float(len(w)))
    with pytest.raises(CheckFailed):
        check_effective_sample_size(lambda w: np.sqrt(len(w)))


def student_weights(xs, xt, swap=False, factor=True, column=1, proba=True):
    """Importance weights as a student writes them, with optional mistakes."""
    d = np.r_[np.zeros(len(xs)), np.ones(len(xt))]
    clf = LogisticRegression().fit(np.vstack([xs, xt]), 1 - d if swap else d)
    p = clf.predict_proba(xs)[:, column] if proba else clf.predict(xs)
    with np.errstate(divide="ignore"):
        odds = p / (1 - p)
    return odds * len(xs) / len(xt) if factor else odds


def test_importance_weights_check():
    assert check_importance_weights(student_weights).startswith("OK")
    for kwargs, match in [
        (dict(factor=False), "without the factor n_s / n_t"),
        (dict(swap=True), "odds are upside down"),
        (dict(column=0), "odds are upside down"),
        (dict(proba=False), "predict_proba"),
    ]:
        with pytest.raises(CheckFailed, match=match):
            check_importance_weights(lambda xs, xt, kw=kwargs: student_weights(xs, xt, **kw))
    with pytest.raises(CheckFailed, match="upside down: multiply the odds by n_s / n_t"):
        check_importance_weights(lambda xs, xt: student_weights(xs, xt) * (len(xt) / len(xs)) ** 2)
    with pytest.raises(CheckFailed, match="one per target point"):
        check_importance_weights(lambda xs, xt: student_weights(xt, xs))
    with pytest.raises(CheckFailed, match="expected weights with mean"):
        check_importance_weights(lambda xs, xt: np.ones(len(xs)))


def student_step(model, optimizer, batch, lam, lr, mistake=None):
    """One DANN step as a student writes it (two forward passes), with an optional mistake."""
    x_lab, y_lab, x_unl = batch
    if mistake != "lr":
        for group in optimizer.param_groups:
            group["lr"] = lr
    f_lab, f_unl = model.features(x_lab), model.features(x_unl)
    label_loss = F.cross_entropy(model.label_head(f_unl if mistake == "target" else f_lab), y_lab)
    f = torch.cat([f_lab, f_unl])
    if mistake == "no grl":
        logit = model.domain_head(f).squeeze(-1)
    else:
        logit = model.domain_logit(f, -lam if mistake == "sign" else lam)
    domain = torch.cat([torch.zeros(len(x_lab)), torch.ones(len(x_unl))])
    domain_loss = F.binary_cross_entropy_with_logits(
        logit, 1 - domain if mistake == "swap" else domain
    )
    if mistake != "zero_grad":
        optimizer.zero_grad()
    (label_loss + domain_loss).backward()
    optimizer.step()
    return {"label_loss": label_loss.item(), "domain_loss": domain_loss.item()}


def test_dann_step_check_accepts_the_library_step_and_a_hand_written_one():
    assert check_dann_step(dann_step).startswith("OK: after 4 steps all 333 parameters")
    assert check_dann_step(student_step).startswith("OK")


@pytest.mark.parametrize(
    "mistake, match",
    [
        ("sign", "pass \\+lam"),
        ("swap", "domain labels are swapped"),
        ("target", "label loss is computed on the unlabelled batch"),
        ("zero_grad", "zero_grad"),
        ("lr", "learning rate lr is not applied"),
        ("no grl", "does not go through the gradient reversal"),
    ],
)
def test_dann_step_check_names_the_mistake(mistake, match):
    with pytest.raises(CheckFailed, match=match):
        check_dann_step(lambda m, o, b, lam, lr: student_step(m, o, b, lam, lr, mistake))


def test_dann_step_check_wants_the_losses_returned():
    with pytest.raises(CheckFailed, match="return a dict"):
        check_dann_step(lambda *args: student_step(*args) and None)
    with pytest.raises(CheckFailed, match="at step 0 you returned label_loss"):
        check_dann_step(lambda *args: {**student_step(*args), "label_loss": 0.0})


def student_loop(
    model,
    source,
    target,
    step_fn,
    steps,
    lambda_max=2.0,
    lr=0.1,
    batch_size=32,
    seed=0,
    mistake=None,
):
    """fit's loop as a student writes it, with an optional mistake."""
    optimizer = (torch.optim.Adam if mistake == "adam" else torch.optim.SGD)(
        model.parameters(), lr=lr, **({} if mistake == "adam" else {"momentum": 0.9})
    )
    src, tgt = IndexStream(len(source), 2 * seed), IndexStream(len(target), 2 * seed + 1)
    for step in range(steps):
        lam = lambda_max * (1.0 if mistake == "constant" else dann_lambda(step / steps))
        x_lab, y_lab = source[src.batch(step, batch_size)]
        x_unl, _ = target[tgt.batch(step, batch_size)]
        if mistake == "swap":
            x_lab, x_unl = x_unl, x_lab
        step_fn(model, optimizer, (x_lab, y_lab, x_unl), lam, lr)


def test_dann_loop_check():
    assert check_dann_loop(student_loop).startswith("OK: 25 steps")
    for mistake, match in [
        ("constant", "must ramp up from 0"),
        ("swap", "batches are swapped"),
        ("adam", "momentum=0.9"),
    ]:
        with pytest.raises(CheckFailed, match=match):
            check_dann_loop(
                lambda *a, mistake=mistake, **kw: student_loop(*a, **kw, mistake=mistake)
            )
    with pytest.raises(CheckFailed, match="called step_fn 24 times"):
        check_dann_loop(lambda m, s, t, fn, steps, **kw: student_loop(m, s, t, fn, steps - 1, **kw))
