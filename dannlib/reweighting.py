"""Importance weights from a domain classifier (covariate shift; Shimodaira 2000).

Label source points 0 and target points 1, fit a probabilistic classifier, and weight each
source point by w(x) = p(x) / (1 - p(x)) * n_s / n_t with p(x) = P(target | x): an estimate of
the density ratio p_target(x) / p_source(x). The effective sample size says how many equally
weighted points the weighted source set is worth.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from dannlib.common import as_numpy, as_rows, check_number

ArrayLike = np.ndarray | torch.Tensor


def _points(x: ArrayLike) -> np.ndarray:
    """N x D float64 points from a tensor or array, checked to be finite."""
    x = as_rows(x)
    if not np.isfinite(x).all():
        raise ValueError("inputs contain NaN or infinite values; clean them before weighting")
    return x


def domain_probabilities(
    xs: ArrayLike, xt: ArrayLike, classifier=None, cv: int | None = None
) -> np.ndarray:
    """P(target | x) for every source point, from a classifier fit on source (0) vs target (1).

    `classifier` is any scikit-learn classifier with predict_proba (default: logistic
    regression); it is cloned, never modified. With `cv` folds the probabilities are
    out-of-fold (cross-fitting), which flexible classifiers such as random forests need:
    scored on the points they were fit on, they are overconfident.
    """
    xs, xt = _points(xs), _points(xt)
    if len(xs) == 0 or len(xt) == 0:
        raise ValueError(f"need source and target points, got {len(xs)} and {len(xt)}")
    if xs.shape[1] != xt.shape[1]:
        raise ValueError(f"source has {xs.shape[1]} features but target has {xt.shape[1]}")
    clf = clone(classifier) if classifier is not None else LogisticRegression()
    x = np.vstack([xs, xt])
    d = np.concatenate([np.zeros(len(xs)), np.ones(len(xt))])
    if cv is None:
        p = clf.fit(x, d).predict_proba(xs)[:, 1]
    else:
        p = cross_val_predict(clf, x, d, cv=cv, method="predict_proba")[: len(xs), 1]
    return p


def importance_weights(
    xs: ArrayLike,
    xt: ArrayLike,
    classifier=None,
    clip: float | None = None,
    cv: int | None = None,
    eps: float = 1e-6,
) -> np.ndarray:
    """Source weights w = p / (1 - p) * n_s / n_t, p = P(target | x); optionally clipped at `clip`.

    p is kept in [eps, 1 - eps], 0 < eps < 0.5, so a confident classifier gives large, finite
    weights. See `domain_probabilities` for `classifier` and `cv`.
    """
    if clip is not None:
        _check_cap("clip", clip)
    check_number(
        "eps", eps, 0.0, 0.5, low_open=True,
        hint="probabilities are kept in [eps, 1 - eps]; 1e-6 is the default",
    )  # fmt: skip
    p = np.clip(domain_probabilities(xs, xt, classifier, cv), eps, 1 - eps)
    w = p / (1 - p) * (len(xs) / len(xt))
    return clip_weights(w, clip) if clip is not None else w


def clip_weights(w: ArrayLike, max_weight: float) -> np.ndarray:
    """Weights capped at `max_weight` (trades the variance of large weights for some bias)."""
    _check_cap("max_weight", max_weight)
    return np.minimum(as_numpy(w).astype(np.float64), max_weight)


def _check_cap(name: str, value) -> None:
    """ValueError unless `value` is a finite number > 0 (a largest allowed weight)."""
    check_number(
        name, value, 0.0, low_open=True,
        hint="it is the largest allowed weight, e.g. 10; pass clip=None for no cap",
    )  # fmt: skip


def effective_sample_size(w: ArrayLike) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2: n for equal weights, 1 if one dominates."""
    w = as_numpy(w).astype(np.float64).ravel()
    if len(w) == 0:
        raise ValueError("effective_sample_size needs at least one weight")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be finite and non-negative")
    total = float((w**2).sum())
    if total == 0.0:
        raise ValueError("all weights are zero")
    return float(w.sum() ** 2 / total)
