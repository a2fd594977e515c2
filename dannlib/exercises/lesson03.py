"""Lesson 03's exercises: the DANN step and the loop around it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from dannlib.data.base import Domain
from dannlib.data.loaders import IndexStream
from dannlib.data.toy import moons_pair
from dannlib.exercises import CheckFailed, checker, close
from dannlib.models import build_model
from dannlib.schedules import dann_lambda
from dannlib.train import dann_step, fit

# The mistakes check_dann_step recognises: a step with that mistake, and what to tell the student.
_STEP_MISTAKES = {
    "minus_lambda": "the features help the domain classifier: the gradient reversal already "
    "supplies the minus sign, so pass +lam (not -lam) to model.domain_logit",
    "no_grl": "the domain loss does not go through the gradient reversal: use "
    "model.domain_logit(f, lam), not model.domain_head(f)",
    "detached": "no domain gradient reaches the features (detached features?): the domain "
    "logit must be computed from the features themselves, through model.domain_logit(f, lam)",
    "labels_swapped": "the domain labels are swapped: 0 for the labelled batch, 1 for the "
    "unlabelled one",
    "label_loss_on_target": "the label loss is computed on the unlabelled batch: use the "
    "labelled inputs with their labels, F.cross_entropy(model.label_head(f_lab), y_lab)",
    "lambda_twice": "lambda is applied twice: the gradient reversal already scales by lam, so "
    "the loss is label_loss + domain_loss (not + lam * domain_loss)",
    "no_zero_grad": "gradients pile up from step to step: call optimizer.zero_grad() before "
    "loss.backward()",
    "lr_not_set": "the learning rate lr is not applied: set group['lr'] = lr for every group "
    "in optimizer.param_groups before optimizer.step()",
    "summed_domain_losses": "your domain loss is the sum of one mean per batch, twice "
    "dann_step's: take one binary cross-entropy over both batches together "
    "(torch.cat the two batches' logits and their domain labels)",
    "target_only_domain_loss": "the domain loss sees only one batch: the domain classifier "
    "needs both, the labelled batch (domain 0) and the unlabelled one (domain 1)",
    "no_step": "no parameter changed: call optimizer.step() after loss.backward()",
}


def _reference_step(model, optimizer, batch, lam, lr, mistake: str | None = None) -> None:
    """dannlib.train.dann_step on a network without batch norm, optionally with one mistake."""
    x_lab, y_lab, x_unl = batch
    if mistake != "lr_not_set":
        for group in optimizer.param_groups:
            group["lr"] = lr
    f = model.features(torch.cat([x_lab, x_unl]))
    f_lab, f_unl = f[: len(x_lab)], f[len(x_lab) :]
    if mistake == "label_loss_on_target":
        label_loss = F.cross_entropy(model.label_head(f_unl), y_lab)
    else:
        label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain = torch.cat([torch.zeros(len(x_lab)), torch.ones(len(x_unl))])
    if mistake == "labels_swapped":
        domain = 1 - domain
    signed_lam = -lam if mistake == "minus_lambda" else lam
    if mistake == "no_grl":
        logit = model.domain_head(f).squeeze(-1)
    elif mistake == "detached":
        logit = model.domain_logit(f.detach(), lam)
    else:
        logit = model.domain_logit(f, signed_lam)
    if mistake == "summed_domain_losses":
        n = len(x_lab)
        domain_loss = F.binary_cross_entropy_with_logits(
            logit[:n], domain[:n]
        ) + F.binary_cross_entropy_with_logits(logit[n:], domain[n:])
    elif mistake == "target_only_domain_loss":
        domain_loss = F.binary_cross_entropy_with_logits(logit[len(x_lab) :], domain[len(x_lab) :])
    else:
        domain_loss = F.binary_cross_entropy_with_logits(logit, domain)
    if mistake == "lambda_twice":
        domain_loss = lam * domain_loss
    if mistake != "no_zero_grad":
        optimizer.zero_grad()
    (label_loss + domain_loss).backward()
    if mistake != "no_step":
        optimizer.step()


def _toy_batches(steps: int, n: int = 16) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """`steps` batches (labelled inputs, labels, unlabelled inputs) of two 2-D blobs."""
    gen = torch.Generator().manual_seed(0)
    return [
        (
            torch.randn(n, 2, generator=gen),
            torch.randint(0, 2, (n,), generator=gen),
            torch.randn(n, 2, generator=gen) + torch.tensor([1.5, -0.5]),
        )
        for _ in range(steps)
    ]


def _train_toy(step_fn, batches, lams, lrs) -> tuple[nn.Module, list]:
    """A fresh toy DANN (fixed seed) after `step_fn` on each batch; and what each call returned."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model("toy")
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)  # lr: set by the step
    returned = [step_fn(model, optimizer, b, lam, lr) for b, lam, lr in zip(batches, lams, lrs)]
    return model, returned


def _same_parameters(a: nn.Module, b: nn.Module, tol: float = 1e-5) -> list[str]:
    """Names of the parameters in which two models of one architecture differ."""
    pb = dict(b.named_parameters())
    return [n for n, p in a.named_parameters() if not close(p.detach(), pb[n].detach(), tol)]


