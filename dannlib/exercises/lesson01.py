"""Lesson 01's exercises: importance weights from a domain classifier, effective sample size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression

from dannlib.exercises import CheckFailed, call, checker, close
from dannlib.reweighting import domain_probabilities, effective_sample_size, importance_weights

# errors a student's weights function raises -> what to change
_WEIGHTS_HINTS = (
    (
        "inconsistent numbers of samples",
        "the domain labels need one entry per row of np.vstack([xs, xt]): np.zeros(len(xs)) "
        "for the source, then np.ones(len(xt)) for the target",
    ),
    (
        "concatenation axis",
        "stack the points as rows, np.vstack([xs, xt]) (np.hstack joins columns)",
    ),
    (
        "at least 2 classes",
        "fit the domain classifier on both domains: the source rows labelled 0 and the target "
        "rows labelled 1",
    ),
)
_WEIGHTS_USAGE = (
    "my_importance_weights(xs, xt) gets two NumPy arrays of points (n_s x 2 and n_t x 2) and "
    "returns one weight per source point"
)


@checker(
    "my_importance_weights",
    "w = p / (1 - p) * n_s / n_t from a logistic-regression domain classifier",
)
def check_importance_weights(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> str:
    """Compare `fn(xs, xt)` with dannlib.reweighting.importance_weights (logistic regression)."""
    rng = np.random.default_rng(0)
    xs, xt = rng.normal(size=(300, 2)), rng.normal(size=(100, 2)) + [0.8, 0.4]  # n_s != n_t
    got = call(fn, xs.copy(), xt.copy(), hints=_WEIGHTS_HINTS, usage=_WEIGHTS_USAGE)
    got = np.asarray(got, dtype=float).ravel()
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
    if close(got, want, 1e-4):
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
        if close(got, wrong, 1e-4):
            raise CheckFailed(message)
    balanced = domain_probabilities(xs, xt, LogisticRegression(class_weight="balanced"))
    if any(close(got, odds, 1e-4) for odds in (balanced / (1 - balanced) * k for k in (1, ratio))):
        raise CheckFailed(
            "the domain classifier was fit with class_weight='balanced', which already "
            "removes the prior odds of the two domains' sizes: fit LogisticRegression() with "
            "default settings and multiply its odds by n_s / n_t once"
        )
    if close(got / got.mean(), want / want.mean(), 1e-4):
        raise CheckFailed(
            "your weights are right up to a constant factor (mean "
            f"{got.mean():.3f} where p / (1 - p) * n_s / n_t has mean {want.mean():.3f}): do not "
            "rescale them (dividing by their mean changes the density ratio)"
        )
    raise CheckFailed(
        f"expected weights with mean {want.mean():.3f} and max {want.max():.3f}, got mean "
        f"{got.mean():.3f} and max {got.max():.3f}: fit LogisticRegression() on the source "
        "(label 0) and target (label 1) inputs, then w = p / (1 - p) * n_s / n_t at the source"
    )


_ESS_HINTS = (
    ("bitwise_xor", "in Python ^ is bitwise xor: write a power with ** (w ** 2, w.sum() ** 2)"),
    (
        "must be Tensor",
        "w is a NumPy array: sum it with w.sum() or np.sum(w) (torch.sum takes tensors)",
    ),
)


@checker("my_ess", "(sum w)^2 / sum w^2")
def check_effective_sample_size(fn: Callable[[np.ndarray], float]) -> str:
    """Compare `fn(w)` with (sum w)^2 / sum w^2 on a few weight vectors."""
    cases = [
        np.random.default_rng(0).exponential(size=50),
        np.ones(10),
        np.array([0.0, 0.0, 5.0]),
        np.array([1.0, 1.0, 2.0]),
    ]
    for w in cases:
        got = float(call(fn, w.copy(), hints=_ESS_HINTS, usage="my_ess(w) gets a NumPy array"))
        want = effective_sample_size(w)
        if close(got, want):
            continue
        if close(got, 1 / want):
            raise CheckFailed("upside down: sum w^2 / (sum w)^2 is 1 / ESS")
        if got == round(want):
            raise CheckFailed(
                f"expected {want:.4f}, got {got:g}: return the value itself, not rounded"
            )
        if len(w) > 1 and close(got, len(w) / (1 + w.var(ddof=1) / w.mean() ** 2)):
            raise CheckFailed(
                "n / (1 + cv^2) equals (sum w)^2 / sum w^2 only with the population variance "
                "(ddof=0, np.var's default), not the sample variance (ddof=1)"
            )
        if close(got, w.sum() ** 2 / (w**2).sum() / len(w)):
            raise CheckFailed(
                "that is the effective sample size divided by n (a fraction); "
                "return (sum w)^2 / sum w^2"
            )
        if close(got, (w.sum() / (w**2).sum())):
            raise CheckFailed("square the sum of the weights: (sum w)^2 / sum w^2")
        raise CheckFailed(
            f"for w = {np.round(w[:5], 3)}{' ...' if len(w) > 5 else ''} expected "
            f"{want:.4f}, got {got:.4f}; ESS = (sum w)^2 / sum w^2"
        )
    return "OK: effective sample size matches dannlib.reweighting.effective_sample_size"
