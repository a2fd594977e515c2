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
