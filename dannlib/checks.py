"""Exercise checkers and the lessons' claims.

Each checker tests a student's function (or setup) against dannlib's. On success it returns a
one-line verdict for the notebook to print; on failure it raises `CheckFailed` with a message
that says what is wrong and, where the mistake is a known one, what to change.

`claim` states a lesson's claim about a method (measured over several seeds, see
`paired_difference` and `success_rate`); when it does not hold it raises `ClaimFailed`, which
tells the student what was claimed, what was measured and what to try.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dannlib.reweighting import effective_sample_size
from dannlib.schedules import dann_lambda


class CheckFailed(AssertionError):
    """An exercise check failed; the message says what to fix."""


class ClaimFailed(AssertionError):
    """A lesson's claim did not hold on this run; the message says what to try."""


CLAIM_HINT = (
    "What to try: run the lesson in the default profile (more steps and seeds: PROFILE = "
    '"default" in the parameters cell), or with other seeds (SEED = 1, 2, ...) to see whether '
    "this was an unlucky draw. If it fails there too, something in the code has changed."
)


def _number(value) -> str:
    """A number (or a short sequence of numbers) formatted for a message."""
    if isinstance(value, (float, np.floating)):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_number(v) for v in value) + "]"
    return str(value)


def claim(condition, what: str, numbers: Mapping[str, object], hint: str | None = None) -> str:
    """Check a lesson's claim: return a one-line verdict, or raise ClaimFailed explaining it.

    `what` states the claim in words ("DANN beats source-only on the target"), `numbers` the
    measurements it rests on, `hint` what the student could try (default: CLAIM_HINT).
    """
    shown = "; ".join(f"{name} = {_number(value)}" for name, value in numbers.items())
    if bool(condition):
        return f"Claim holds: {what} ({shown})."
    raise ClaimFailed(
        f"The lesson claims: {what}.\nMeasured here: {shown}.\n"
        f"That does not hold on this run. {hint or CLAIM_HINT}"
    )


@dataclass(frozen=True)
class PairedDifference:
    """Per-seed differences a - b of two methods run on the same seeds."""

    diffs: np.ndarray

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def mean(self) -> float:
        return float(np.mean(self.diffs))

    @property
    def sem(self) -> float:
        """Standard error of the mean difference (0 for a single seed)."""
        return float(np.std(self.diffs, ddof=1) / math.sqrt(self.n)) if self.n > 1 else 0.0

    def lower(self, z: float = 2.0) -> float:
        """mean - z standard errors: the claim 'a beats b' asks that this exceed a margin."""
        return self.mean - z * self.sem

    def __str__(self) -> str:
        return f"{self.mean:+.3f} +- {self.sem:.3f} (mean +- s.e., {self.n} seeds)"


def paired_difference(a: Sequence[float], b: Sequence[float]) -> PairedDifference:
    """Differences a[i] - b[i] of two methods over the same seeds."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(
            f"give one number per seed for both methods (same length), got {a.shape} and {b.shape}"
        )
    return PairedDifference(a - b)


@dataclass(frozen=True)
class SuccessRate:
    """How many of n runs succeeded: the honest summary of a bimodal outcome."""

    successes: int
    n: int

    @property
    def rate(self) -> float:
        return self.successes / self.n

    def __str__(self) -> str:
        return f"{self.successes} of {self.n} runs"


def success_rate(values: Sequence[float], threshold: float) -> SuccessRate:
    """Count the runs whose value is at least `threshold` (e.g. target accuracy 0.8)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"give one number per run, got an array of shape {values.shape}")
    return SuccessRate(int((values >= threshold).sum()), len(values))


def _close(a, b, tol: float = 1e-6) -> bool:
    """True if two tensors, arrays or numbers agree to `tol` (absolute and relative)."""
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and torch.allclose(a, b, rtol=tol, atol=tol)


