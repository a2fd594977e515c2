"""Lesson 04: my_domain_features(model, x) and
my_proxy_a_distance(source_rows, target_rows, seed)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from dannlib.data.base import to_float
from dannlib.models import batchnorm_layers

# --- my_domain_features ---------------------------------------------------------------------


def _bn_layers(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def features_plain_eval(model, x):
    """Plain model.eval(): the pooled running statistics, not x's own."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        f = model.features(to_float(x))
    model.train(was_training)
    return f


def features_train_mode(model, x):
    """model.train() forward: batch statistics, but dropout on and the running stats changed."""
    was_training = model.training
    model.train()
    with torch.no_grad():
        f = model.features(to_float(x))
    model.train(was_training)
    return f


def features_state_not_restored(model, x):
    """Re-estimates the statistics right, but never puts the old ones back."""
    was_training = model.training
    for m in _bn_layers(model):
        m.reset_running_stats()
        m.momentum = None
    model.eval()
    with torch.no_grad():
        for m in _bn_layers(model):
            m.train()
        model.features(to_float(x))
        model.eval()
        f = model.features(to_float(x))
    model.train(was_training)
    return f


def features_momentum_not_restored(model, x):
    """Statistics restored, momentum left at None."""
    was_training = model.training
    saved = [copy.deepcopy(m.state_dict()) for m in _bn_layers(model)]
    model.eval()
    with torch.no_grad():
        for m in _bn_layers(model):
            m.reset_running_stats()
            m.momentum = None
            m.train()
        model.features(to_float(x))
        model.eval()
        f = model.features(to_float(x))
    for m, s in zip(_bn_layers(model), saved):
        m.load_state_dict(s)
    model.train(was_training)
    return f


def features_left_in_eval(model, x):
    """Right features, but the model is left in eval mode whatever mode it was in."""
    layers = _bn_layers(model)
    saved = [(m.momentum, copy.deepcopy(m.state_dict())) for m in layers]
    model.eval()
    with torch.no_grad():
        for m in layers:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        model.features(to_float(x))
        model.eval()
        f = model.features(to_float(x))
    for m, (mom, s) in zip(layers, saved):
        m.momentum = mom
        m.load_state_dict(s)
    return f


def features_momentum_kept(model, x):
    """Statistics reset but momentum kept at 0.1: one pass moves them only 10% from 0 / 1."""
    was_training = model.training
    layers = _bn_layers(model)
    saved = [copy.deepcopy(m.state_dict()) for m in layers]
    model.eval()
    with torch.no_grad():
        for m in layers:
            m.reset_running_stats()
            m.train()
        model.features(to_float(x))
        model.eval()
        f = model.features(to_float(x))
    for m, s in zip(layers, saved):
        m.load_state_dict(s)
    model.train(was_training)
    return f


def features_no_reset(model, x):
    """momentum = None without reset_running_stats: the old count dominates, stats barely move."""
    was_training = model.training
    layers = _bn_layers(model)
    saved = [(m.momentum, copy.deepcopy(m.state_dict())) for m in layers]
    model.eval()
    with torch.no_grad():
        for m in layers:
            m.momentum = None
            m.train()
        model.features(to_float(x))
        model.eval()
        f = model.features(to_float(x))
    for m, (mom, s) in zip(layers, saved):
        m.momentum = mom
        m.load_state_dict(s)
    model.train(was_training)
    return f


def features_reset_without_pass(model, x):
    """reset_running_stats() and straight to eval: normalised with mean 0, variance 1."""
    was_training = model.training
    layers = _bn_layers(model)
    saved = [copy.deepcopy(m.state_dict()) for m in layers]
    for m in layers:
        m.reset_running_stats()
    model.eval()
    with torch.no_grad():
        f = model.features(to_float(x))
    for m, s in zip(layers, saved):
        m.load_state_dict(s)
    model.train(was_training)
    return f


def features_dropout_on(model, x):
    """Re-estimates with model.train() (dropout on during the pass that sets the statistics)."""
    was_training = model.training
    layers = _bn_layers(model)
    saved = [(m.momentum, copy.deepcopy(m.state_dict())) for m in layers]
    with torch.no_grad():
        for m in layers:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        model.features(to_float(x))
        model.eval()
        f = model.features(to_float(x))
    for m, (mom, s) in zip(layers, saved):
        m.momentum = mom
        m.load_state_dict(s)
    model.train(was_training)
    return f


def features_no_to_float(model, x):
    """uint8 images straight into the network: PyTorch raises a dtype error."""
    model.eval()
    with torch.no_grad():
        return model.features(x)


def features_not_scaled(model, x):
    """x.float() without dividing by 255."""
    layers = _bn_layers(model)
    was_training = model.training
    saved = [(m.momentum, copy.deepcopy(m.state_dict())) for m in layers]
    xf = x.float()
    model.eval()
    with torch.no_grad():
        for m in layers:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        model.features(xf)
        model.eval()
        f = model.features(xf)
    for m, (mom, s) in zip(layers, saved):
        m.momentum = mom
        m.load_state_dict(s)
    model.train(was_training)
    return f


