"""Lesson 03's exercises: the DANN step, the loop around it, and both over a full run."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from dannlib.data.base import Domain
from dannlib.data.loaders import IndexStream
from dannlib.data.toy import moons_pair
from dannlib.exercises import CheckFailed, Verdict, checker, close, student_error
from dannlib.models import build_model
from dannlib.recipes import get_recipe
from dannlib.schedules import dann_lambda
from dannlib.train import dann_step, fit

_SUBTRACTED = (
    "the domain loss is subtracted: then the domain classifier itself is trained to be wrong. "
    "Add it, label_loss + domain_loss, and let the gradient reversal flip the sign for the "
    "features only (model.domain_logit(f, lam))"
)
_ONE_BATCH = (
    "the domain loss sees only one batch: the domain classifier needs both, the labelled batch "
    "(domain 0) and the unlabelled one (domain 1)"
)
_SOFTMAX = (
    "no gradient comes from the domain loss (the domain head never changes): a softmax over "
    "the single domain logit is always 1, so the loss is constant (lesson 02). Pass the raw "
    "logit to F.binary_cross_entropy_with_logits(model.domain_logit(f, lam), domain)"
)

# The mistakes check_dann_step recognises: a step with that mistake, and what to tell the student.
_STEP_MISTAKES = {
    "minus_lambda": "the features help the domain classifier: the gradient reversal already "
    "supplies the minus sign, so pass +lam (not -lam) to model.domain_logit",
    "no_grl": "the domain loss does not go through the gradient reversal: use "
    "model.domain_logit(f, lam), not model.domain_head(f)",
    "lam_not_passed": "the reversal strength is not lam: model.domain_logit(f) without lam "
    "uses the layer's default strength, 1; pass it: model.domain_logit(f, lam)",
    "detached": "no domain gradient reaches the features (detached features?): the domain "
    "logit must be computed from the features themselves, through model.domain_logit(f, lam)",
    "softmax_one_logit": _SOFTMAX,
    "softmax_over_batch": "the domain logits go through a softmax over the batch, which makes "
    "the points compete for one unit of probability: pass the raw logits to "
    "F.binary_cross_entropy_with_logits (it applies the sigmoid itself)",
    "labels_swapped": "the domain labels are swapped: 0 for the labelled batch, 1 for the "
    "unlabelled one",
    "label_loss_on_target": "the label loss is computed on the unlabelled batch: use the "
    "labelled inputs with their labels, F.cross_entropy(model.label_head(f_lab), y_lab)",
    "lambda_twice": "lambda is applied twice: the gradient reversal already scales by lam, so "
    "the loss is label_loss + domain_loss (not + lam * domain_loss)",
    "subtracted_no_grl": _SUBTRACTED,
    "subtracted_with_grl": _SUBTRACTED,
    "no_zero_grad": "gradients pile up from step to step: call optimizer.zero_grad() before "
    "loss.backward()",
    "lr_not_set": "the learning rate lr is not applied: set group['lr'] = lr for every group "
    "in optimizer.param_groups before optimizer.step()",
    "summed_domain_losses": "your domain loss is the sum of one mean per batch, twice "
    "dann_step's: take one binary cross-entropy over both batches together "
    "(torch.cat the two batches' logits and their domain labels)",
    "target_only_domain_loss": _ONE_BATCH,
    "source_only_domain_loss": _ONE_BATCH,
}
_NO_STEP = "no parameter changed: call optimizer.step() after loss.backward()"
_STEP_WITHOUT_GRADIENTS = (
    "optimizer.step() found no gradients, so nothing changed: optimizer.zero_grad() ran between "
    "loss.backward() and optimizer.step() and wiped them. The order is zero_grad(), backward(), "
    "step()"
)
_SEPARATE_PASSES = (
    "your step runs model.features {n} times (once per batch?). Run ONE forward pass over both "
    "batches, f = model.features(torch.cat([x_lab, x_unl])), and split f, as dann_step does "
    "for networks without batch norm. Separate passes compute the same function but round "
    "differently, and over a full training run those last-digit differences grow until the "
    "network is no longer fit's"
)

# Hints for errors a student's code is likely to raise inside a check: (part of the message,
# what to change).
_ERROR_HINTS = [
    (
        "must be the same as input size",
        "the domain logits and the domain labels differ in shape: model.domain_logit(f, lam) "
        "gives one logit per point (shape N); build the labels with the same length, "
        "torch.cat([torch.zeros(len(x_lab)), torch.ones(len(x_unl))])",
    ),
    (
        "can't be cast",
        "binary cross-entropy needs float domain labels: torch.zeros(n) and torch.ones(n), "
        "not integer tensors",
    ),
    (
        "backward through the graph a second time",
        "one backward pass of the summed loss, (label_loss + domain_loss).backward(), not one "
        "per loss",
    ),
    (
        "does not require grad",
        "the loss has no graph to differentiate: compute it from the model's outputs, not under "
        "torch.no_grad() and not from .item() values",
    ),
    (
        "cannot be multiplied",
        "model.label_head and model.domain_logit take the features f = model.features(x), "
        "not the inputs",
    ),
    (
        "out of bounds",
        "an index ran past the end of a domain: the source and the target have their own "
        "lengths and their own streams; draw the unlabelled batch as "
        "target[tgt.batch(step, batch_size)] with tgt = IndexStream(len(target), 2 * seed + 1)",
    ),
]


def _reference_step(model, optimizer, batch, lam, lr, mistake: str | None = None) -> None:
    """dannlib.train.dann_step on a network without batch norm, optionally with one mistake
    (one of _STEP_MISTAKES, or "two_passes": the features of each batch in its own pass)."""
    x_lab, y_lab, x_unl = batch
    n = len(x_lab)
    if mistake != "lr_not_set":
        for group in optimizer.param_groups:
            group["lr"] = lr
    if mistake == "two_passes":
        f = torch.cat([model.features(x_lab), model.features(x_unl)])
    else:
        f = model.features(torch.cat([x_lab, x_unl]))
    f_lab, f_unl = f[:n], f[n:]
    if mistake == "label_loss_on_target":
        label_loss = F.cross_entropy(model.label_head(f_unl), y_lab)
    else:
        label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain = torch.cat([torch.zeros(n), torch.ones(len(x_unl))])
    if mistake == "labels_swapped":
        domain = 1 - domain
    if mistake in ("no_grl", "subtracted_no_grl"):
        logit = model.domain_head(f).squeeze(-1)
    elif mistake == "detached":
        logit = model.domain_logit(f.detach(), lam)
    elif mistake == "lam_not_passed":
        logit = model.domain_logit(f)
    else:
        logit = model.domain_logit(f, -lam if mistake == "minus_lambda" else lam)
    if mistake == "softmax_one_logit":  # always 1: a constant loss, no gradient
        prob = torch.softmax(logit.unsqueeze(1), dim=1).squeeze(1)
        domain_loss = F.binary_cross_entropy(prob, domain)
    elif mistake == "softmax_over_batch":
        domain_loss = F.binary_cross_entropy(torch.softmax(logit, dim=0), domain)
    elif mistake == "summed_domain_losses":
        domain_loss = F.binary_cross_entropy_with_logits(
            logit[:n], domain[:n]
        ) + F.binary_cross_entropy_with_logits(logit[n:], domain[n:])
    elif mistake == "target_only_domain_loss":
        domain_loss = F.binary_cross_entropy_with_logits(logit[n:], domain[n:])
    elif mistake == "source_only_domain_loss":
        domain_loss = F.binary_cross_entropy_with_logits(logit[:n], domain[:n])
    else:
        domain_loss = F.binary_cross_entropy_with_logits(logit, domain)
    if mistake == "lambda_twice":
        domain_loss = lam * domain_loss
    if mistake == "subtracted_no_grl":
        loss = label_loss - lam * domain_loss
    elif mistake == "subtracted_with_grl":
        loss = label_loss - domain_loss
    else:
        loss = label_loss + domain_loss
    if mistake != "no_zero_grad":
        optimizer.zero_grad()
    loss.backward()
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


def _fresh_toy(seed: int = 0, **kwargs) -> nn.Module:
    """A toy DANN initialised from `seed`, leaving the global random state as it was."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build_model("toy", **kwargs)