def check_lambda_schedule(fn: Callable[[float], float], gamma: float = 10.0) -> str:
    """Compare `fn(p)` with lambda_p = 2 / (1 + exp(-gamma p)) - 1 at several p in [0, 1]."""
    ps = [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0]
    got = [float(fn(p)) for p in ps]
    want = [dann_lambda(p, gamma) for p in ps]
    if _close(got, want):
        return f"OK: lambda_p matches dannlib.schedules.dann_lambda at p = {ps}"
    if _close(got, [-w for w in want]):
        raise CheckFailed(
            "lambda_p has the wrong sign: it must rise from 0 to about +1 "
            "(the gradient reversal layer already supplies the minus sign)"
        )
    if _close(got, [w + 1 for w in want]):
        raise CheckFailed(
            "lambda_p starts at 1 instead of 0: subtract 1 from 2 / (1 + exp(-gamma p))"
        )
    if _close(got, [(w + 1) / 2 for w in want]):
        raise CheckFailed(
            "this is the logistic 1 / (1 + exp(-gamma p)), which starts at 0.5: "
            "use 2 / (1 + exp(-gamma p)) - 1"
        )
    i = next(i for i, (g, w) in enumerate(zip(got, want)) if not _close(g, w))
    raise CheckFailed(
        f"at p = {ps[i]} expected lambda_p = {want[i]:.4f}, got {got[i]:.4f} "
        f"(gamma = {gamma}); lambda_p = 2 / (1 + exp(-gamma p)) - 1"
    )


def check_grl(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> str:
    """Check a gradient reversal `fn(x, lambd)`: identity forward, -lambd * grad backward."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    upstream = torch.randn(5, 3, dtype=torch.float64, generator=gen)
    lambd = 0.7
    y = fn(x, lambd)
    if not _close(y.detach(), x.detach()):
        raise CheckFailed("the forward pass must return its input unchanged (identity)")
    if not y.requires_grad:
        raise CheckFailed("no gradient flows through the layer: did you detach the input?")
    (grad,) = torch.autograd.grad(y, x, upstream)
    if _close(grad, -lambd * upstream):
        return "OK: identity forward, gradient times -lambda backward"
    if _close(grad, lambd * upstream):
        raise CheckFailed(
            "the gradient is scaled by +lambda, not reversed: backward must "
            "return -lambda * grad_output (the classic reversed-sign bug)"
        )
    if _close(grad, upstream):
        raise CheckFailed(
            "the gradient passes through unchanged: backward must return -lambda * grad_output"
        )
    if _close(grad, -upstream):
        raise CheckFailed("the gradient is reversed but not scaled: multiply by lambda too")
    if _close(grad, torch.zeros_like(grad)):
        raise CheckFailed("the gradient is zero: backward must return -lambda * grad_output")
    raise CheckFailed("backward must return -lambda * grad_output (and None for lambda)")


def check_domain_loss(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """Check `loss_fn(domain_logit (N,), is_target (N,) floats)` against BCE with logits."""
    gen = torch.Generator().manual_seed(1)
    logit = torch.randn(8, dtype=torch.float64, generator=gen, requires_grad=True)
    is_target = torch.tensor([0.0, 1.0] * 4, dtype=torch.float64)
    loss = loss_fn(logit, is_target)
    if loss.dim() != 0:
        raise CheckFailed(
            f"the loss must be a scalar (the batch mean), got shape {tuple(loss.shape)}"
        )
    want = F.binary_cross_entropy_with_logits(logit, is_target)
    (grad,) = torch.autograd.grad(loss, logit, allow_unused=True)
    if grad is None or _close(grad, torch.zeros_like(logit)):
        raise CheckFailed(
            "the loss does not depend on the domain logit, so its gradient is zero "
            "and nothing is learned. A softmax over a single logit is always 1: "
            "use binary_cross_entropy_with_logits on the raw logit"
        )
    if _close(loss, F.binary_cross_entropy(torch.sigmoid(torch.sigmoid(logit)), is_target)):
        raise CheckFailed(
            "sigmoid applied twice: binary_cross_entropy_with_logits takes the raw logit"
        )
    if _close(loss, want):
        return "OK: binary cross-entropy on the raw domain logit"
    raise CheckFailed(f"expected binary cross-entropy {want.item():.4f}, got {loss.item():.4f}")


def check_class_loss(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """Check `loss_fn(class_logits (N, K), labels (N,))` against cross-entropy on raw logits."""
    gen = torch.Generator().manual_seed(2)
    logits = 3 * torch.randn(6, 4, dtype=torch.float64, generator=gen)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    loss = loss_fn(logits, labels)
    want = F.cross_entropy(logits, labels)
    if _close(loss, want):
        return "OK: cross-entropy on raw logits"
    if _close(loss, F.cross_entropy(torch.softmax(logits, 1), labels)):
        raise CheckFailed(
            "double softmax: cross_entropy applies log_softmax itself, so pass it "
            "the raw logits (no softmax layer at the end of the label head)"
        )
    if _close(loss, F.nll_loss(logits, labels)):
        raise CheckFailed(
            "nll_loss expects log-probabilities: use cross_entropy on the logits, "
            "or nll_loss(log_softmax(logits))"
        )
    raise CheckFailed(f"expected cross-entropy {want.item():.4f}, got {loss.item():.4f}")


def check_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer) -> str:
    """Check that every trainable parameter of `model` is in one of `optimizer`'s groups."""
    given = {id(p) for group in optimizer.param_groups for p in group["params"]}
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in given]
    if missing:
        shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise CheckFailed(
            f"{len(missing)} trainable parameters are never updated ({shown}): "
            "give the optimiser model.parameters()"
        )
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return f"OK: the optimiser updates all {n} trainable parameters"


