"""Lesson 04's checkers accept right answers and name each likely mistake.

Every wrong solution below is written out here, the way a student would write it, not taken
from the checker, and must produce the message that names its mistake.
"""

from copy import deepcopy

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn
from wrong_answers import lesson04 as wrong04

from dannlib.data.base import to_float
from dannlib.evaluation import extract_features
from dannlib.exercises import CheckFailed
from dannlib.exercises.lesson04 import check_domain_features, check_proxy_a_distance
from dannlib.metrics import proxy_a_distance


def _bn_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


# --- Exercise 1: my_domain_features ------------------------------------------------------


def _estimate_then_read(model, x, reset=True, momentum=None, restore=True):
    """A student's reading: re-estimate the batch-norm statistics on x, read in eval mode."""
    layers = _bn_layers(model)
    saved = [(m.momentum, deepcopy(m.state_dict())) for m in layers]
    was_training = model.training
    model.eval()
    for m in layers:
        if reset:
            m.reset_running_stats()
        if momentum != "keep":
            m.momentum = momentum
        m.train()
    with torch.no_grad():
        model(to_float(x))
        model.eval()
        out = model.features(to_float(x))
    if restore:
        for m, (mom, state) in zip(layers, saved):
            m.momentum = mom
            m.load_state_dict(state)
        model.train(was_training)
    return out


def right_own(model, x):
    return _estimate_then_read(model, x)


def right_on_a_copy(model, x):
    copy = deepcopy(model)
    for m in _bn_layers(copy):
        m.reset_running_stats()
        m.momentum = None
    copy.train()  # dropout on while estimating does not touch the feature extractor's BN
    with torch.no_grad():
        copy(to_float(x))
        return copy.eval().features(to_float(x))


def pooled(model, x):
    copy = deepcopy(model).eval()
    with torch.no_grad():
        return copy.features(to_float(x))


def batch_statistics(model, x):
    copy = deepcopy(model).eval()
    for m in _bn_layers(copy):
        m.train()
    with torch.no_grad():
        return copy.features(to_float(x))


def momentum_left(model, x):
    return _estimate_then_read(model, x, momentum="keep")


def not_reset(model, x):
    return _estimate_then_read(model, x, reset=False)


def neither_reset_nor_momentum(model, x):
    return _estimate_then_read(model, x, reset=False, momentum="keep")


def dropout_on(model, x):
    copy = deepcopy(model)
    for m in _bn_layers(copy):
        m.reset_running_stats()
        m.momentum = None
    copy.train()
    with torch.no_grad():
        copy(to_float(x))
        for m in _bn_layers(copy):
            m.eval()
        return copy.features(to_float(x))  # dropout still in training mode


def statistics_not_restored(model, x):
    return _estimate_then_read(model, x, restore=False)


def momentum_not_restored(model, x):
    out = _estimate_then_read(model, x)
    for m in _bn_layers(model):
        m.momentum = None
    return out


def left_in_eval_mode(model, x):
    out = _estimate_then_read(model, x)
    model.eval()
    return out


def uint8_into_the_network(model, x):
    with torch.no_grad():
        return deepcopy(model).eval().features(x)


def whole_model_output(model, x):
    copy = deepcopy(model).eval()
    with torch.no_grad():
        return copy(to_float(x))


def not_done(model, x):
    raise NotImplementedError("Student exercise: read the features with x's batch-norm statistics")


@pytest.mark.parametrize(
    "answer",
    [lambda m, x: extract_features(m, x, adapt_bn=True), right_own, right_on_a_copy],
    ids=["library", "own", "on a copy"],
)
def test_right_readings_pass(answer):
    verdict = check_domain_features(answer)
    assert verdict.ok and verdict.startswith("OK")


