import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from dannlib.reweighting import (
    clip_weights,
    domain_probabilities,
    effective_sample_size,
    importance_weights,
)


def gaussians(n_s=2000, n_t=2000, mean=(1.0, 0.5), seed=0):
    """Source N(0, I), target N(mean, I) and the true density ratio at the source points."""
    rng = np.random.default_rng(seed)
    mean = np.asarray(mean)
    xs = rng.normal(size=(n_s, 2))
    xt = rng.normal(size=(n_t, 2)) + mean
    true_log_ratio = xs @ mean - mean @ mean / 2
    return xs, xt, true_log_ratio


def test_weights_recover_the_density_ratio_of_two_gaussians():
    # With equal covariances the log density ratio is linear: logistic regression is exact.
    xs, xt, true_log = gaussians()
    w = importance_weights(xs, xt)
    assert w.shape == (len(xs),) and (w > 0).all()
    assert np.corrcoef(np.log(w), true_log)[0, 1] > 0.99
    assert np.median(np.abs(np.log(w) - true_log)) < 0.1
    assert abs(w.mean() - 1.0) < 0.1  # E_source[w] = 1


def test_weights_are_scaled_by_the_domain_sizes():
    xs, xt, true_log = gaussians(n_s=1000, n_t=3000)
    w = importance_weights(xs, xt)
    # the classifier's prior odds are n_t / n_s = 3; the n_s / n_t factor removes them
    assert abs(w.mean() - 1.0) < 0.15
    assert np.median(np.abs(np.log(w) - true_log)) < 0.15


def test_identical_domains_give_equal_weights_and_full_sample_size():
    rng = np.random.default_rng(1)
    xs, xt = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2))
    w = importance_weights(xs, xt)
    assert np.allclose(w, 1.0, atol=0.15)
    assert effective_sample_size(w) > 0.98 * len(xs)


def test_effective_sample_size_falls_as_the_domains_separate():
    sizes = []
    for shift in [0.0, 1.0, 2.0, 3.0]:
        xs, xt, _ = gaussians(1000, 1000, mean=(shift, 0.0), seed=2)
        sizes.append(effective_sample_size(importance_weights(xs, xt)))
    assert all(a > b for a, b in zip(sizes, sizes[1:])), sizes
    assert sizes[-1] < 0.05 * 1000


def test_probabilities_match_a_hand_fit_logistic_regression():
    xs, xt, _ = gaussians(300, 200, seed=3)
    x = np.vstack([xs, xt])
    d = np.r_[np.zeros(300), np.ones(200)]
    expected = LogisticRegression().fit(x, d).predict_proba(xs)[:, 1]
    assert np.allclose(domain_probabilities(xs, xt), expected)
    p = expected.clip(1e-6, 1 - 1e-6)
    assert np.allclose(importance_weights(xs, xt), p / (1 - p) * 300 / 200)


def test_tensors_are_accepted_and_the_classifier_is_not_modified():
    xs, xt, _ = gaussians(200, 200, seed=4)
    clf = LogisticRegression(C=0.5)
    w_np = importance_weights(xs, xt, classifier=clf)
    w_t = importance_weights(
        torch.tensor(xs, dtype=torch.float64), torch.tensor(xt), classifier=clf
    )
    assert np.allclose(w_np, w_t)
    assert not hasattr(clf, "coef_")  # a clone was fit, not the caller's estimator


def test_out_of_fold_probabilities_tame_an_overconfident_forest():
    xs, xt, true_log = gaussians(1000, 1000, seed=5)
    forest = RandomForestClassifier(n_estimators=50, random_state=0)
    in_sample = importance_weights(xs, xt, classifier=forest)
    out_of_fold = importance_weights(xs, xt, classifier=forest, cv=5)
    # scored on its own training points, the forest calls most source points "surely source"
    assert np.median(in_sample) < 0.2
    assert (
        np.corrcoef(np.log(out_of_fold), true_log)[0, 1]
        > np.corrcoef(np.log(in_sample), true_log)[0, 1]
    )


def test_clipping_caps_the_weights():
    xs, xt, _ = gaussians(500, 500, mean=(3.0, 0.0), seed=6)
    w = importance_weights(xs, xt)
    assert w.max() > 20
    clipped = importance_weights(xs, xt, clip=20.0)
    assert clipped.max() == pytest.approx(20.0)
    assert np.array_equal(clipped, np.minimum(w, 20.0))
    assert effective_sample_size(clipped) > effective_sample_size(w)
    assert np.array_equal(clip_weights([0.5, 3.0, 10.0], 2.0), [0.5, 2.0, 2.0])
    with pytest.raises(ValueError, match="finite number > 0"):
        importance_weights(xs, xt, clip=0)
    with pytest.raises(ValueError, match="finite number > 0"):
        clip_weights(w, -1.0)


def test_extreme_probabilities_give_finite_weights():
    xs = np.zeros((50, 1))
    xt = np.full((50, 1), 100.0)  # perfectly separable
    w = importance_weights(xs, xt, classifier=LogisticRegression(C=1e6), eps=1e-6)
    assert np.isfinite(w).all() and (w > 0).all()


def test_effective_sample_size_known_values():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10.0)
    assert effective_sample_size([0.0, 0.0, 5.0]) == pytest.approx(1.0)
    assert effective_sample_size([1.0, 1.0, 2.0]) == pytest.approx(16 / 6)
    w = np.random.default_rng(0).exponential(size=100)
    assert effective_sample_size(w) == pytest.approx(effective_sample_size(7.0 * w))
    assert effective_sample_size(torch.ones(4)) == pytest.approx(4.0)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([], "at least one"),
        ([1.0, -1.0], "non-negative"),
        ([0.0, 0.0], "zero"),
        ([1.0, np.inf], "finite"),
    ],
)
def test_effective_sample_size_rejects_bad_weights(bad, match):
    with pytest.raises(ValueError, match=match):
        effective_sample_size(bad)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="features"):
        importance_weights(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="need source and target"):
        importance_weights(np.zeros((0, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        importance_weights(np.full((5, 2), np.nan), np.zeros((5, 2)))
