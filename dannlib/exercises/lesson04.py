"""Lesson 04's exercises: features read with per-domain batch-norm statistics, proxy A-distance.

Each checker runs the student's function on cases built to tell the right answer from the
likely wrong ones, computes those wrong answers itself, and names the one it recognises.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from dannlib.data.base import to_float
from dannlib.evaluation import extract_features
from dannlib.exercises import CheckFailed, call, checker, close
from dannlib.metrics import proxy_a_distance
from dannlib.models import batchnorm_layers, build_model

TOL = 1e-4  # features: float32 sums in another order differ by far less


# --- Exercise 1: features read with the domain's own batch-norm statistics ------------------

_FEATURES_USAGE = (
    "my_domain_features(model, x) gets a batch-norm DANN and uint8 images of ONE domain "
    "(N x 3 x 28 x 28) and returns the feature extractor's output, model.features(...), for them"
)
_FEATURES_HINTS = (
    (
        "unsigned char",
        "the images are uint8: convert them with to_float(x) (from dannlib.data.base) before "
        "they go through the network",
    ),
    (
        "Byte",
        "the images are uint8: convert them with to_float(x) (from dannlib.data.base) before "
        "they go through the network",
    ),
)

# Readings of x that a likely mistake produces: how the statistics were re-estimated, and
# what to tell the student when their features match that reading.
_FEATURE_MISTAKES = {
    "momentum_kept": (
        dict(reset=True, momentum=0.1),
        "your statistics moved only a tenth of the way to x's: after reset_running_stats() a "
        "batch-norm layer with momentum 0.1 keeps 0.9 of the reset values (mean 0, variance 1). "
        "Set m.momentum = None as well, so the layer averages exactly the batches you pass",
    ),
    "not_reset": (
        dict(reset=False, momentum=None),
        "your statistics still mix in the old ones: with momentum None a layer averages over "
        "every batch since its last reset, the training batches included. Call "
        "m.reset_running_stats() on every batch-norm layer first",
    ),
    "neither": (
        dict(reset=False, momentum=0.1),
        "your statistics are mostly the old ones (no reset_running_stats(), momentum still 0.1): "
        "reset every batch-norm layer's statistics and set its momentum to None before the pass "
        "over x",
    ),
    "no_pass": (
        dict(estimate=False),
        "your batch-norm layers normalise with the reset values (mean 0, variance 1): after "
        "reset_running_stats() pass x through the network once with the batch-norm layers in "
        "training mode (torch.no_grad()), so that they estimate x's statistics, then read the "
        "features in eval mode",
    ),
    "not_scaled": (
        dict(scaled=False),
        "your images went in as 0-255 values (x.float()): convert them with to_float(x) from "
        "dannlib.data.base, which scales uint8 images to [0, 1] as the network was trained",
    ),
}


def _reading(
    model: nn.Module,
    x: torch.Tensor,
    reset: bool = True,
    momentum: float | None = None,
    estimate: bool = True,
    scaled: bool = True,
):
    """Features of x after one estimating pass over x with these batch-norm settings (on a
    copy of the model): dropout off, only the batch-norm layers in training mode. estimate:
    False skips the pass; scaled: False feeds x.float() (0-255) instead of to_float(x)."""
    m = copy.deepcopy(model).eval()
    z = to_float(x) if scaled else x.float()
    for layer in batchnorm_layers(m):
        if reset:
            layer.reset_running_stats()
        layer.momentum = momentum
        layer.train()
    with torch.no_grad():
        if estimate:
            m(z)
        return m.eval().features(z)


def _batch_statistics(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Features of x normalised with x's batch statistics in the forward pass itself."""
    m = copy.deepcopy(model).eval()
    for layer in batchnorm_layers(m):
        layer.train()
    with torch.no_grad():
        return m.features(to_float(x))


def _changes(model: nn.Module, state: dict, momenta: list, was_training: bool) -> str | None:
    """What the student's function left changed in `model`, or None."""
    if any(not torch.equal(v, model.state_dict()[k]) for k, v in state.items()):
        return (
            "the model's batch-norm running statistics changed: save each layer's state "
            "(m.state_dict()) before you re-estimate and load it back afterwards (try/finally)"
        )
    if [m.momentum for m in batchnorm_layers(model)] != momenta:
        return "a batch-norm layer's momentum changed: put each layer's old momentum back"
    if model.training != was_training:
        return (
            "the model came back in eval mode, but it was in training mode: remember "
            "model.training and restore it (model.train(was_training))"
        )
    return None


def _features(fn, model, x) -> torch.Tensor:
    got = call(fn, model, x, hints=_FEATURES_HINTS, usage=_FEATURES_USAGE)
    if isinstance(got, (tuple, list)):
        raise CheckFailed(
            "you returned several tensors (model(x) gives the class logits and the domain "
            "logit): return the feature extractor's output, model.features(...)"
        )
    return torch.as_tensor(got).detach().float().cpu()