@checker(
    "my_dann_step",
    "one DANN update: label loss + domain loss behind the gradient reversal, one optimiser step",
)
def check_dann_step(fn: Callable, steps: int = 4) -> str:
    """Run `fn(model, optimizer, batch, lam, lr)` and dannlib.train.dann_step for a few steps
    from the same initialisation on the same batches, and compare them parameter by parameter."""
    batches = _toy_batches(steps)
    lams, lrs = [0.3, 0.7, 1.6, 0.45][:steps], [0.1, 0.05, 0.2, 0.15][:steps]
    want, want_stats = _train_toy(dann_step, batches, lams, lrs)
    got, got_stats = _train_toy(fn, batches, lams, lrs)
    differ = _same_parameters(got, want)
    if not differ:
        for k, (stats, ref) in enumerate(zip(got_stats, want_stats)):
            if not isinstance(stats, Mapping) or not {"label_loss", "domain_loss"} <= set(stats):
                raise CheckFailed(
                    "the parameters match, but return a dict with at least 'label_loss' and "
                    "'domain_loss' (floats, e.g. label_loss.item())"
                )
            for key in ("label_loss", "domain_loss"):
                if not close(float(stats[key]), ref[key], 1e-4):
                    raise CheckFailed(
                        f"the parameters match, but at step {k} you returned {key} = "
                        f"{float(stats[key]):.4f} where dann_step's is {ref[key]:.4f}: return "
                        "the losses of this step, before the update"
                    )
        n = sum(p.numel() for p in want.parameters())
        return (
            f"OK: after {steps} steps all {n} parameters (features, label head, domain head) "
            "match dannlib.train.dann_step"
        )
    for mistake, message in _STEP_MISTAKES.items():
        step = lambda m, o, b, lam, lr, mistake=mistake: _reference_step(m, o, b, lam, lr, mistake)
        if not _same_parameters(got, _train_toy(step, batches, lams, lrs)[0]):
            raise CheckFailed(message)
    groups = sorted({name.split(".")[0].replace("_", " ") for name in differ})
    hint = {
        "label head": "the label loss (cross-entropy of model.label_head on the labelled batch)",
        "domain head": "the domain loss (binary cross-entropy with logits, labels 0 then 1)",
        "features": "what reaches the features: the label loss plus the domain loss behind the "
        "gradient reversal with strength lam",
    }
    raise CheckFailed(
        f"after the steps, these parameters differ from dann_step's: {', '.join(differ)}. "
        "Look at " + "; ".join(hint[g] for g in groups if g in hint)
    )


@checker("my_train", "the loop: lambda and lr per step, a source and a target batch, step_fn")
def check_dann_loop(fn: Callable, steps: int = 25) -> str:
    """Run `fn(model, source, target, step_fn, steps, lambda_max, lr, batch_size, seed)` with a
    step_fn that records its calls, and compare the calls and the trained model with `fit`'s."""
    d = moons_pair(120, angle=35, seed=5)
    source, target = d["source"], Domain(*d["target"][:90], d["target"].info)  # n_s != n_t
    settings = dict(steps=steps, lambda_max=2.0, lr=0.1, batch_size=16, seed=3)
    calls = []

    def recording_step(model, optimizer, batch, lam, lr):
        calls.append((batch, float(lam), float(lr)))
        return dann_step(model, optimizer, batch, lam, lr)

    def fresh_model():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return build_model("toy")

    got = fresh_model()
    fn(got, source, target, recording_step, **settings)
    if len(calls) != steps:
        raise CheckFailed(f"asked for {steps} steps, your loop called step_fn {len(calls)} times")
    src, tgt = IndexStream(len(source), 2 * 3), IndexStream(len(target), 2 * 3 + 1)
    for k, ((x_lab, y_lab, x_unl), lam, lr) in enumerate(calls):
        want_lam = 2.0 * dann_lambda(k / steps)
        if not close(lam, want_lam):
            ramps = {
                "lambda must ramp up from 0 with the paper's schedule: "
                "lam = lambda_max * dann_lambda(step / steps)": 2.0,
                "multiply the schedule by lambda_max: lam = lambda_max * dann_lambda(p)": (
                    dann_lambda(k / steps)
                ),
                "p is the progress before the step: p = step / steps (0 at the first step)": (
                    2.0 * dann_lambda((k + 1) / steps)
                ),
                "lambda has the wrong sign: the gradient reversal supplies the minus": -want_lam,
            }
            message = next((m for m, v in ramps.items() if close(lam, v)), None)
            raise CheckFailed(
                message
                or f"at step {k} lam = {lam:.4f}, expected {want_lam:.4f} "
                "(lambda_max * dann_lambda(step / steps))"
            )
        if not close(lr, 0.1):
            raise CheckFailed(f"at step {k} lr = {lr:.4g}; pass the constant lr (0.1 here)")
        want_lab, want_unl = source[src.batch(k, 16)], target[tgt.batch(k, 16)]
        if close(x_lab, want_unl[0]) or close(x_unl, want_lab[0]):
            raise CheckFailed(
                "the batches are swapped: the labelled batch comes from the source, the "
                "unlabelled one from the target"
            )
        if not (close(x_lab, want_lab[0]) and close(x_unl, want_unl[0])):
            raise CheckFailed(
                f"step {k} did not get batch number {k} of each domain: draw "
                "source[src.batch(step, batch_size)] and target[tgt.batch(step, batch_size)]"
            )
        if not torch.equal(y_lab, want_lab[1]):
            raise CheckFailed("the labels are not the labelled batch's: pass y from source[...]")
    want = fresh_model()
    fit(
        want,
        source,
        target,
        mode="dann",
        lr_schedule="constant",
        momentum=0.9,
        progress=False,
        **settings,
    )
    differ = _same_parameters(got, want)
    if differ:
        raise CheckFailed(
            f"the calls were right but the trained parameters differ ({', '.join(differ)}): "
            "build the optimiser as fit does, SGD(model.parameters(), lr=lr, momentum=0.9), once "
            "before the loop, and pass it to step_fn"
        )
    return f"OK: {steps} steps with fit's batches, lambda and lr; the model matches fit's"
