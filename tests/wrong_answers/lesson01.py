"""Lesson 01: my_importance_weights(xs, xt) and my_ess(w)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression


def _domain_data(xs, xt):
    x = np.vstack([xs, xt])
    d = np.concatenate([np.zeros(len(xs)), np.ones(len(xt))])
    return x, d


# --- my_importance_weights ------------------------------------------------------------------


def iw_no_prior_factor(xs, xt):
    """Odds p / (1 - p) without the n_S / n_T factor."""
    x, d = _domain_data(xs, xt)
    p = LogisticRegression().fit(x, d).predict_proba(xs)[:, 1]
    return p / (1 - p)


def iw_factor_inverted(xs, xt):
    """The prior factor upside down: n_T / n_S."""
    x, d = _domain_data(xs, xt)
    p = LogisticRegression().fit(x, d).predict_proba(xs)[:, 1]
    return p / (1 - p) * len(xt) / len(xs)


def iw_wrong_column(xs, xt):
    """predict_proba(...)[:, 0] taken as P(target): the weights are the inverse odds."""
    x, d = _domain_data(xs, xt)
    p = LogisticRegression().fit(x, d).predict_proba(xs)[:, 0]
    return p / (1 - p) * len(xs) / len(xt)


def iw_weights_of_target_points(xs, xt):
    """Weights computed for the target points instead of the source points."""
    x, d = _domain_data(xs, xt)
    p = LogisticRegression().fit(x, d).predict_proba(xt)[:, 1]
    return p / (1 - p) * len(xs) / len(xt)


def iw_returns_probability(xs, xt):
    """Returns p = P(target | x) itself, not the odds."""
    x, d = _domain_data(xs, xt)
    return LogisticRegression().fit(x, d).predict_proba(xs)[:, 1]


def iw_normalised_to_mean_one(xs, xt):
    """Right odds, then divided by their mean (self-normalised: not p_T / p_S any more)."""
    x, d = _domain_data(xs, xt)
    p = LogisticRegression().fit(x, d).predict_proba(xs)[:, 1]
    w = p / (1 - p) * len(xs) / len(xt)
    return w / w.mean()


def iw_balanced_and_factor(xs, xt):
    """class_weight='balanced' (already removes the prior) and the n_S / n_T factor on top."""
    x, d = _domain_data(xs, xt)
    p = LogisticRegression(class_weight="balanced").fit(x, d).predict_proba(xs)[:, 1]
    return p / (1 - p) * len(xs) / len(xt)


def iw_labels_of_source_length(xs, xt):
    """np.ones(len(xs)) for the target labels (copy-paste slip): sklearn raises a length error."""
    x = np.vstack([xs, xt])
    d = np.concatenate([np.zeros(len(xs)), np.ones(len(xs))])
    p = LogisticRegression().fit(x, d).predict_proba(xs)[:, 1]
    return p / (1 - p) * len(xs) / len(xt)


def iw_hstack(xs, xt):
    """np.hstack instead of np.vstack: a shape error for domains of different sizes."""
    x = np.hstack([xs, xt])
    d = np.concatenate([np.zeros(len(xs)), np.ones(len(xt))])
    p = LogisticRegression().fit(x, d).predict_proba(xs)[:, 1]
    return p / (1 - p) * len(xs) / len(xt)


def iw_fit_on_source_only(xs, xt):
    """Fits the classifier on the source points only (one class): sklearn raises."""
    p = LogisticRegression().fit(xs, np.zeros(len(xs))).predict_proba(xs)[:, 1]
    return p / (1 - p) * len(xs) / len(xt)


def iw_predict_not_proba(xs, xt):
    """predict (hard 0/1 labels) instead of predict_proba: weights 0 or inf."""
    x, d = _domain_data(xs, xt)
    p = LogisticRegression().fit(x, d).predict(xs)
    with np.errstate(divide="ignore"):
        return p / (1 - p) * len(xs) / len(xt)


def iw_returns_tensor(xs, xt):
    """Right values, returned as a torch tensor instead of a NumPy array."""
    x, d = _domain_data(xs, xt)
    p = LogisticRegression().fit(x, d).predict_proba(xs)[:, 1]
    return torch.from_numpy(p / (1 - p) * len(xs) / len(xt))


WRONG_IMPORTANCE_WEIGHTS = [
    ("odds without n_S/n_T", iw_no_prior_factor),
    ("factor n_T/n_S", iw_factor_inverted),
    ("predict_proba column 0", iw_wrong_column),
    ("weights of the target points", iw_weights_of_target_points),
    ("returns p, not odds", iw_returns_probability),
    ("normalised to mean 1", iw_normalised_to_mean_one),
    ("class_weight='balanced' plus factor", iw_balanced_and_factor),
    ("target labels of source length (crash)", iw_labels_of_source_length),
    ("np.hstack (crash)", iw_hstack),
    ("fit on source only (crash)", iw_fit_on_source_only),
    ("predict instead of predict_proba", iw_predict_not_proba),
    ("returns a torch tensor", iw_returns_tensor),
]


def iw_right_decision_function(xs, xt):
    """Right: exp of the logistic regression's log-odds (decision_function) times n_S / n_T."""
    x, d = _domain_data(xs, xt)
    return np.exp(LogisticRegression().fit(x, d).decision_function(xs)) * len(xs) / len(xt)