def check_effective_sample_size(fn: Callable[[np.ndarray], float]) -> str:
    """Compare `fn(w)` with (sum w)^2 / sum w^2 on a few weight vectors."""
    cases = [
        np.random.default_rng(0).exponential(size=50),
        np.ones(10),
        np.array([0.0, 0.0, 5.0]),
        np.array([1.0, 1.0, 2.0]),
    ]
    for w in cases:
        got, want = float(fn(w.copy())), effective_sample_size(w)
        if _close(got, want):
            continue
        if _close(got, w.sum() ** 2 / (w**2).sum() / len(w)):
            raise CheckFailed(
                "that is the effective sample size divided by n (a fraction); "
                "return (sum w)^2 / sum w^2"
            )
        if _close(got, (w.sum() / (w**2).sum())):
            raise CheckFailed("square the sum of the weights: (sum w)^2 / sum w^2")
        raise CheckFailed(
            f"for w = {np.round(w[:5], 3)}{' ...' if len(w) > 5 else ''} expected "
            f"{want:.4f}, got {got:.4f}; ESS = (sum w)^2 / sum w^2"
        )
    return "OK: effective sample size matches dannlib.reweighting.effective_sample_size"


def check_proxy_a_distance(fn: Callable[[np.ndarray, np.ndarray], float]) -> str:
    """Compare `fn(source_rows, target_rows)` with dannlib.metrics.proxy_a_distance."""
    from dannlib.metrics import proxy_a_distance

    rng = np.random.default_rng(0)
    cases = {
        "identical distributions": (rng.normal(size=(600, 4)), rng.normal(size=(600, 4))),
        "a moderate shift": (rng.normal(size=(600, 4)), rng.normal(size=(600, 4)) + 0.6),
        "separable domains": (rng.normal(size=(600, 4)), rng.normal(size=(600, 4)) + 8.0),
    }
    for name, (a, b) in cases.items():
        got, want = float(fn(a.copy(), b.copy())), proxy_a_distance(a, b)
        if abs(got - want.distance) <= 0.15:
            continue
        if abs(got - 2 * (1 - 2 * (1 - want.error))) <= 0.15:
            raise CheckFailed(
                f"for {name} you used the accuracy where the error belongs: "
                "d_A = 2 (1 - 2 err) with err the held-out misclassification rate"
            )
        if abs(got - (1 - 2 * want.error)) <= 0.15:
            raise CheckFailed("d_A = 2 (1 - 2 err): you left out the factor 2")
        raise CheckFailed(
            f"for {name} expected d_A about {want.distance:.3f} (held-out error "
            f"{want.error:.3f}), got {got:.3f}; train on one half, measure err on the other"
        )
    return "OK: your proxy A-distance agrees with dannlib.metrics.proxy_a_distance"


