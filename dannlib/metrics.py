"""Metrics: predictions, confusion matrices, proxy A-distance, reverse validation and
window means of training curves.

Target labels appear here only where a caller passes them in to report a result; the model
selection tools (`proxy_a_distance`, `reverse_validation`) never read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch

from dannlib.common import as_rows
from dannlib.data.base import Domain
from dannlib.evaluation import class_logits, evaluate
from dannlib.models import DANN
from dannlib.train import History, fit


def predict(model: DANN, data: Domain | torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted class of every input (inference mode, on the CPU)."""
    return class_logits(model, data, batch_size).argmax(1)


def confusion_matrix(
    y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int | None = None
) -> torch.Tensor:
    """Counts C[i, j] of true class i predicted as j (K x K int64), by scikit-learn's
    confusion_matrix over the classes 0 .. K-1 (K: `num_classes`, else the largest label + 1)."""
    from sklearn.metrics import confusion_matrix as count_pairs

    y_true, y_pred = torch.as_tensor(y_true).long(), torch.as_tensor(y_pred).long()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {tuple(y_true.shape)}, y_pred {tuple(y_pred.shape)}")
    k = num_classes
    if k is None:
        k = int(torch.cat([y_true, y_pred]).max()) + 1 if len(y_true) else 0
    if len(y_true) == 0:  # scikit-learn wants at least one pair
        return torch.zeros(k, k, dtype=torch.long)
    return torch.from_numpy(count_pairs(y_true, y_pred, labels=np.arange(k))).long()


@dataclass
class ProxyADistance:
    """A proxy A-distance and the held-out domain-classification error it came from."""

    distance: float
    error: float
    n_train: int
    n_test: int

    def __float__(self) -> float:
        return self.distance


def proxy_a_distance(
    source: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    *,
    C: float = 1.0,
    max_points: int | None = 2000,
    seed: int = 0,
) -> ProxyADistance:
    """Ben-David's proxy A-distance, d_A = 2 (1 - 2 err), from a linear source-vs-target classifier.

    As in Ganin et al. (2016, sec. 3.2): equal numbers of source and target rows (at most
    `max_points` each), half of each to train a standardised L2 logistic regression
    (inverse strength `C`), `err` its error on the other half. An error above chance counts
    as chance, so d_A lies in [0, 2]: 0 when the domains look alike to a linear classifier,
    2 when it separates them perfectly.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if max_points is not None and (
        isinstance(max_points, bool) or not isinstance(max_points, Integral) or max_points < 4
    ):
        raise ValueError(
            f"max_points must be a whole number >= 4 (rows per domain) or None for no limit, "
            f"got {max_points!r}"
        )
    xs, xt = as_rows(source), as_rows(target)
    if xs.shape[1] != xt.shape[1]:
        raise ValueError(f"source rows have {xs.shape[1]} values, target rows {xt.shape[1]}")
    n = min(len(xs), len(xt), max_points or len(xs))
    if n < 4:
        raise ValueError(f"need at least 4 rows per domain, got {len(xs)} and {len(xt)}")
    rng = np.random.default_rng(seed)
    xs, xt = xs[rng.permutation(len(xs))[:n]], xt[rng.permutation(len(xt))[:n]]
    half = n // 2
    x_train = np.concatenate([xs[:half], xt[:half]])
    x_test = np.concatenate([xs[half:], xt[half:]])
    y_train = np.r_[np.zeros(half), np.ones(half)]
    y_test = np.r_[np.zeros(n - half), np.ones(n - half)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    clf.fit(x_train, y_train)
    err = min(float(np.mean(clf.predict(x_test) != y_test)), 0.5)
    return ProxyADistance(2.0 * (1.0 - 2.0 * err), err, len(x_train), len(x_test))


def self_label(model: DANN, data: Domain, adapt_bn: bool = False) -> Domain:
    """`data` with its labels replaced by `model`'s predictions (the true labels are dropped);
    with `adapt_bn`, batch norm reads `data` with its own statistics, as in training."""
    source = f"self-labelled by the model; inputs: {data.info.get('source', 'unknown')}"
    pred = class_logits(model, data, adapt_bn=adapt_bn).argmax(1)
    return Domain(data.x, pred, {**data.info, "source": source})


@dataclass
class ReverseValidation:
    """The reverse model's accuracy on held-out source data, with the run that produced it."""

    accuracy: float
    history: History
    model: DANN


def reverse_validation(
    model: DANN,
    target: Domain,
    source_train: Domain,
    source_val: Domain,
    build: Callable[[], DANN],
    **fit_kwargs,
) -> ReverseValidation:
    """Reverse validation (Ganin et al. 2016, sec. 5.1.2), which needs no target label.

    `model` was trained on `source_train` (labelled) and `target` (unlabelled). Self-label the
    target with it, train a fresh reverse model `build()` with `fit` on the self-labelled target
    as labelled source and `source_train` as unlabelled target (`fit_kwargs` go to `fit`, e.g.
    mode, steps, lambda_max, seed; `seed` also seeds `build`), and score it on `source_val`,
    which neither model saw. A model whose target labels are right yields a reverse model
    that classifies the source well.
    """
    if fit_kwargs.get("mode") == "target_only":
        raise ValueError(
            "mode='target_only' would train the reverse model on the source labels; "
            "reverse validation needs mode='dann' or 'source_only'"
        )
    adapt_bn = bool(fit_kwargs.get("adapt_bn", False))  # read batch norm as training did
    pseudo = self_label(model, target, adapt_bn)
    unlabelled = Domain(
        source_train.x, torch.zeros(len(source_train), dtype=torch.long), source_train.info
    )
    fit_kwargs = {"progress": False, "seed": 0, **fit_kwargs}
    torch.manual_seed(fit_kwargs["seed"])  # the reverse model's initial weights
    reverse = build()
    history = fit(reverse, pseudo, unlabelled, **fit_kwargs)
    score = evaluate(reverse, source_val, adapt_bn=adapt_bn)["acc"]
    return ReverseValidation(score, history, reverse)


def window_mean(history: History, key: str, start: float, end: float) -> float:
    """Mean of the evaluations of `key` whose step lies in (start, end] x the run's steps
    (e.g. 0.75, 1.0: the last quarter of training)."""
    steps = np.asarray(history.evals["step"], dtype=float)
    values = np.asarray(history.evals[key], dtype=float)
    total = steps[-1]
    inside = (steps > start * total) & (steps <= end * total)
    if not inside.any():
        raise ValueError(f"no evaluation of {key!r} between {start:.0%} and {end:.0%} of the run")
    return float(values[inside].mean())


def curve_summary(history: History) -> dict[str, float]:
    """A noise-aware summary of one run's curves (lesson 05): late_domain_acc (mean over the
    last 10% of steps), mid_target and late_target (mean target accuracy of the evaluations in
    the second quarter and in the last quarter of training)."""
    dom = history.steps["domain_acc"]
    return {
        "late_domain_acc": float(np.mean(dom[-max(1, len(dom) // 10) :])),
        "mid_target": window_mean(history, "target_acc", 0.25, 0.5),
        "late_target": window_mean(history, "target_acc", 0.75, 1.0),
    }