def iw_right_log_proba(xs, xt):
    """Right: labels built with np.r_, log-probabilities subtracted, as float64."""
    x = np.concatenate([np.asarray(xs), np.asarray(xt)], axis=0)
    d = np.r_[np.zeros(len(xs), dtype=int), np.ones(len(xt), dtype=int)]
    logp = LogisticRegression().fit(x, d).predict_log_proba(xs)
    return np.exp(logp[:, 1] - logp[:, 0]) * (len(xs) / len(xt))


RIGHT_IMPORTANCE_WEIGHTS = [
    ("exp(decision_function) * n_S/n_T", iw_right_decision_function),
    ("exp(log p1 - log p0) * n_S/n_T", iw_right_log_proba),
]


# --- my_ess ---------------------------------------------------------------------------------


def ess_divided_by_n(w):
    """ESS divided by n: the fraction of the sample, not the number of points."""
    w = np.asarray(w, dtype=float)
    return w.sum() ** 2 / (w**2).sum() / len(w)


def ess_inverted(w):
    """The ratio upside down: sum w^2 / (sum w)^2."""
    w = np.asarray(w, dtype=float)
    return (w**2).sum() / w.sum() ** 2


def ess_numerator_not_squared(w):
    """sum w / sum w^2: the numerator's square forgotten."""
    w = np.asarray(w, dtype=float)
    return w.sum() / (w**2).sum()


def ess_square_of_sum_in_denominator(w):
    """(sum w)^2 / (sum w^2)^2: the denominator squared as well."""
    w = np.asarray(w, dtype=float)
    return w.sum() ** 2 / (w**2).sum() ** 2


def ess_unnormalised_inverse_square(w):
    """1 / sum w^2 without normalising the weights to sum to 1 first."""
    w = np.asarray(w, dtype=float)
    return 1.0 / (w**2).sum()


def ess_xor(w):
    """^ for a power (it is XOR in Python): NumPy raises a TypeError on floats."""
    return np.sum(w) ^ 2 / np.sum(w ^ 2)


def ess_sample_variance(w):
    """n / (1 + cv^2) with the sample variance (ddof=1): slightly off."""
    w = np.asarray(w, dtype=float)
    return len(w) / (1 + w.var(ddof=1) / w.mean() ** 2)


def ess_rounded(w):
    """Rounded to a whole number of points."""
    w = np.asarray(w, dtype=float)
    return int(round(w.sum() ** 2 / (w**2).sum()))


def ess_torch_on_numpy(w):
    """torch functions on a NumPy array: TypeError."""
    return torch.sum(w) ** 2 / torch.sum(w**2)


def ess_mean_form_without_n(w):
    """mean(w)^2 / mean(w^2): the ESS fraction again, through means (forgot to multiply by n)."""
    w = np.asarray(w, dtype=float)
    return w.mean() ** 2 / (w**2).mean()


WRONG_ESS = [
    ("ESS / n", ess_divided_by_n),
    ("inverted ratio", ess_inverted),
    ("numerator not squared", ess_numerator_not_squared),
    ("denominator squared", ess_square_of_sum_in_denominator),
    ("1 / sum w^2 unnormalised", ess_unnormalised_inverse_square),
    ("^ as power (crash)", ess_xor),
    ("n/(1+cv^2) with ddof=1", ess_sample_variance),
    ("rounded to int", ess_rounded),
    ("torch.sum on NumPy (crash)", ess_torch_on_numpy),
    ("mean(w)^2/mean(w^2) without n", ess_mean_form_without_n),
]


def ess_right_normalised(w):
    """Right: 1 / sum of squared normalised weights."""
    w = np.asarray(w, dtype=np.float64)
    return float(1.0 / np.sum((w / w.sum()) ** 2))


def ess_right_cv(w):
    """Right: n / (1 + cv^2) with the population variance (ddof=0), which equals Kish's form."""
    w = np.asarray(w, dtype=np.float64)
    return len(w) / (1.0 + w.var() / w.mean() ** 2)


RIGHT_ESS = [
    ("1/sum((w/sum w)^2)", ess_right_normalised),
    ("n/(1+cv^2) population variance", ess_right_cv),
]