class _Watch:
    """Counts, per call of a step function, the forward passes through `model.features` and
    the optimiser steps, and whether gradients were there at each optimiser step."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        self.calls: list[dict] = []
        model.features.register_forward_hook(lambda *_: self._count("passes"))
        self.params = [p for g in optimizer.param_groups for p in g["params"]]
        step = optimizer.step

        def counted_step(*args, **kwargs):
            self._count("steps")
            if all(p.grad is None or not p.grad.any() for p in self.params):
                self.calls[-1]["steps_without_gradients"] += 1
            return step(*args, **kwargs)

        optimizer.step = counted_step

    def new_call(self) -> None:
        self.calls.append({"passes": 0, "steps": 0, "steps_without_gradients": 0})

    def _count(self, key: str) -> None:
        if self.calls:
            self.calls[-1][key] += 1


def _train_toy(step_fn, batches, lams, lrs, watch: bool = False):
    """A fresh toy DANN (fixed seed) after `step_fn` on each batch; what each call returned;
    and, with `watch`, the _Watch that counted the calls."""
    model = _fresh_toy()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)  # lr: set by the step
    watcher = _Watch(model, optimizer) if watch else None
    returned = []
    for b, lam, lr in zip(batches, lams, lrs):
        if watcher:
            watcher.new_call()
        returned.append(step_fn(model, optimizer, b, lam, lr))
    return model, returned, watcher


def _same_parameters(a: nn.Module, b: nn.Module, tol: float = 1e-5) -> list[str]:
    """Names of the parameters in which two models of one architecture differ."""
    pb = dict(b.named_parameters())
    return [n for n, p in a.named_parameters() if not close(p.detach(), pb[n].detach(), tol)]


def _largest_difference(a: nn.Module, b: nn.Module) -> float:
    """The largest absolute difference between corresponding parameters of two models."""
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


@checker(
    "my_dann_step",
    "one DANN update: label loss + domain loss behind the gradient reversal, one optimiser step",
)
def check_dann_step(fn: Callable, steps: int = 4) -> str:
    """Run `fn(model, optimizer, batch, lam, lr)` and dannlib.train.dann_step for a few steps
    from the same initialisation on the same batches, and compare them parameter by parameter;
    name the likely mistake if they differ."""
    batches = _toy_batches(steps)
    lams, lrs = [0.3, 0.7, 1.6, 0.45][:steps], [0.1, 0.05, 0.2, 0.15][:steps]
    want, want_stats, _ = _train_toy(dann_step, batches, lams, lrs)
    try:
        got, got_stats, watch = _train_toy(fn, batches, lams, lrs, watch=True)
    except (NotImplementedError, CheckFailed):
        raise
    except Exception as err:
        raise student_error(err, "your step", _ERROR_HINTS) from None
    optimiser_steps = [c["steps"] for c in watch.calls]
    if all(n == 0 for n in optimiser_steps):
        raise CheckFailed(_NO_STEP)
    if any(c["steps_without_gradients"] for c in watch.calls):
        raise CheckFailed(_STEP_WITHOUT_GRADIENTS)
    if any(n > 1 for n in optimiser_steps):
        raise CheckFailed(
            f"optimizer.step() ran {max(optimiser_steps)} times in one call of your step: one "
            "step is one backward pass of label_loss + domain_loss, then one optimizer.step()"
        )
    differ = _same_parameters(got, want)
    if differ:
        for mistake, message in _STEP_MISTAKES.items():
            step = lambda m, o, b, lam, lr, mistake=mistake: _reference_step(
                m, o, b, lam, lr, mistake
            )
            if not _same_parameters(got, _train_toy(step, batches, lams, lrs)[0]):
                raise CheckFailed(message)
        groups = sorted({name.split(".")[0].replace("_", " ") for name in differ})
        hint = {
            "label head": "the label loss (cross-entropy of model.label_head on the labelled "
            "batch)",
            "domain head": "the domain loss (binary cross-entropy with logits, labels 0 then 1)",
            "features": "what reaches the features: the label loss plus the domain loss behind "
            "the gradient reversal with strength lam",
        }
        raise CheckFailed(
            f"after the steps, these parameters differ from dann_step's: {', '.join(differ)}. "
            "Look at " + "; ".join(hint[g] for g in groups if g in hint)
        )
    passes = max(c["passes"] for c in watch.calls)
    if passes != 1:
        raise CheckFailed(_SEPARATE_PASSES.format(n=passes))
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
        "match dannlib.train.dann_step, with one forward pass a step"
    )


def train_loop(
    model: nn.Module,
    source: Domain,
    target: Domain,
    step_fn: Callable,
    steps: int,
    lambda_max: float = 2.0,
    lr: float = 0.1,
    batch_size: int = 32,
    seed: int = 0,
) -> None:
    """dannlib's version of lesson 03's `my_train`: `fit`'s loop in 'dann' mode at a constant
    learning rate (its optimiser, batches and lambda), calling `step_fn` at every step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = IndexStream(len(source), 2 * seed), IndexStream(len(target), 2 * seed + 1)
    for step in range(steps):
        x_lab, y_lab = source[src.batch(step, batch_size)]
        x_unl, _ = target[tgt.batch(step, batch_size)]
        step_fn(model, optimizer, (x_lab, y_lab, x_unl), lambda_max * dann_lambda(step / steps), lr)