def check_importance_weights(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> str:
    """Compare `fn(xs, xt)` with dannlib.reweighting.importance_weights (logistic regression)."""
    from dannlib.reweighting import domain_probabilities, importance_weights

    rng = np.random.default_rng(0)
    xs, xt = rng.normal(size=(300, 2)), rng.normal(size=(100, 2)) + [0.8, 0.4]  # n_s != n_t
    got = np.asarray(fn(xs.copy(), xt.copy()), dtype=float).ravel()
    want = importance_weights(xs, xt)
    if got.shape == (len(xt),):
        raise CheckFailed(
            f"you returned {len(xt)} weights, one per target point: the weights are for the "
            f"{len(xs)} source points (they re-weight the labelled training set)"
        )
    if got.shape != want.shape:
        raise CheckFailed(f"expected one weight per source point ({len(xs)}), got {got.shape}")
    if not np.isfinite(got).all() or set(np.unique(got)) <= {0.0}:
        raise CheckFailed(
            "some weights are 0 or infinite for every point: use the classifier's probabilities "
            "(predict_proba(...)[:, 1]), not its hard 0/1 predictions"
        )
    p = domain_probabilities(xs, xt)
    ratio = len(xs) / len(xt)
    if _close(got, want, 1e-4):
        return "OK: your weights match dannlib.reweighting.importance_weights"
    known = {
        "these are the odds p / (1 - p) without the factor n_s / n_t, which removes the "
        "classifier's prior odds (here 3 source points for every target point)": p / (1 - p),
        "the factor is upside down: multiply the odds by n_s / n_t, not n_t / n_s": p
        / (1 - p)
        / ratio,
        "the odds are upside down: with source = 0 and target = 1, p = predict_proba(x)[:, 1] "
        "is P(target | x) and w = p / (1 - p) * n_s / n_t (did you swap the domain labels or "
        "take column 0?)": (1 - p) / p * ratio,
        "these are the probabilities p = P(target | x), not the density ratio: "
        "w = p / (1 - p) * n_s / n_t": p,
        "these are probabilities, not a density ratio, and from the wrong column: "
        "w = p / (1 - p) * n_s / n_t with p = predict_proba(x)[:, 1]": 1 - p,
    }
    for message, wrong in known.items():
        if _close(got, wrong, 1e-4):
            raise CheckFailed(message)
    raise CheckFailed(
        f"expected weights with mean {want.mean():.3f} and max {want.max():.3f}, got mean "
        f"{got.mean():.3f} and max {got.max():.3f}: fit LogisticRegression() on the source "
        "(label 0) and target (label 1) inputs, then w = p / (1 - p) * n_s / n_t at the source"
    )


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
    from dannlib.models import build_model

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model("toy")
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)  # lr: set by the step
    returned = [step_fn(model, optimizer, b, lam, lr) for b, lam, lr in zip(batches, lams, lrs)]
    return model, returned


def _same_parameters(a: nn.Module, b: nn.Module, tol: float = 1e-5) -> list[str]:
    """Names of the parameters in which two models of one architecture differ."""
    pb = dict(b.named_parameters())
    return [n for n, p in a.named_parameters() if not _close(p.detach(), pb[n].detach(), tol)]


def check_dann_step(fn: Callable, steps: int = 4) -> str:
    """Run `fn(model, optimizer, batch, lam, lr)` and dannlib.train.dann_step for a few steps
    from the same initialisation on the same batches, and compare them parameter by parameter."""
    from dannlib.train import dann_step

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
                if not _close(float(stats[key]), ref[key], 1e-4):
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


def check_dann_loop(fn: Callable, steps: int = 25) -> str:
    """Run `fn(model, source, target, step_fn, steps, lambda_max, lr, batch_size, seed)` with a
    step_fn that records its calls, and compare the calls and the trained model with `fit`'s."""
    from dannlib.data.base import Domain
    from dannlib.data.loaders import IndexStream
    from dannlib.data.toy import moons_pair
    from dannlib.models import build_model
    from dannlib.train import dann_step, fit

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
        if not _close(lam, want_lam):
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
            message = next((m for m, v in ramps.items() if _close(lam, v)), None)
            raise CheckFailed(
                message
                or f"at step {k} lam = {lam:.4f}, expected {want_lam:.4f} "
                "(lambda_max * dann_lambda(step / steps))"
            )
        if not _close(lr, 0.1):
            raise CheckFailed(f"at step {k} lr = {lr:.4g}; pass the constant lr (0.1 here)")
        want_lab, want_unl = source[src.batch(k, 16)], target[tgt.batch(k, 16)]
        if _close(x_lab, want_unl[0]) or _close(x_unl, want_lab[0]):
            raise CheckFailed(
                "the batches are swapped: the labelled batch comes from the source, the "
                "unlabelled one from the target"
            )
        if not (_close(x_lab, want_lab[0]) and _close(x_unl, want_unl[0])):
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


# --- lesson 04 ---------------------------------------------------------------------------


