"""Lesson 04's exercises: features read with per-domain batch-norm statistics, proxy A-distance."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from dannlib.evaluation import extract_features
from dannlib.exercises import CheckFailed, checker, close
from dannlib.metrics import proxy_a_distance
from dannlib.models import batchnorm_layers, build_model


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
    before = {k: v.clone() for k, v in model.state_dict().items()}
    got = torch.as_tensor(fn(model, x)).detach().float()
    after = model.state_dict()
    if any(not torch.equal(before[k], after[k]) for k in before) or not model.training:
        raise CheckFailed(
            "the model changed: restore every batch-norm layer's running statistics and "
            "momentum, and the model's train/eval mode, when you are done (try/finally)"
        )
    want = extract_features(model, x, adapt_bn=True)
    if got.shape != want.shape:
        raise CheckFailed(f"expected features of shape {tuple(want.shape)}, got {tuple(got.shape)}")
    if close(got, want, 1e-4):
        return "OK: features read with the domain's own batch-norm statistics, model unchanged"
    if close(got, extract_features(model, x), 1e-4):
        raise CheckFailed(
            "these are the features with the model's pooled running statistics (plain eval "
            "mode): re-estimate each batch-norm layer's statistics on x first"
        )
    with torch.no_grad():
        model.eval()
        for m in batchnorm_layers(model):
            m.train()
        batch_stats = model.features(x.float() / 255)
        model.load_state_dict(before)
        model.train()
    if close(got, batch_stats, 1e-4):
        raise CheckFailed(
            "you normalised with the batch's statistics during the forward pass itself: "
            "estimate the statistics first, then compute the features in eval mode"
        )
    raise CheckFailed(
        "the features differ from the domain-statistics reading; with dropout on (model.train()) "
        "they also change from call to call: keep dropout off, put only the batch-norm layers "
        "in training mode while you re-estimate"
    )


@checker(
    "my_proxy_a_distance",
    "d_A = 2 (1 - 2 err) of a linear domain classifier, err on a held-out half",
)
def check_proxy_a_distance(fn: Callable[[np.ndarray, np.ndarray], float]) -> str:
    """Compare `fn(source_rows, target_rows)` with dannlib.metrics.proxy_a_distance."""
    rng = np.random.default_rng(0)
    cases = {
        "identical distributions": (rng.normal(size=(600, 4)), rng.normal(size=(600, 4))),
        "a moderate shift": (rng.normal(size=(600, 4)), rng.normal(size=(600, 4)) + 0.6),
        "separable domains": (rng.normal(size=(600, 4)), rng.normal(size=(600, 4)) + 8.0),
    }
    for name, (a, b) in cases.items():
        got, want = float(fn(a.copy(), b.copy())), proxy_a_distance(a, b)
        if abs(got - want.distance) <= 0.15:
            continue
        if abs(got - 2 * (1 - 2 * (1 - want.error))) <= 0.15:
            raise CheckFailed(
                f"for {name} you used the accuracy where the error belongs: "
                "d_A = 2 (1 - 2 err) with err the held-out misclassification rate"
            )
        if abs(got - (1 - 2 * want.error)) <= 0.15:
            raise CheckFailed("d_A = 2 (1 - 2 err): you left out the factor 2")
        raise CheckFailed(
            f"for {name} expected d_A about {want.distance:.3f} (held-out error "
            f"{want.error:.3f}), got {got:.3f}; train on one half, measure err on the other"
        )
    return "OK: your proxy A-distance agrees with dannlib.metrics.proxy_a_distance"