def features_returns_numpy(model, x):
    """Right values, returned as a NumPy array."""
    return features_right_in_place(model, x).numpy()


WRONG_DOMAIN_FEATURES = [
    ("plain model.eval()", features_plain_eval),
    ("model.train() forward", features_train_mode),
    ("statistics not restored", features_state_not_restored),
    ("momentum not restored", features_momentum_not_restored),
    ("left in eval mode", features_left_in_eval),
    ("momentum kept at 0.1", features_momentum_kept),
    ("momentum None, no reset", features_no_reset),
    ("reset, no pass", features_reset_without_pass),
    ("dropout on while estimating", features_dropout_on),
    ("no to_float (crash)", features_no_to_float),
    ("x.float() not /255", features_not_scaled),
    ("returns NumPy", features_returns_numpy),
]


def features_right_in_place(model, x):
    """Right: re-estimate on x in one pass, features in eval mode, everything restored."""
    layers = _bn_layers(model)
    was_training = model.training
    saved = [(m.momentum, copy.deepcopy(m.state_dict())) for m in layers]
    xf = to_float(x)
    try:
        model.eval()
        with torch.no_grad():
            for m in layers:
                m.reset_running_stats()
                m.momentum = None
                m.train()
            model(xf)
            model.eval()
            return model.features(xf)
    finally:
        for m, (mom, s) in zip(layers, saved):
            m.momentum = mom
            m.load_state_dict(s)
        model.train(was_training)


def features_right_copy(model, x):
    """Right: work on a deep copy (the model is never touched); only the features' layers."""
    clone = copy.deepcopy(model).eval()
    xf = to_float(x)
    with torch.inference_mode():
        for m in batchnorm_layers(clone.features):
            m.reset_running_stats()
            m.momentum = None
            m.train()
        clone.features(xf)
        clone.eval()
        return clone.features(xf)


RIGHT_DOMAIN_FEATURES = [
    ("in place, restored in finally", features_right_in_place),
    ("deep copy, features only", features_right_copy),
]


# --- my_proxy_a_distance --------------------------------------------------------------------


def _rows(a):
    a = a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)
    return a.reshape(len(a), -1).astype(np.float64)


def _halves(xs, xt, seed):
    rng = np.random.default_rng(seed)
    xs, xt = xs[rng.permutation(len(xs))], xt[rng.permutation(len(xt))]
    hs, ht = len(xs) // 2, len(xt) // 2
    x_train = np.vstack([xs[:hs], xt[:ht]])
    y_train = np.r_[np.zeros(hs), np.ones(ht)]
    x_test = np.vstack([xs[hs:], xt[ht:]])
    y_test = np.r_[np.zeros(len(xs) - hs), np.ones(len(xt) - ht)]
    return x_train, y_train, x_test, y_test


def _error(x_train, y_train, x_test, y_test, scale=True, classifier=None):
    if scale:
        scaler = StandardScaler().fit(x_train)
        x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    clf = (classifier or LogisticRegression(max_iter=2000)).fit(x_train, y_train)
    return float(np.mean(clf.predict(x_test) != y_test))


def pad_error_on_training_half(source_rows, target_rows, seed=0):
    """The error measured on the training half."""
    x_train, y_train, _, _ = _halves(_rows(source_rows), _rows(target_rows), seed)
    err = min(_error(x_train, y_train, x_train, y_train), 0.5)
    return 2 * (1 - 2 * err)


def pad_not_clipped(source_rows, target_rows, seed=0):
    """An error above 1/2 not counted as 1/2: d_A can go negative."""
    err = _error(*_halves(_rows(source_rows), _rows(target_rows), seed))
    return 2 * (1 - 2 * err)


def pad_formula_one_minus_err(source_rows, target_rows, seed=0):
    """2 (1 - err): the 2 inside dropped."""
    err = min(_error(*_halves(_rows(source_rows), _rows(target_rows), seed)), 0.5)
    return 2 * (1 - err)


def pad_accuracy_for_error(source_rows, target_rows, seed=0):
    """The accuracy put where the error goes: 2 (1 - 2 acc)."""
    err = min(_error(*_halves(_rows(source_rows), _rows(target_rows), seed)), 0.5)
    return 2 * (1 - 2 * (1 - err))


def pad_not_standardised(source_rows, target_rows, seed=0):
    """No standardisation."""
    err = _error(*_halves(_rows(source_rows), _rows(target_rows), seed), scale=False)
    return 2 * (1 - 2 * min(err, 0.5))