@checker(
    "my_domain_features", "features with x's own batch-norm statistics, the model left unchanged"
)
def check_domain_features(fn: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> str:
    """Check `fn(model, x)`: one domain's features with batch norm read with x's own statistics
    (dannlib.evaluation.extract_features(..., adapt_bn=True)), the model left unchanged."""
    torch.manual_seed(0)
    model = build_model("modern")
    model.train()
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):  # running statistics of a mixture, as after training on two domains
        with torch.no_grad():
            model(torch.rand(32, 3, 28, 28, generator=gen))
    x = (torch.rand(64, 3, 28, 28, generator=gen) * 120 + 100).to(torch.uint8)  # one bright domain
    state = {k: v.clone() for k, v in model.state_dict().items()}
    momenta = [m.momentum for m in batchnorm_layers(model)]
    got = _features(fn, model, x)
    changed = _changes(model, state, momenta, was_training=True)
    if changed:
        raise CheckFailed(changed)
    want = extract_features(model, x, adapt_bn=True)
    if got.shape != want.shape:
        raise CheckFailed(
            f"expected features of shape {tuple(want.shape)} (model.features of x), got "
            f"{tuple(got.shape)}"
        )
    if close(got, want, TOL):
        again = _features(fn, model, x)
        if not close(again, got, TOL):
            raise CheckFailed(
                "your features change from one call to the next: something random is on "
                "(dropout?). Compute them in eval mode"
            )
        return "OK: features read with the domain's own batch-norm statistics, model unchanged"
    if close(got, extract_features(model, x), TOL):
        raise CheckFailed(
            "these are the features with the model's pooled running statistics (plain eval "
            "mode): re-estimate each batch-norm layer's statistics on x first"
        )
    if close(got, _batch_statistics(model, x), TOL):
        raise CheckFailed(
            "you normalised with the batch's statistics during the forward pass itself: "
            "estimate the statistics first, then compute the features in eval mode"
        )
    for settings, message in _FEATURE_MISTAKES.values():
        if close(got, _reading(model, x, **settings), TOL):
            raise CheckFailed(message)
    if not close(_features(fn, model, x), got, TOL):
        raise CheckFailed(
            "your features change from one call to the next: dropout is on while you compute "
            "them (model.train()). Keep the model in eval mode and put only the batch-norm "
            "layers in training mode while you re-estimate their statistics"
        )
    raise CheckFailed(
        "the features differ from x's own-statistics reading (largest difference "
        f"{(got - want).abs().max():.3g}). Compare step by step with "
        "dannlib.evaluation.extract_features(model, x, adapt_bn=True)"
    )


# --- Exercise 2: proxy A-distance -----------------------------------------------------------

_PAD_USAGE = (
    "my_proxy_a_distance(source_rows, target_rows) gets two NumPy arrays (one row per point, "
    "the same number of columns) and returns one number, d_A = 2 (1 - 2 err)"
)
_PAD_HINTS = (
    (
        "class",
        "your training rows hold only one domain: train on half of the source rows AND half "
        "of the target rows (labels 0 and 1), measure the error on the other halves",
    ),
)


def _logistic(x: np.ndarray, y: np.ndarray, scale: bool):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [StandardScaler()] if scale else []
    return make_pipeline(*steps, LogisticRegression(max_iter=2000)).fit(x, y)


def _d_a(err: float) -> float:
    return 2 * (1 - 2 * err)


def _split(a: np.ndarray, b: np.ndarray):
    """Half of each domain to train on, the other halves to test on (rows in random order)."""
    rng = np.random.default_rng(1)
    n = min(len(a), len(b))
    a, b = a[rng.permutation(len(a))[:n]], b[rng.permutation(len(b))[:n]]
    h = n // 2
    labels = (np.r_[np.zeros(h), np.ones(h)], np.r_[np.zeros(n - h), np.ones(n - h)])
    return (np.r_[a[:h], b[:h]], labels[0]), (np.r_[a[h:], b[h:]], labels[1])


def _in_sample(a: np.ndarray, b: np.ndarray) -> list[float]:
    """d_A with the error measured on rows the classifier was trained on (half, or all)."""
    (x_train, y_train), _ = _split(a, b)
    x_all, y_all = np.r_[a, b], np.r_[np.zeros(len(a)), np.ones(len(b))]
    out = []
    for x, y in ((x_train, y_train), (x_all, y_all)):
        out.append(_d_a(float(np.mean(_logistic(x, y, scale=True).predict(x) != y))))
    return out


