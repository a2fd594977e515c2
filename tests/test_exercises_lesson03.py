"""Lesson 03's checkers against answers a student might write: right ones pass, and each wrong
one gets the message that names its mistake. The wrong answers are written here from the
lesson's instructions, independently of the checker's own list of mistakes."""

import pytest
import torch
import torch.nn.functional as F

from dannlib.data.loaders import IndexStream
from dannlib.data.toy import moons_pair
from dannlib.exercises import CheckFailed
from dannlib.exercises.lesson03 import (
    _reference_step,
    check_dann_loop,
    check_dann_step,
    check_training,
    separate_passes_drift,
    train_loop,
)
from dannlib.schedules import annealed_lr, dann_lambda
from dannlib.train import dann_step


def student_step(model, optimizer, batch, lam, lr, mistake=None):
    """One DANN step as the lesson asks for it (one forward pass), with an optional mistake."""
    x_lab, y_lab, x_unl = batch
    n = len(x_lab)
    if mistake != "lr not set":
        for group in optimizer.param_groups:
            group["lr"] = lr
    if mistake in ("two passes", "two optimiser steps"):
        f = torch.cat([model.features(x_lab), model.features(x_unl)])
    else:
        f = model.features(torch.cat([x_lab, x_unl]))
    if mistake == "head on the inputs":
        label_loss = F.cross_entropy(model.label_head(x_lab), y_lab)
    else:
        label_loss = F.cross_entropy(
            model.label_head(f[n:] if mistake == "label loss on target" else f[:n]), y_lab
        )
    domain = torch.cat([torch.zeros(n), torch.ones(len(x_unl))])
    if mistake == "swapped labels":
        domain = torch.cat([torch.ones(n), torch.zeros(len(x_unl))])
    if mistake == "integer labels":
        domain = torch.cat(
            [torch.zeros(n, dtype=torch.long), torch.ones(len(x_unl), dtype=torch.long)]
        )
    if mistake in ("no grl", "paper's formula"):
        logit = model.domain_head(f).squeeze(1)
    elif mistake == "unsqueezed head":
        logit = model.domain_head(model.grl(f, lam))
    elif mistake == "minus lambda":
        logit = model.domain_logit(f, -lam)
    elif mistake == "lambda not passed":
        logit = model.domain_logit(f)
    elif mistake == "detached":
        logit = model.domain_logit(f.detach(), lam)
    else:
        logit = model.domain_logit(f, lam)
    if mistake == "softmax over one logit":  # "to get a probability", as in lesson 02
        prob = F.softmax(logit.view(-1, 1), dim=1).view(-1)
        domain_loss = F.binary_cross_entropy(prob, domain)
    elif mistake == "softmax over the batch":
        domain_loss = F.binary_cross_entropy(logit.softmax(dim=-1), domain)
    elif mistake == "one loss per batch":
        domain_loss = F.binary_cross_entropy_with_logits(
            logit[:n], torch.zeros(n)
        ) + F.binary_cross_entropy_with_logits(logit[n:], torch.ones(len(x_unl)))
    elif mistake == "target batch only":
        domain_loss = F.binary_cross_entropy_with_logits(logit[n:], torch.ones(len(x_unl)))
    elif mistake == "source batch only":
        domain_loss = F.binary_cross_entropy_with_logits(logit[:n], torch.zeros(n))
    else:
        domain_loss = F.binary_cross_entropy_with_logits(logit, domain)
    if mistake == "lambda twice":
        loss = label_loss + lam * domain_loss
    elif mistake == "paper's formula":  # E = L_y - lambda L_d, without the reversal layer
        loss = label_loss - lam * domain_loss
    elif mistake == "subtracted behind the grl":
        loss = label_loss - domain_loss
    else:
        loss = label_loss + domain_loss
    if mistake == "two optimiser steps":
        optimizer.zero_grad()
        label_loss.backward(retain_graph=True)
        optimizer.step()
        optimizer.zero_grad()
        f2 = model.features(torch.cat([x_lab, x_unl]))
        domain_loss = F.binary_cross_entropy_with_logits(model.domain_logit(f2, lam), domain)
        domain_loss.backward()
        optimizer.step()
    elif mistake == "backward after the step":
        optimizer.zero_grad()
        label_loss.backward(retain_graph=True)
        optimizer.step()
        domain_loss.backward()
        optimizer.step()
    elif mistake == "one backward per loss":
        optimizer.zero_grad()
        label_loss.backward()
        domain_loss.backward()
        optimizer.step()
    elif mistake == "loss under no_grad":
        optimizer.zero_grad()
        with torch.no_grad():
            loss = label_loss.detach() + domain_loss.detach()
        loss.backward()
        optimizer.step()
    elif mistake == "zero_grad between backward and step":
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
    else:
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        loss.backward()
        if mistake != "no step":
            optimizer.step()
    return {"label_loss": label_loss.item(), "domain_loss": domain_loss.item()}