def check_domain_features(fn: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> str:
    """Check `fn(model, x)`: features of one domain's images with batch norm read with x's own
    statistics (dannlib.train.extract_features(..., adapt_bn=True)), the model left unchanged."""
    from dannlib.models import build_model
    from dannlib.train import extract_features

    torch.manual_seed(0)
    model = build_model("modern")
    model.train()
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):  # running statistics of a mixture, as after training on two domains
        with torch.no_grad():
            model(torch.rand(32, 3, 28, 28, generator=gen))
    x = (torch.rand(64, 3, 28, 28, generator=gen) * 120 + 100).to(torch.uint8)  # one bright domain
    before = {k: v.clone() for k, v in model.state_dict().items()}
    got = torch.as_tensor(fn(model, x)).detach().float()
    after = model.state_dict()
    if any(not torch.equal(before[k], after[k]) for k in before) or not model.training:
        raise CheckFailed(
            "the model changed: restore every batch-norm layer's running statistics and "
            "momentum, and the model's train/eval mode, when you are done (try/finally)"
        )
    want = extract_features(model, x, adapt_bn=True)
    if got.shape != want.shape:
        raise CheckFailed(f"expected features of shape {tuple(want.shape)}, got {tuple(got.shape)}")
    if _close(got, want, 1e-4):
        return "OK: features read with the domain's own batch-norm statistics, model unchanged"
    if _close(got, extract_features(model, x), 1e-4):
        raise CheckFailed(
            "these are the features with the model's pooled running statistics (plain eval "
            "mode): re-estimate each batch-norm layer's statistics on x first"
        )
    with torch.no_grad():
        model.eval()
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
        batch_stats = model.features(x.float() / 255)
        model.load_state_dict(before)
        model.train()
    if _close(got, batch_stats, 1e-4):
        raise CheckFailed(
            "you normalised with the batch's statistics during the forward pass itself: "
            "estimate the statistics first, then compute the features in eval mode"
        )
    raise CheckFailed(
        "the features differ from the domain-statistics reading; with dropout on (model.train()) "
        "they also change from call to call: keep dropout off, put only the batch-norm layers "
        "in training mode while you re-estimate"
    )


# --- lesson 06: reverse validation and model selection ------------------------------------


def _reverse_validation_task():
    """A small rotated-moons task, a config and a candidate DANN trained with it (lesson 06)."""
    from dannlib.data.toy import moons
    from dannlib.recipes import get_recipe
    from dannlib.train import fit

    recipe = get_recipe("moons")
    # 1999 (prime) validation points: scores of different mistakes rarely coincide
    source_train, source_val = moons(120, 0.0, seed=21), moons(1999, 0.0, seed=22)
    target = moons(120, 35.0, seed=23)
    # the candidate's settings differ from the recipe's, as a grid's candidates do
    config = recipe.config.replace(steps=150, lambda_max=0.5, lr=0.05, batch_size=16, seed=3)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        candidate = recipe.build_model()
        fit(candidate, source_train, target, config, progress=False)
    return recipe, candidate, target, source_train, source_val, config


def _reverse_score(recipe, config, labelled, unlabelled, scored) -> float:
    """Train a fresh reverse model as reverse_validation does and return its accuracy."""
    from dannlib.data.base import Domain
    from dannlib.train import evaluate, fit

    hidden = Domain(unlabelled.x, torch.zeros(len(unlabelled), dtype=torch.long), unlabelled.info)
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        reverse = recipe.build_model()
        fit(reverse, labelled, hidden, config, progress=False)
    return evaluate(reverse, scored)["acc"]