def _unscaled(a: np.ndarray, b: np.ndarray) -> float:
    """d_A of a held-out error, without standardising the columns."""
    (x_train, y_train), (x_test, y_test) = _split(a, b)
    err = float(np.mean(_logistic(x_train, y_train, scale=False).predict(x_test) != y_test))
    return _d_a(min(err, 0.5))


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Source and target rows for which the right answer and each likely mistake differ."""
    rng = np.random.default_rng(0)
    tiny_s, tiny_t = rng.normal(size=(600, 5)), rng.normal(size=(600, 5))
    tiny_s[:, 4] *= 1e-3  # one column in small units (think pixels in [0, 1] beside
    tiny_t[:, 4] = tiny_t[:, 4] * 1e-3 + 4e-3  # features in the hundreds): the domains differ there
    return {
        "identical distributions in 300 dimensions": (
            rng.normal(size=(200, 300)),
            rng.normal(size=(200, 300)),
        ),
        "a moderate shift": (rng.normal(size=(600, 4)), rng.normal(size=(600, 4)) + 0.6),
        "separable domains": (rng.normal(size=(600, 4)), rng.normal(size=(600, 4)) + 8.0),
        "domains that differ in one column of small scale": (tiny_s, tiny_t),
    }


# the accepted range: the mean of dannlib's held-out estimates over SPLITS random splits,
# +- (Z standard deviations + SLACK), so a right answer with another split passes
SPLITS, Z, SLACK = 6, 4.0, 0.03


def _pad_mistake(name: str, got: float, a: np.ndarray, b: np.ndarray, want) -> str:
    """The message for a wrong d_A on case `name`: the mistake it matches, if any."""
    if any(abs(got - v) <= 0.1 for v in _in_sample(a, b)) and abs(got - want.distance) > 0.5:
        return (
            f"for {name} you get d_A = {got:.2f} where held-out data gives about "
            f"{want.distance:.2f}: your error is measured on rows the classifier was trained "
            "on (in-sample), which it can fit by chance. Train on one half of each domain, "
            "count the errors on the other half"
        )
    if abs(got - _unscaled(a, b)) <= 0.2 and abs(got - want.distance) > 0.5:
        return (
            f"for {name} you get d_A = {got:.2f} where a standardised classifier gives about "
            f"{want.distance:.2f}: standardise the columns first (StandardScaler, fitted on "
            "the training half). Without it a regularised logistic regression ignores "
            "columns of small scale"
        )
    if abs(got + want.distance) <= 0.15 and want.distance > 0.3:
        return (
            f"for {name} you get d_A = {got:.2f}, about minus the right value: you used the "
            "accuracy where the error belongs (or swapped the domain labels of one half): "
            "d_A = 2 (1 - 2 err) with err the held-out misclassification rate"
        )
    if abs(got - want.distance / 2) <= 0.1 and want.distance > 0.3:
        return "d_A = 2 (1 - 2 err): you left out the factor 2"
    if abs(got - 2 * (1 - want.error)) <= 0.1 and want.distance < 1:
        return (
            f"for {name} you get d_A = {got:.2f}, about 2 (1 - err): the error is doubled "
            "inside the brackets, d_A = 2 (1 - 2 err), so that chance (err = 1/2) gives 0"
        )
    if abs(got - want.error) <= 0.05 and abs(got - want.distance) > 0.2:
        return (
            f"for {name} you returned {got:.2f}, about the held-out error itself: turn it into "
            "the distance, d_A = 2 (1 - 2 err)"
        )
    if got < -0.02:
        return (
            f"for {name} you get d_A = {got:.2f}, below 0: an error above 1/2 counts as 1/2 "
            "(min(err, 0.5)), so d_A runs from 0 (chance) to 2"
        )
    return (
        f"for {name} expected d_A about {want.distance:.3f} (held-out error "
        f"{want.error:.3f}), got {got:.3f}; train on one half of each domain, measure err on "
        "the other half"
    )


@checker(
    "my_proxy_a_distance",
    "d_A = 2 (1 - 2 err) of a linear domain classifier, err on a held-out half",
)
def check_proxy_a_distance(fn: Callable[[np.ndarray, np.ndarray], float]) -> str:
    """Compare `fn(source_rows, target_rows)` with dannlib.metrics.proxy_a_distance: within the
    spread of its held-out estimates over random splits, on cases where the likely mistakes
    (in-sample error, no standardisation, accuracy for error, no factor 2) give other values."""
    for name, (a, b) in _cases().items():
        result = call(fn, a.copy(), b.copy(), hints=_PAD_HINTS, usage=_PAD_USAGE)
        try:
            got = float(result)
        except (TypeError, ValueError):
            raise CheckFailed(
                f"your function returned {type(result).__name__}, not a number: {_PAD_USAGE}"
            ) from None
        if not np.isfinite(got):
            raise CheckFailed(f"for {name} your function returned {got}: {_PAD_USAGE}")
        spread = np.array([proxy_a_distance(a, b, seed=seed).distance for seed in range(SPLITS)])
        if abs(got - spread.mean()) <= Z * spread.std() + SLACK:
            continue
        raise CheckFailed(_pad_mistake(name, got, a, b, proxy_a_distance(a, b)))
    return "OK: your proxy A-distance agrees with dannlib.metrics.proxy_a_distance"