def test_the_step_check_accepts_the_library_step_and_a_hand_written_one():
    assert check_dann_step(dann_step).startswith("OK: after 4 steps all 333 parameters")
    assert check_dann_step(student_step).ok


def with_mistake(fn, mistake):
    return lambda *args, **kwargs: fn(*args, **kwargs, mistake=mistake)


@pytest.mark.parametrize(
    "mistake, message",
    [
        ("two passes", "runs model.features 2 times .* ONE forward pass over both batches"),
        ("minus lambda", "pass \\+lam \\(not -lam\\)"),
        ("no grl", "does not go through the gradient reversal"),
        ("lambda not passed", "the reversal strength is not lam"),
        ("detached", "no domain gradient reaches the features \\(detached"),
        ("softmax over one logit", "a softmax over the single domain logit is always 1"),
        ("softmax over the batch", "softmax over the batch"),
        ("swapped labels", "the domain labels are swapped"),
        ("label loss on target", "label loss is computed on the unlabelled batch"),
        ("lambda twice", "lambda is applied twice"),
        ("paper's formula", "the domain loss is subtracted"),
        ("subtracted behind the grl", "the domain loss is subtracted"),
        ("no zero_grad", "gradients pile up .*zero_grad\\(\\) before"),
        ("zero_grad between backward and step", "zero_grad\\(\\) ran between loss.backward"),
        ("lr not set", "the learning rate lr is not applied"),
        ("one loss per batch", "the sum of one mean per batch"),
        ("target batch only", "the domain loss sees only one batch"),
        ("source batch only", "the domain loss sees only one batch"),
        ("no step", "no parameter changed: call optimizer.step\\(\\)"),
        ("two optimiser steps", "optimizer.step\\(\\) ran 2 times in one call"),
        ("backward after the step", "optimizer.step\\(\\) ran 2 times in one call"),
        ("integer labels", "raised RuntimeError .*\nHint: .*float domain labels"),
        ("unsqueezed head", "raised ValueError .*\nHint: .*differ in shape"),
        ("one backward per loss", "raised RuntimeError .*\nHint: one backward pass"),
        ("loss under no_grad", "raised RuntimeError .*\nHint: the loss has no graph"),
        ("head on the inputs", "raised RuntimeError .*\nHint: .*take the features"),
    ],
)
def test_the_step_check_names_the_mistake(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        check_dann_step(with_mistake(student_step, mistake))


def test_a_raw_error_becomes_a_hint_that_shows_the_students_line():
    with pytest.raises(CheckFailed) as info:
        check_dann_step(with_mistake(student_step, "integer labels"))
    assert "at `domain_loss = F.binary_cross_entropy_with_logits(logit, domain)`" in str(info.value)
    assert "Traceback" not in str(info.value)


def test_the_step_check_wants_the_losses_returned():
    with pytest.raises(CheckFailed, match="return a dict"):
        check_dann_step(lambda *args: student_step(*args) and None)
    with pytest.raises(CheckFailed, match="at step 0 you returned label_loss"):
        check_dann_step(lambda *args: {**student_step(*args), "label_loss": 0.0})


def test_an_unsolved_step_is_not_done_yet():
    def stub(model, optimizer, batch, lam, lr):
        raise NotImplementedError("Student exercise: write one DANN training step")

    verdict = check_dann_step(stub)
    assert not verdict.ok and verdict.startswith("not done yet: write `my_dann_step`")
    assert verdict.use(stub, dann_step) is dann_step


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
    """fit's loop as a student writes it from the lesson, with an optional mistake."""

    def new_optimizer():
        if mistake == "adam":
            return torch.optim.Adam(model.parameters(), lr=lr)
        return torch.optim.SGD(
            model.parameters(), lr=lr, momentum=0 if mistake == "no momentum" else 0.9
        )

    optimizer = new_optimizer()
    src = IndexStream(len(source), 2 * seed)
    tgt = IndexStream(len(target), 2 * seed if mistake == "same seeds" else 2 * seed + 1)
    if mistake == "steps - 1":
        steps -= 1
    for step in range(steps):
        p = (step + 1) / steps if mistake == "p after the step" else step / steps
        lam = {
            "constant lambda": lambda_max,
            "no lambda_max": dann_lambda(p),
            "minus lambda": -lambda_max * dann_lambda(p),
        }.get(mistake, lambda_max * dann_lambda(p))
        step_lr = annealed_lr(p, lr) if mistake == "annealed lr" else lr
        x_lab, y_lab = source[src.batch(step, batch_size)]
        if mistake == "target from the source stream":
            x_unl, y_unl = target[src.batch(step, batch_size)]
        elif mistake == "unlabelled batch from the source":
            x_unl, y_unl = source[tgt.batch(step, batch_size)]
        else:
            x_unl, y_unl = target[tgt.batch(step, batch_size)]
        if mistake == "target labels":
            y_lab = y_unl
        if mistake == "swapped batches":
            x_lab, x_unl = x_unl, x_lab
        if mistake == "optimiser in the loop":
            optimizer = new_optimizer()
        step_fn(model, optimizer, (x_lab, y_lab, x_unl), lam, step_lr)
        if mistake == "extra optimiser step":
            optimizer.step()


def test_the_loop_check_accepts_the_library_loop_and_a_hand_written_one():
    assert check_dann_loop(student_loop).startswith("OK: 25 steps")
    assert check_dann_loop(train_loop).ok


@pytest.mark.parametrize(
    "mistake, message",
    [
        ("constant lambda", "must ramp up from 0"),
        ("no lambda_max", "multiply the schedule by lambda_max"),
        ("p after the step", "p is the progress before the step"),
        ("minus lambda", "lambda has the wrong sign"),
        ("annealed lr", "pass the constant lr"),
        ("swapped batches", "the batches are swapped"),
        ("target from the source stream", "raised IndexError at `x_unl, y_unl = target\\[src"),
        ("target from the source stream", "Hint: .*own streams"),
        ("unlabelled batch from the source", "the unlabelled batch comes from the source"),
        ("same seeds", "the target stream has the source's seed"),
        ("target labels", "you passed the target batch's labels"),
        ("optimiser in the loop", "your loop built 25 optimisers: build ONE before the loop"),
        ("adam", "the optimiser is Adam .* momentum=0.9"),
        ("no momentum", "momentum=0.9"),
        ("extra optimiser step", "an extra optimizer.step\\(\\)"),
        ("steps - 1", "called step_fn 24 times"),
    ],
)
def test_the_loop_check_names_the_mistake(mistake, message):
    with pytest.raises(CheckFailed, match=message):
        check_dann_loop(with_mistake(student_loop, mistake))


@pytest.fixture(scope="module")
def moons():
    return moons_pair(300, angle=35, seed=0)


def test_the_full_run_check(moons):
    source, target = moons["source"], moons["target"]
    verdict = check_training(train_loop, dann_step, source, target, steps=300)
    assert not verdict.ok and verdict.startswith("not done yet")
    verdict = check_training(student_loop, student_step, source, target, steps=300)
    assert verdict.ok and "every parameter is identical" in verdict
    verdict = check_training(train_loop, student_step, source, target, steps=300)
    assert verdict.ok and "your step (in dannlib's loop)" in verdict


def test_the_full_run_check_names_separate_passes(moons):
    """Two forward passes compute the same function as one, so a short check cannot tell them
    apart by the parameters; over a run they drift apart (by how much depends on the CPU and
    the thread count, which is why the check counts the passes)."""
    source, target = moons["source"], moons["target"]
    with pytest.raises(
        CheckFailed, match="your step and your loop: your step runs model.features 2"
    ):
        check_training(
            student_loop, with_mistake(student_step, "two passes"), source, target, steps=50
        )


def test_the_full_run_check_reports_a_drift(moons):
    """A step that goes wrong only late in a run (standing in for rounding differences that
    grow over training) passes the short check but not the full run."""
    calls = []

    def drifting_step(model, optimizer, batch, lam, lr):
        calls.append(1)
        stats = dann_step(model, optimizer, batch, lam, lr)
        if len(calls) == 300:
            with torch.no_grad():
                model.label_head.bias.add_(1e-3)
        return stats

    assert check_dann_step(drifting_step).ok
    with pytest.raises(CheckFailed, match="the networks differ: the largest parameter difference"):
        check_training(student_loop, drifting_step, moons["source"], moons["target"], steps=300)


def test_separate_passes_drift_compares_one_and_two_passes(moons):
    drift = separate_passes_drift(moons["source"], moons["target"], steps=20)
    assert 0.0 <= drift < 1e-3  # 20 steps: rounding only, too few steps to grow
    two_passes = lambda m, o, b, lam, lr: _reference_step(m, o, b, lam, lr, "two_passes")
    assert "runs model.features 2 times" in str(
        pytest.raises(CheckFailed, check_dann_step, two_passes).value
    )
