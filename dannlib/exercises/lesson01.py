"""Lesson 01's exercises: importance weights from a domain classifier, effective sample size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dannlib.exercises import CheckFailed, checker, close
from dannlib.reweighting import domain_probabilities, effective_sample_size, importance_weights


@checker(
    "my_importance_weights",
    "w = p / (1 - p) * n_s / n_t from a logistic-regression domain classifier",
)
def check_importance_weights(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> str:
    """Compare `fn(xs, xt)` with dannlib.reweighting.importance_weights (logistic regression)."""
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
    raise CheckFailed(
        f"expected weights with mean {want.mean():.3f} and max {want.max():.3f}, got mean "
        f"{got.mean():.3f} and max {got.max():.3f}: fit LogisticRegression() on the source "
        "(label 0) and target (label 1) inputs, then w = p / (1 - p) * n_s / n_t at the source"
    )


# The mistakes check_dann_step recognises: a step with that mistake, and what to tell the student.


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
        got, want = float(fn(w.copy())), effective_sample_size(w)
        if close(got, want):
            continue
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
