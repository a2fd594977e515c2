import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from wrong_answers import lesson01 as wrong01

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


# Wrong answers written independently of the checkers (tests/wrong_answers), each with the
# mistake its message must name.
WEIGHTS_MESSAGES = {
    "odds without n_S/n_T": "without the factor n_s / n_t",
    "factor n_T/n_S": "factor is upside down",
    "predict_proba column 0": "odds are upside down",
    "weights of the target points": "one per target point",
    "returns p, not odds": "probabilities p = P",
    "normalised to mean 1": "up to a constant factor",
    "class_weight='balanced' plus factor": "class_weight='balanced'",
    "target labels of source length (crash)": "one entry per row",
    "np.hstack (crash)": "np.vstack",
    "fit on source only (crash)": "both domains",
    "predict instead of predict_proba": "predict_proba",
}
ESS_MESSAGES = {
    "ESS / n": "divided by n",
    "inverted ratio": "1 / ESS",
    "numerator not squared": "square the sum",
    "denominator squared": "expected .* got",
    "1 / sum w^2 unnormalised": "expected .* got",
    "^ as power (crash)": "bitwise xor",
    "n/(1+cv^2) with ddof=1": "population variance",
    "rounded to int": "not rounded",
    "torch.sum on NumPy (crash)": "NumPy array",
    "mean(w)^2/mean(w^2) without n": "divided by n",
}
# values right, only the container differs: the lesson converts with np.asarray
ACCEPTED = {"returns a torch tensor"}


@pytest.mark.parametrize("label, answer", wrong01.WRONG_IMPORTANCE_WEIGHTS)
def test_importance_weights_wrong_answers_are_named(label, answer):
    if label in ACCEPTED:
        assert check_importance_weights(answer).ok
        return
    with pytest.raises(CheckFailed, match=WEIGHTS_MESSAGES[label]):
        check_importance_weights(answer)


@pytest.mark.parametrize("label, answer", wrong01.WRONG_ESS)
def test_ess_wrong_answers_are_named(label, answer):
    with pytest.raises(CheckFailed, match=ESS_MESSAGES[label]):
        check_effective_sample_size(answer)


@pytest.mark.parametrize(
    "label, answer", wrong01.RIGHT_IMPORTANCE_WEIGHTS + wrong01.RIGHT_ESS, ids=lambda x: str(x)
)
def test_right_answers_written_differently_pass(label, answer):
    check = check_ess_or_weights(answer)
    assert check.ok, label


def check_ess_or_weights(answer):
    """The checker of the exercise `answer` answers (by its number of arguments)."""
    if answer.__code__.co_argcount == 1:
        return check_effective_sample_size(answer)
    return check_importance_weights(answer)
