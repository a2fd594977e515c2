import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from dannlib.exercises import CheckFailed
from dannlib.exercises.lesson01 import (
    check_effective_sample_size,
    check_importance_weights,
)
from dannlib.reweighting import effective_sample_size


def student_weights(xs, xt, swap=False, factor=True, column=1, proba=True):
    """Importance weights as a student writes them, with optional mistakes."""
    d = np.r_[np.zeros(len(xs)), np.ones(len(xt))]
    clf = LogisticRegression().fit(np.vstack([xs, xt]), 1 - d if swap else d)
    p = clf.predict_proba(xs)[:, column] if proba else clf.predict(xs)
    with np.errstate(divide="ignore"):
        odds = p / (1 - p)
    return odds * len(xs) / len(xt) if factor else odds


def test_effective_sample_size_check():
    assert check_effective_sample_size(effective_sample_size).startswith("OK")
    assert check_effective_sample_size(lambda w: w.sum() ** 2 / (w * w).sum())
    with pytest.raises(CheckFailed, match="divided by n"):
        check_effective_sample_size(lambda w: w.sum() ** 2 / (w**2).sum() / len(w))
    with pytest.raises(CheckFailed, match="square the sum"):
        check_effective_sample_size(lambda w: w.sum() / (w**2).sum())
    with pytest.raises(CheckFailed, match="expected"):
        check_effective_sample_size(lambda w: float(len(w)))
    with pytest.raises(CheckFailed):
        check_effective_sample_size(lambda w: np.sqrt(len(w)))


def test_importance_weights_check():
    assert check_importance_weights(student_weights).startswith("OK")
    for kwargs, match in [
        (dict(factor=False), "without the factor n_s / n_t"),
        (dict(swap=True), "odds are upside down"),
        (dict(column=0), "odds are upside down"),
        (dict(proba=False), "predict_proba"),
    ]:
        with pytest.raises(CheckFailed, match=match):
            check_importance_weights(lambda xs, xt, kw=kwargs: student_weights(xs, xt, **kw))
    with pytest.raises(CheckFailed, match="upside down: multiply the odds by n_s / n_t"):
        check_importance_weights(lambda xs, xt: student_weights(xs, xt) * (len(xt) / len(xs)) ** 2)
    with pytest.raises(CheckFailed, match="one per target point"):
        check_importance_weights(lambda xs, xt: student_weights(xt, xs))
    with pytest.raises(CheckFailed, match="expected weights with mean"):
        check_importance_weights(lambda xs, xt: np.ones(len(xs)))