def _batch_origin(x: torch.Tensor, candidates: dict[str, torch.Tensor]) -> str | None:
    """The name of the candidate batch equal to `x`, if any."""
    return next((name for name, c in candidates.items() if close(x, c)), None)


@checker("my_train", "the loop: lambda and lr per step, a source and a target batch, step_fn")
def check_dann_loop(fn: Callable, steps: int = 25) -> str:
    """Run `fn(model, source, target, step_fn, steps, lambda_max, lr, batch_size, seed)` with a
    step_fn that records its calls, and compare the calls and the trained model with `fit`'s."""
    d = moons_pair(120, angle=35, seed=5)
    source, target = d["source"], Domain(*d["target"][:90], d["target"].info)  # n_s != n_t
    seed, size = 3, 16
    settings = dict(steps=steps, lambda_max=2.0, lr=0.1, batch_size=size, seed=seed)
    calls, optimizers = [], []

    def recording_step(model, optimizer, batch, lam, lr):
        if not any(o is optimizer for o in optimizers):
            optimizers.append(optimizer)
        calls.append((batch, float(lam), float(lr)))
        return dann_step(model, optimizer, batch, lam, lr)

    got = _fresh_toy()
    try:
        fn(got, source, target, recording_step, **settings)
    except (NotImplementedError, CheckFailed):
        raise
    except Exception as err:
        raise student_error(err, "your loop", _ERROR_HINTS) from None
    if len(calls) != steps:
        raise CheckFailed(f"asked for {steps} steps, your loop called step_fn {len(calls)} times")
    src, tgt = IndexStream(len(source), 2 * seed), IndexStream(len(target), 2 * seed + 1)
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
        want_lab, want_unl = source[src.batch(k, size)], target[tgt.batch(k, size)]
        if close(x_lab, want_unl[0]) or close(x_unl, want_lab[0]):
            raise CheckFailed(
                "the batches are swapped: the labelled batch comes from the source, the "
                "unlabelled one from the target"
            )
        if not close(x_unl, want_unl[0]):
            # what a student may have drawn instead, and what to say about it
            k_src, k_tgt = src.batch(k, size), tgt.batch(k, size)
            wrong = {
                "the unlabelled batch comes from the source: draw it from the target, "
                "target[tgt.batch(step, batch_size)]": source[k_tgt][0],
                "the target batch uses the source stream's indices: draw it with the target's "
                "own stream, target[tgt.batch(step, batch_size)]": (
                    target[k_src][0] if int(k_src.max()) < len(target) else None
                ),
                "the target stream has the source's seed: tgt = IndexStream(len(target), "
                "2 * seed + 1)": target[IndexStream(len(target), 2 * seed).batch(k, size)][0],
            }
            origin = _batch_origin(x_unl, {m: x for m, x in wrong.items() if x is not None})
            raise CheckFailed(
                origin
                or f"step {k} did not get batch number {k} of the target: draw "
                "target[tgt.batch(step, batch_size)], tgt = IndexStream(len(target), "
                "2 * seed + 1)"
            )
        if not close(x_lab, want_lab[0]):
            raise CheckFailed(
                f"step {k} did not get batch number {k} of the source: draw "
                "source[src.batch(step, batch_size)], src = IndexStream(len(source), 2 * seed)"
            )
        if torch.equal(y_lab, want_unl[1]) and not torch.equal(y_lab, want_lab[1]):
            raise CheckFailed(
                "you passed the target batch's labels: a DANN never reads the target's labels; "
                "pass the source batch's, x_lab, y_lab = source[...]"
            )
        if not torch.equal(y_lab, want_lab[1]):
            raise CheckFailed("the labels are not the labelled batch's: pass y from source[...]")
    if len(optimizers) > 1:
        raise CheckFailed(
            f"your loop built {len(optimizers)} optimisers: build ONE before the loop and pass it "
            "to every step (SGD's momentum lives in the optimiser's state)"
        )
    optimizer = optimizers[0]
    if type(optimizer) is not torch.optim.SGD or optimizer.defaults.get("momentum") != 0.9:
        raise CheckFailed(
            f"the optimiser is {type(optimizer).__name__} with settings "
            f"{ {k: optimizer.defaults.get(k) for k in ('lr', 'momentum')} }: build it as fit "
            "does, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)"
        )
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if held != {id(p) for p in got.parameters()}:
        raise CheckFailed(
            "the optimiser does not hold every parameter of the model: "
            "torch.optim.SGD(model.parameters(), ...)"
        )
    want = _fresh_toy()
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
            "does your loop change the model or the optimiser besides calling step_fn (an "
            "extra optimizer.step(), a second pass)? The loop only draws the batches, sets lam "
            "and lr, and calls step_fn"
        )
    return f"OK: {steps} steps with fit's batches, lambda and lr; the model matches fit's"