def pad_scaler_on_all_rows(source_rows, target_rows, seed=0):
    """Scaler fit on all rows (train and test) before the split."""
    xs, xt = _rows(source_rows), _rows(target_rows)
    scaler = StandardScaler().fit(np.vstack([xs, xt]))
    x_train, y_train, x_test, y_test = _halves(scaler.transform(xs), scaler.transform(xt), seed)
    err = _error(x_train, y_train, x_test, y_test, scale=False)
    return 2 * (1 - 2 * min(err, 0.5))


def pad_returns_error(source_rows, target_rows, seed=0):
    """Returns the held-out error instead of d_A."""
    return min(_error(*_halves(_rows(source_rows), _rows(target_rows), seed)), 0.5)


def pad_symmetric_error(source_rows, target_rows, seed=0):
    """min(err, 1 - err) instead of min(err, 1/2): a worse-than-chance classifier flipped."""
    err = _error(*_halves(_rows(source_rows), _rows(target_rows), seed))
    return 2 * (1 - 2 * min(err, 1 - err))


def pad_no_hold_out(source_rows, target_rows, seed=0):
    """Trained and scored on all rows (no held-out half)."""
    xs, xt = _rows(source_rows), _rows(target_rows)
    x = np.vstack([xs, xt])
    y = np.r_[np.zeros(len(xs)), np.ones(len(xt))]
    return 2 * (1 - 2 * min(_error(x, y, x, y), 0.5))


def pad_unshuffled_concatenation(source_rows, target_rows, seed=0):
    """First half of [source; target] for training: all source, one class, sklearn raises."""
    xs, xt = _rows(source_rows), _rows(target_rows)
    x = np.vstack([xs, xt])
    y = np.r_[np.zeros(len(xs)), np.ones(len(xt))]
    h = len(x) // 2
    return 2 * (1 - 2 * min(_error(x[:h], y[:h], x[h:], y[h:]), 0.5))


def pad_scaler_per_half(source_rows, target_rows, seed=0):
    """A separate scaler fit on each half (the test half standardised with its own statistics)."""
    x_train, y_train, x_test, y_test = _halves(_rows(source_rows), _rows(target_rows), seed)
    x_train = StandardScaler().fit_transform(x_train)
    x_test = StandardScaler().fit_transform(x_test)
    err = _error(x_train, y_train, x_test, y_test, scale=False)
    return 2 * (1 - 2 * min(err, 0.5))


def pad_linear_svm(source_rows, target_rows, seed=0):
    """A linear SVM (the paper's choice) instead of the logistic regression the task asks for."""
    err = _error(
        *_halves(_rows(source_rows), _rows(target_rows), seed), classifier=LinearSVC(C=1.0)
    )
    return 2 * (1 - 2 * min(err, 0.5))


WRONG_PROXY_A_DISTANCE = [
    ("error on the training half", pad_error_on_training_half),
    ("error above 1/2 not clipped", pad_not_clipped),
    ("2(1 - err)", pad_formula_one_minus_err),
    ("accuracy for error", pad_accuracy_for_error),
    ("not standardised", pad_not_standardised),
    ("scaler fit on all rows", pad_scaler_on_all_rows),
    ("returns the error", pad_returns_error),
    ("min(err, 1-err)", pad_symmetric_error),
    ("no held-out half", pad_no_hold_out),
    ("unshuffled halves (crash)", pad_unshuffled_concatenation),
    ("scaler fit on each half", pad_scaler_per_half),
    ("linear SVM", pad_linear_svm),
]


def pad_right_train_test_split(source_rows, target_rows, seed=0):
    """Right: stratified train_test_split (half and half), scaler on the training half."""
    xs, xt = _rows(source_rows), _rows(target_rows)
    x = np.vstack([xs, xt])
    y = np.r_[np.zeros(len(xs)), np.ones(len(xt))]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.5, random_state=seed, stratify=y)
    err = _error(x_tr, y_tr, x_te, y_te)
    return 2.0 * (1.0 - 2.0 * min(err, 0.5))


def pad_right_labels_swapped(source_rows, target_rows, seed=0):
    """Right: source labelled 1 and target 0 (the error does not care), torch permutation."""
    xs, xt = _rows(source_rows), _rows(target_rows)
    g = torch.Generator().manual_seed(seed)
    ps, pt = torch.randperm(len(xs), generator=g).numpy(), torch.randperm(len(xt), generator=g)
    xs, xt = xs[ps], xt[pt.numpy()]
    hs, ht = len(xs) // 2, len(xt) // 2
    x_tr, x_te = np.vstack([xs[:hs], xt[:ht]]), np.vstack([xs[hs:], xt[ht:]])
    y_tr = np.r_[np.ones(hs), np.zeros(ht)]
    y_te = np.r_[np.ones(len(xs) - hs), np.zeros(len(xt) - ht)]
    err = _error(x_tr, y_tr, x_te, y_te)
    return 2 * (1 - 2 * min(err, 0.5))


RIGHT_PROXY_A_DISTANCE = [
    ("train_test_split stratified", pad_right_train_test_split),
    ("labels swapped, torch permutation", pad_right_labels_swapped),
]