def check_reverse_validation(fn: Callable) -> str:
    """Compare `fn(model, target, source_train, source_val, config)` with
    dannlib.metrics.reverse_validation on a small moons task; name the usual mistakes."""
    from dannlib.metrics import reverse_validation, self_label
    from dannlib.train import evaluate

    recipe, candidate, target, source_train, source_val, config = _reverse_validation_task()
    state = {k: v.clone() for k, v in candidate.state_dict().items()}
    with torch.random.fork_rng():
        got = fn(candidate, target, source_train, source_val, config)
    if any(not torch.equal(v, candidate.state_dict()[k]) for k, v in state.items()):
        raise CheckFailed(
            "your function changed the candidate model: only predict with it (self-label the "
            "target), then train a fresh reverse model"
        )
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, (float, int, np.floating)) or not 0.0 <= float(got) <= 1.0:
        raise CheckFailed(f"return the reverse model's accuracy, a number in [0, 1]; got {got!r}")
    with torch.random.fork_rng():
        want = reverse_validation(
            candidate,
            target,
            source_train,
            source_val,
            build=recipe.build_model,
            **config.to_dict(),
        ).accuracy
    if _close(got, want):
        return (
            f"OK: reverse-validation score {float(got):.3f}, as dannlib.metrics.reverse_validation "
            "computes it (self-labels, the candidate's settings, held-out source)"
        )
    pseudo = self_label(candidate, target)
    recipe_config = recipe.config.replace(steps=config.steps, seed=config.seed)
    mistakes = {
        "the reverse model was trained on the target's TRUE labels, which unsupervised "
        "adaptation does not have: label the target with the candidate's predictions "
        "(self-labelling)": lambda: _reverse_score(
            recipe, config, target, source_train, source_val
        ),
        "the reverse model was trained with the recipe's settings (lambda_max "
        f"{recipe.config.lambda_max:g}, lr {recipe.config.lr:g}), not the candidate's (lambda_max "
        f"{config.lambda_max:g}, lr {config.lr:g}): the paper trains it with the candidate's "
        "own hyper-parameters (pass `config` to fit)": lambda: _reverse_score(
            recipe, recipe_config, pseudo, source_train, source_val
        ),
        "the reverse model was scored on the source data it was adapted to (source_train): "
        "score it on the held-out source_val": lambda: _reverse_score(
            recipe, config, pseudo, source_train, source_train
        ),
        "the reverse model was scored on the target with its true labels: it must be scored "
        "on the held-out labelled source (source_val)": lambda: _reverse_score(
            recipe, config, pseudo, source_train, target
        ),
        "the domains are swapped: the reverse model learns from the self-labelled TARGET "
        "(its labelled domain) and adapts to the source inputs (unlabelled)": lambda: (
            _reverse_score(recipe, config, source_train, pseudo, source_val)
        ),
        "this is the candidate's own accuracy on source_val; train a reverse model on the "
        "self-labelled target and score that one": lambda: evaluate(candidate, source_val)["acc"],
    }
    for message, score in mistakes.items():
        if _close(got, score()):
            raise CheckFailed(message)
    raise CheckFailed(
        f"your score is {float(got):.3f}, reverse_validation gives {want:.3f}. Steps: "
        "self-label the target with the candidate, seed torch with config.seed, build a fresh "
        "model, fit it on (self-labelled target, source_train inputs) with `config`, and "
        "return its accuracy on source_val"
    )


def check_selection(fn: Callable) -> str:
    """Check `fn(scores, target_acc) -> (pick, rho, cost)`: the candidate a label-free score
    picks, the Spearman correlation of score and target accuracy, and the pick's cost
    (best target accuracy minus the pick's)."""
    from scipy.stats import kendalltau, pearsonr, spearmanr

    cases = [
        (np.array([0.95, 0.80, 0.90, 0.70, 0.85]), np.array([0.70, 0.95, 0.72, 0.90, 0.93])),
        (np.array([0.60, 0.90, 0.80, 0.91]), np.array([0.50, 0.80, 0.97, 0.81])),
    ]
    for scores, acc in cases:
        out = fn(scores.copy(), acc.copy())
        if not isinstance(out, tuple) or len(out) != 3:
            raise CheckFailed(f"return a tuple (pick, rho, cost), got {out!r}")
        pick, rho, cost = out
        want_pick = int(np.argmax(scores))
        want_rho = float(spearmanr(scores, acc).statistic)
        want_cost = float(acc.max() - acc[want_pick])
        if int(pick) != want_pick:
            if int(pick) == int(np.argmax(acc)):
                raise CheckFailed(
                    "you picked the candidate with the best TARGET accuracy: that is the oracle, "
                    "which needs the labels we do not have. Pick by the label-free score"
                )
            if int(pick) == int(np.argmin(scores)):
                raise CheckFailed("you picked the LOWEST score: a higher score is better")
            raise CheckFailed(f"pick should be {want_pick}, the index of the highest score")
        if not _close(rho, want_rho, 1e-4):
            if _close(rho, pearsonr(scores, acc).statistic, 1e-4):
                raise CheckFailed(
                    "that is Pearson's (linear) correlation; a RANK correlation asks whether the "
                    "score orders the candidates as target accuracy does: scipy.stats.spearmanr"
                )
            if _close(rho, kendalltau(scores, acc).statistic, 1e-4):
                raise CheckFailed("that is Kendall's tau; use Spearman's rho (spearmanr)")
            raise CheckFailed(f"rho should be {want_rho:.3f} (scipy.stats.spearmanr)")
        if not _close(cost, want_cost, 1e-6):
            if _close(cost, -want_cost, 1e-6):
                raise CheckFailed("the cost has the wrong sign: max(target_acc) - target_acc[pick]")
            if _close(cost, acc[want_pick] - acc.mean(), 1e-6) or _close(
                cost, acc.mean() - acc[want_pick], 1e-6
            ):
                raise CheckFailed(
                    "compare the pick with the BEST candidate (the oracle), not the average"
                )
            raise CheckFailed(f"cost should be {want_cost:.3f}: max(target_acc) - target_acc[pick]")
    return "OK: picks by the score, Spearman's rho, and the cost against the oracle"