def check_training(
    loop: Callable, step: Callable, source: Domain, target: Domain, steps: int, seed: int = 0
) -> Verdict:
    """Train the moons recipe's network with `loop(..., step_fn=step, ...)` and with
    dannlib.fit from the same initialisation (seed `seed`, on the CPU, where the comparison is
    exact) and compare them after `steps` steps. `loop` and `step` are the student's or
    dannlib's (`train_loop`, `dann_step`); with both dannlib's there is nothing to check."""
    yours = [
        name
        for name, mine, lib in (("step", step, dann_step), ("loop", loop, train_loop))
        if mine is not lib
    ]
    if not yours:
        return Verdict(
            "not done yet: write `my_dann_step` and `my_train` (sections 3 and 4); until then "
            "the lesson trains with dannlib's step and fit",
            ok=False,
        )
    recipe = get_recipe("moons")
    c = recipe.config
    settings = dict(lambda_max=c.lambda_max, lr=c.lr, batch_size=c.batch_size, seed=seed)
    mine = _fresh_toy(seed).cpu()
    passes = []
    mine.features.register_forward_hook(lambda *_: passes.append(1))
    try:
        loop(mine, source, target, step, steps, **settings)
    except (NotImplementedError, CheckFailed):
        raise
    except Exception as err:
        raise student_error(err, f"your {' and '.join(yours)}", _ERROR_HINTS) from None
    who = " and ".join(f"your {name}" for name in yours)
    if "step" not in yours:
        who += " (with dannlib's dann_step)"
    elif "loop" not in yours:
        who += " (in dannlib's loop)"
    if len(passes) != steps:
        raise CheckFailed(f"{who}: " + _SEPARATE_PASSES.format(n=round(len(passes) / steps)))
    reference = _fresh_toy(seed).cpu()
    fit(
        reference,
        source,
        target,
        c,
        mode="dann",
        steps=steps,
        progress=False,
        device="cpu",
        **settings,
    )
    gap = _largest_difference(mine, reference)
    if gap == 0.0:
        return Verdict(
            f"OK: {who} trained exactly fit's network: after {steps} steps every parameter "
            "is identical",
            ok=True,
        )
    if gap < 1e-4:
        return Verdict(
            f"OK: {who} trained fit's network up to float rounding: after {steps} steps the "
            f"parameters differ by at most {gap:.0e}",
            ok=True,
        )
    raise CheckFailed(
        f"{who} passed the short checks, but after {steps} steps the networks differ: the "
        f"largest parameter difference is {gap:.2f}. Likely cause: your step computes the same "
        "maths as dann_step in another order, which rounds differently (training amplifies "
        "last-digit differences: compute exactly what dann_step computes, in the same order), "
        "or your loop does something else after the 25 steps its check looked at"
    )


def separate_passes_drift(source: Domain, target: Domain, steps: int, seed: int = 0) -> float:
    """How far apart two trainings of the moons recipe end (the largest parameter difference,
    on the CPU) when one uses dann_step and the other the same step with the features of each
    batch computed in a separate forward pass: the same function, rounded differently."""
    c = get_recipe("moons").config
    settings = dict(lambda_max=c.lambda_max, lr=c.lr, batch_size=c.batch_size, seed=seed)
    one, two = _fresh_toy(seed), _fresh_toy(seed)
    train_loop(one, source, target, dann_step, steps, **settings)
    two_passes = lambda m, o, b, lam, lr: _reference_step(m, o, b, lam, lr, "two_passes")
    train_loop(two, source, target, two_passes, steps, **settings)
    return _largest_difference(one, two)
