import pytest
import torch
import torch.nn.functional as F

from dannlib.data.loaders import IndexStream
from dannlib.exercises import CheckFailed
from dannlib.exercises.lesson03 import (
    check_dann_loop,
    check_dann_step,
)
from dannlib.schedules import dann_lambda
from dannlib.train import dann_step


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
