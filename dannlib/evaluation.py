"""Evaluation: predictions, features and accuracy in inference mode, and AdaBN.

A network trained with per-domain batch norm (the course recipe) is read the way it was
trained: each evaluation set through batch norm with its own statistics (`adapt_bn=True`,
`domain_batchnorm`, "AdaBN", Li et al. 2016). Inputs move to the model's device; results come
back on the CPU.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from dannlib.data.base import Domain, to_float
from dannlib.models import DANN, batchnorm_layers, eval_mode


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of at most `batch_size` covering range(n); a last batch of one
    input joins the one before (batch norm cannot estimate statistics from one vector);
    one empty slice if n is 0."""
    starts = list(range(0, max(n, 1), batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], max(n, 0)])]


def map_batches(
    model: DANN, data: Domain | torch.Tensor, fn, batch_size: int = 1000
) -> torch.Tensor:
    """`fn(model, float_batch)` over every input, in eval and inference mode, on the CPU."""
    x = data.x if isinstance(data, Domain) else data
    device = next(model.parameters()).device
    with eval_mode(model), torch.inference_mode():
        out = [fn(model, to_float(x[s].to(device))).cpu() for s in batch_slices(len(x), batch_size)]
    return torch.cat(out)


def class_logits(
    model: DANN, data: Domain | torch.Tensor, batch_size: int = 1000, adapt_bn: bool = False
) -> torch.Tensor:
    """The label predictor's logits for every input (N x K).

    With `adapt_bn`, batch-norm layers use `data`'s own statistics (see domain_batchnorm).
    """
    with _batchnorm_of(model, data, adapt_bn, batch_size):
        return map_batches(model, data, lambda m, x: m.class_logits(x), batch_size)


def extract_features(
    model: DANN, data: Domain | torch.Tensor, batch_size: int = 1000, adapt_bn: bool = False
) -> torch.Tensor:
    """The feature extractor's output for every input.

    With `adapt_bn`, batch-norm layers use `data`'s own statistics, as the classifier reads
    them in evaluation: pass one domain at a time then.
    """
    with _batchnorm_of(model, data, adapt_bn, batch_size):
        return map_batches(model, data, lambda m, x: m.features(x), batch_size)


def _batchnorm_of(model: DANN, data, adapt_bn: bool, batch_size: int):
    """domain_batchnorm(model, data) if asked for and the model has batch norm, else nothing."""
    if adapt_bn and model.has_batchnorm:
        return domain_batchnorm(model, data, batch_size)
    return contextlib.nullcontext(model)


@contextlib.contextmanager
def domain_batchnorm(model: DANN, data: Domain | torch.Tensor, batch_size: int = 1000):
    """Inside the block, batch-norm layers normalise with the statistics of `data` (AdaBN).

    fit normalises each domain with its own batch statistics, but the running averages that
    eval mode uses mix both domains; recomputing them on one domain's inputs (no labels needed)
    evaluates the network the way it was trained. The model's own statistics come back after.
    """
    n = len(data)
    if n < 2:
        raise ValueError(
            f"AdaBN estimates batch-norm statistics from the data itself and needs at least 2 "
            f"inputs, got {n}; read fewer inputs with the model's own statistics (adapt_bn=False)"
        )
    layers = batchnorm_layers(model)
    saved = [(m.momentum, {k: v.clone() for k, v in m.state_dict().items()}) for m in layers]
    try:
        for m in layers:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches below
        map_batches(model, data, _forward_with_batch_statistics, batch_size)
        yield model
    finally:
        for m, (momentum, state) in zip(layers, saved):
            m.momentum = momentum
            m.load_state_dict(state)


def _forward_with_batch_statistics(model: DANN, x: torch.Tensor) -> torch.Tensor:
    """One forward pass with only the batch-norm layers in training mode (dropout stays off)."""
    layers = batchnorm_layers(model)
    for m in layers:
        m.train()
    try:
        return model(x)[0]  # every head too: the modern net has batch norm in both heads
    finally:
        for m in layers:
            m.eval()


def evaluate(
    model: DANN, data: Domain, batch_size: int = 1000, adapt_bn: bool = False
) -> dict[str, float]:
    """Accuracy and mean cross-entropy of the label predictor on `data` (inference mode).

    With `adapt_bn`, batch-norm layers use `data`'s own statistics (see domain_batchnorm).
    """
    if len(data) == 0:
        return {"acc": 0.0, "loss": 0.0}
    logits = class_logits(model, data, batch_size, adapt_bn)
    if data.num_classes > logits.shape[1]:
        raise ValueError(
            f"the labels of {data.name} go up to {data.num_classes - 1} but the model predicts "
            f"{logits.shape[1]} classes; evaluate it on data with the classes it was trained on"
        )
    return {
        "acc": (logits.argmax(1) == data.y).float().mean().item(),
        "loss": F.cross_entropy(logits, data.y).item(),
    }