@pytest.mark.parametrize(
    "wrong, message",
    [
        (pooled, "pooled running statistics"),
        (batch_statistics, "batch's statistics during the forward pass"),
        (momentum_left, "momentum 0.1 keeps 0.9"),
        (not_reset, "reset_running_stats"),
        (neither_reset_nor_momentum, "mostly the old ones"),
        (dropout_on, "dropout is on"),
        (statistics_not_restored, "running statistics changed"),
        (momentum_not_restored, "momentum changed"),
        (left_in_eval_mode, "came back in eval mode"),
        (uint8_into_the_network, "to_float"),
        (whole_model_output, "model.features"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_domain_features_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_domain_features(wrong)


def test_domain_features_not_done_yet():
    verdict = check_domain_features(not_done)
    assert not verdict.ok and verdict.startswith("not done yet")


# --- Exercise 2: my_proxy_a_distance -------------------------------------------------------


def _halves(a, b, seed=7):
    """Half of each domain for training, the other halves for testing (a student's split)."""
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    a, b = a[rng.permutation(len(a))[:n]], b[rng.permutation(len(b))[:n]]
    h = n // 2
    train = np.vstack([a[:h], b[:h]]), np.array([0] * h + [1] * h)
    test = np.vstack([a[h:], b[h:]]), np.array([0] * (n - h) + [1] * (n - h))
    return train, test


def _fit(x, y, scale=True):
    scaler = StandardScaler().fit(x) if scale else None
    clf = LogisticRegression(max_iter=3000).fit(scaler.transform(x) if scale else x, y)
    return lambda z: clf.predict(scaler.transform(z) if scale else z)


def pad_own(a, b):
    (xtr, ytr), (xte, yte) = _halves(a, b)
    err = np.mean(_fit(xtr, ytr)(xte) != yte)
    return 2 * (1 - 2 * min(err, 0.5))


def pad_error_on_training_half(a, b):
    (xtr, ytr), _ = _halves(a, b)
    return 2 * (1 - 2 * np.mean(_fit(xtr, ytr)(xtr) != ytr))


def pad_error_on_all_rows(a, b):
    x, y = np.vstack([a, b]), np.r_[np.zeros(len(a)), np.ones(len(b))]
    return 2 * (1 - 2 * np.mean(_fit(x, y)(x) != y))


def pad_not_standardised(a, b):
    (xtr, ytr), (xte, yte) = _halves(a, b)
    err = np.mean(_fit(xtr, ytr, scale=False)(xte) != yte)
    return 2 * (1 - 2 * min(err, 0.5))


def pad_accuracy_for_error(a, b):
    (xtr, ytr), (xte, yte) = _halves(a, b)
    acc = np.mean(_fit(xtr, ytr)(xte) == yte)
    return 2 * (1 - 2 * acc)


def pad_without_factor_2(a, b):
    (xtr, ytr), (xte, yte) = _halves(a, b)
    return 1 - 2 * min(np.mean(_fit(xtr, ytr)(xte) != yte), 0.5)


def pad_one_domain_per_half(a, b):
    n = min(len(a), len(b))
    x = np.vstack([a[:n], b[:n]])
    y = np.r_[np.zeros(n), np.ones(n)]
    err = np.mean(_fit(x[:n], y[:n])(x[n:]) != y[n:])  # trains on the source rows only
    return 2 * (1 - 2 * err)


def pad_returns_text(a, b):
    return f"d_A = {pad_own(a, b):.2f}"


def pad_calls_torch(a, b):
    return float(torch.cat([a, b]).std())  # arrays are NumPy, not tensors


@pytest.mark.parametrize(
    "answer", [lambda a, b: proxy_a_distance(a, b).distance, pad_own], ids=["library", "own"]
)
def test_right_proxy_a_distances_pass(answer):
    verdict = check_proxy_a_distance(answer)
    assert verdict.ok and verdict.startswith("OK")


@pytest.mark.parametrize(
    "wrong, message",
    [
        (pad_error_on_training_half, "in-sample"),
        (pad_error_on_all_rows, "in-sample"),
        (pad_not_standardised, "standardise the columns"),
        (pad_accuracy_for_error, "accuracy where the error belongs"),
        (pad_without_factor_2, "factor 2"),
        (pad_one_domain_per_half, "only one domain"),
        (pad_returns_text, "not a number"),
        (pad_calls_torch, "gets two NumPy arrays"),
        (lambda a, b: 1.3, "expected d_A about"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_proxy_a_distance_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_proxy_a_distance(wrong)


def test_proxy_a_distance_not_done_yet():
    def stub(a, b):
        raise NotImplementedError("Student exercise: compute the proxy A-distance")

    assert check_proxy_a_distance(stub).startswith("not done yet")


def test_in_sample_error_is_far_from_the_library_on_identical_samples():
    """The issue's case: identical 300-dimensional Gaussians, d_A about 0 held out."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 300)), rng.normal(size=(400, 300))
    assert proxy_a_distance(a, b).distance < 0.3
    assert pad_error_on_training_half(a, b) > 1.5


# Wrong answers written independently of the checkers (tests/wrong_answers), each with the
# mistake its message must name; None: accepted, with the reason.
FEATURES_MESSAGES = {
    "plain model.eval()": "pooled running statistics",
    "model.train() forward": "running statistics changed",
    "statistics not restored": "running statistics changed",
    "momentum not restored": "momentum changed",
    "left in eval mode": "came back in eval mode",
    "momentum kept at 0.1": "momentum 0.1 keeps 0.9",
    "momentum None, no reset": "reset_running_stats",
    "reset, no pass": "reset values .* pass x through the network once",
    "x.float() not /255": "0-255 values .* to_float",
    "no to_float (crash)": "to_float",
    # the course network has no dropout before a batch-norm layer of the feature extractor:
    # dropout on while estimating gives the same statistics
    "dropout on while estimating": None,
    # right values in a NumPy array: the lesson converts with torch.as_tensor
    "returns NumPy": None,
}
PAD_MESSAGES = {
    "error on the training half": "in-sample",
    "no held-out half": "in-sample",
    "2(1 - err)": "doubled inside the brackets",
    "accuracy for error": "accuracy where the error belongs",
    "not standardised": "standardise the columns",
    "returns the error": "held-out error itself",
    "unshuffled halves (crash)": "only one domain",
    # the same estimate up to noise on every case (the scaler's statistics barely move, a
    # held-out error above 1/2 is rare, and the task's classifier is one linear classifier
    # among others): accepted
    "error above 1/2 not clipped": None,
    "scaler fit on all rows": None,
    "min(err, 1-err)": None,
    "scaler fit on each half": None,
    "linear SVM": None,
}


@pytest.mark.parametrize("label, answer", wrong04.WRONG_DOMAIN_FEATURES)
def test_domain_features_wrong_answers_are_named(label, answer):
    if FEATURES_MESSAGES[label] is None:
        assert check_domain_features(answer).ok
        return
    with pytest.raises(CheckFailed, match=FEATURES_MESSAGES[label]):
        check_domain_features(answer)


@pytest.mark.parametrize("label, answer", wrong04.WRONG_PROXY_A_DISTANCE)
def test_proxy_a_distance_wrong_answers_are_named(label, answer):
    if PAD_MESSAGES[label] is None:
        assert check_proxy_a_distance(answer).ok
        return
    with pytest.raises(CheckFailed, match=PAD_MESSAGES[label]):
        check_proxy_a_distance(answer)


@pytest.mark.parametrize(
    "label, answer", wrong04.RIGHT_DOMAIN_FEATURES + wrong04.RIGHT_PROXY_A_DISTANCE
)
def test_independent_right_answers_pass(label, answer):
    check = check_domain_features if "features" in answer.__name__ else check_proxy_a_distance
    assert check(answer).ok