# --- lesson 05 ---------------------------------------------------------------------------


def check_paired_gain(fn: Callable[[Sequence[float], Sequence[float]], tuple]) -> str:
    """Check `fn(dann, source_only)` -> (mean, standard error) of the per-seed differences."""
    dann, source_only = [0.62, 0.70, 0.58, 0.66], [0.55, 0.57, 0.56, 0.60]
    mean, sem = (float(v) for v in fn(list(dann), list(source_only)))
    want = paired_difference(dann, source_only)
    diffs = want.diffs
    if _close(mean, -want.mean) and _close(abs(sem), want.sem):
        raise CheckFailed("the sign is reversed: the gain is dann - source_only")
    if not _close(mean, want.mean):
        raise CheckFailed(f"expected a mean gain of {want.mean:.4f}, got {mean:.4f}")
    if _close(sem, float(np.std(diffs) / math.sqrt(len(diffs)))):
        raise CheckFailed(
            "use the sample standard deviation of the differences (ddof=1, divide by n - 1): "
            "with a few seeds the population formula underestimates the spread"
        )
    if _close(sem, float(np.std(diffs, ddof=1))):
        raise CheckFailed(
            "that is the standard deviation; the standard error divides it by sqrt(n)"
        )
    unpaired = math.sqrt(np.var(dann, ddof=1) / len(dann) + np.var(source_only, ddof=1) / 4)
    if _close(sem, unpaired):
        raise CheckFailed(
            "that is the unpaired standard error of two means; the runs are paired by seed, "
            "so take the differences seed by seed first"
        )
    if not _close(sem, want.sem):
        raise CheckFailed(f"expected a standard error of {want.sem:.4f}, got {sem:.4f}")
    return "OK: your mean gain and standard error match dannlib.checks.paired_difference"


def check_curve_summary(fn: Callable[[object], dict]) -> str:
    """Check `fn(history)`: late_domain_acc (last 10% of steps), peak_target, final_target."""
    from dannlib.train import History

    history = History()
    for step in range(1, 101):  # domain accuracy falls from 1.0 to 0.505; the last 10% average
        history.log_step(step=step, domain_acc=1.0 - 0.005 * step)
    for step, acc in zip(range(0, 101, 20), (0.1, 0.5, 0.72, 0.68, 0.61, 0.63)):
        history.log_eval(step=step, target_acc=acc)
    got = fn(history)
    want = {"late_domain_acc": float(np.mean(history.steps["domain_acc"][-10:]))}
    want.update(peak_target=0.72, final_target=0.63)
    if not isinstance(got, Mapping) or set(got) != set(want):
        raise CheckFailed(f"return a dict with the keys {sorted(want)}")
    dom = float(got["late_domain_acc"])
    if _close(dom, float(np.mean(history.steps["domain_acc"][:10]))):
        raise CheckFailed("that is the first 10% of the steps; average the last 10%")
    if _close(dom, float(np.mean(history.steps["domain_acc"]))):
        raise CheckFailed("that averages every step; average the last 10% (the end of training)")
    if not _close(dom, want["late_domain_acc"]):
        raise CheckFailed(f"late_domain_acc: expected {want['late_domain_acc']:.4f}, got {dom:.4f}")
    if _close(float(got["peak_target"]), 0.63):
        raise CheckFailed("peak_target is the best evaluation, not the last one")
    for key in ("peak_target", "final_target"):
        if not _close(float(got[key]), want[key]):
            raise CheckFailed(f"{key}: expected {want[key]:.4f}, got {float(got[key]):.4f}")
    return "OK: late domain accuracy, peak and final target accuracy as expected"
