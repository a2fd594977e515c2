"""Checkpoints: model weights + its architecture spec + config + History (+ optimiser state).

Saved atomically (a crash mid-save leaves the previous file intact); loaded with
`torch.load(weights_only=True)`, so a checkpoint file can never run code. Everything read is
checked before it is used: every tensor in the file against its storage (`dannlib.tensors`:
no stride-0 views claiming billions of values, no sparse weights), the spec's architecture,
argument names, types and ranges (so a file cannot ask for a 100 GB network or 512 x 512
inputs), then the weights' names, shapes and values.
"""

from __future__ import annotations

import inspect
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import torch

from dannlib.files import atomic_torch_save, file_kind, one_line, printable
from dannlib.models import ARCHITECTURES, DANN
from dannlib.tensors import check_tensors

FORMAT = "dannlib-checkpoint-v1"
MAX_CLASSES = 10_000
MAX_SIZE = 128  # image side in pixels; the digit tasks use 28 and 32
MAX_ARGUMENT = 1_000_000  # any other whole-number argument (channels, hidden units)
MAX_PARAMETERS = 200_000_000  # 800 MB of float32 weights; the course's largest net has 33 M


class CheckpointError(ValueError):
    """A file that cannot be used as a checkpoint for the model at hand."""


def save_checkpoint(
    path: str | os.PathLike,
    model: DANN,
    *,
    config: dict | None = None,
    history: dict | None = None,
    train_state: dict | None = None,
) -> Path:
    """Write model + spec + config + history (+ train_state for resuming) to one file."""
    payload = {
        "format": FORMAT,
        "spec": model.spec,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config or {},
        "history": history or {},
        "train_state": train_state or {},
    }
    atomic_torch_save(payload, path)
    return Path(path)


def _open_regular(path: Path):
    """`path` opened for reading, never blocking; CheckpointError if it is not a usable file."""
    shown = printable(path)
    kind = file_kind(path)
    if kind == "missing":
        raise FileNotFoundError(f"no checkpoint at {shown}")
    if kind == "a folder":
        raise CheckpointError(f"{shown} is a folder, not a checkpoint; pass the model.pt inside it")
    if kind is not None:
        raise CheckpointError(f"{shown} is {kind}, not a checkpoint file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a swapped-in FIFO: no wait
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        os.close(fd)
        what = "empty (0 bytes)" if stat.S_ISREG(info.st_mode) else "not a regular file"
        raise CheckpointError(
            f"{shown} is {what}, not a checkpoint: an interrupted copy or download? "
            "Copy it again or re-create it with save_checkpoint."
        )
    return os.fdopen(fd, "rb")


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, loaded safely; clear errors for missing or broken files.

    Every tensor in it has passed `dannlib.tensors.check_tensor` (dense, within its storage).
    """
    path = Path(path)
    shown = printable(path)
    with _open_regular(path) as f:
        try:
            payload = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as err:  # any unpickling failure means: not a usable checkpoint
            raise CheckpointError(
                f"{shown} is not a readable dannlib checkpoint (truncated, corrupted or not a "
                f"checkpoint at all): {type(err).__name__}: {_first_sentence(err)}. Re-create it "
                "with save_checkpoint."
            ) from err
    try:
        check_tensors(payload, "checkpoint")
    except ValueError as err:
        raise CheckpointError(
            f"{shown} is refused: {one_line(err)}. Re-create it with save_checkpoint."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{shown} is not a dannlib checkpoint (expected format {FORMAT}).")
    if not {"spec", "state_dict"} <= payload.keys():
        raise CheckpointError(f"{shown} is an incomplete dannlib checkpoint (no spec or weights).")
    for key in ("config", "history", "train_state"):
        if not isinstance(payload.get(key, {}), dict):
            raise CheckpointError(f"{shown} is a damaged dannlib checkpoint ({key} is not a dict).")
    return payload


def _check_argument(arch: str, name: str, value, default) -> None:
    """ValueError unless `value` has the type of `default` and a sane range."""
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"'{arch}' network: {name} must be a string, got {value!r}")
        return
    low = 0 if name == "domain_hidden" else 1
    high = {"num_classes": MAX_CLASSES, "size": MAX_SIZE}.get(name, MAX_ARGUMENT)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"'{arch}' network: {name} must be a whole number from {low} to {high:,}, got {value!r}"
        )


def validate_spec(spec) -> DANN:
    """Check a model spec without allocating it; return the network built on the meta device.

    A spec is {'arch': name, 'kwargs': {...}}: a known architecture, the arguments its factory
    takes with the right types and sane ranges, an image size the network can process and at
    most MAX_PARAMETERS weights. The returned shell has the real parameter names and shapes
    but no storage. ValueError saying what is wrong otherwise.
    """
    if not isinstance(spec, Mapping) or not isinstance(spec.get("kwargs", {}), Mapping):
        raise ValueError(f"a model spec is {{'arch': name, 'kwargs': {{...}}}}, got {spec!r:.80}")
    arch, kwargs = spec.get("arch"), dict(spec.get("kwargs", {}))
    if not isinstance(arch, str) or arch not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {arch!r:.40}; choose one of: {', '.join(ARCHITECTURES)}"
        )
    params = inspect.signature(ARCHITECTURES[arch]).parameters
    for name, value in kwargs.items():
        if name not in params:
            raise ValueError(
                f"'{arch}' network has no argument {name!r:.40}; it takes: {', '.join(params)}"
            )
        _check_argument(arch, name, value, params[name].default)
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated
            shell = ARCHITECTURES[arch](**kwargs)
    except RuntimeError as err:
        size = kwargs.get("size", params["size"].default if "size" in params else None)
        raise ValueError(
            f"'{arch}' network cannot take {size} x {size} images (too small for its "
            f"convolutions and pooling): {one_line(err, 120)}"
        ) from None
    count = sum(p.numel() for p in shell.parameters())
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"'{arch}' network with {_arguments(kwargs)} would have {count:,} weights "
            f"({count * 4 / 1e9:.1f} GB), over the limit of {MAX_PARAMETERS:,}; use smaller "
            "images or fewer classes"
        )
    return shell


def check_state_dict(state, expected: Mapping[str, torch.Tensor], path="checkpoint") -> None:
    """CheckpointError unless `state` maps the `expected` names to finite tensors of that shape."""
    path = printable(path)
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{path} is damaged: its weights are not a mapping of tensors")
    try:
        check_tensors(dict(state), "weights")
    except ValueError as err:
        raise CheckpointError(f"{path} is refused: {one_line(err)}") from None
    missing, extra = expected.keys() - state.keys(), state.keys() - expected.keys()
    if missing or extra:
        raise CheckpointError(
            f"{path} does not fit the model: missing weights {_names(missing)}, unexpected "
            f"weights {_names(extra)}"
        )
    for name, want in expected.items():
        got = state[name]
        if got.shape != want.shape or got.is_floating_point() != want.is_floating_point():
            raise CheckpointError(
                f"{path} does not fit the model: {name} is {got.dtype} {tuple(got.shape)}, "
                f"the model has {want.dtype} {tuple(want.shape)}"
            )
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise CheckpointError(
                f"{path} holds NaN or infinite weights ({name}): it was saved from a run that "
                "diverged; train again with a lower learning rate"
            )


def load_checkpoint(path: str | os.PathLike, model: DANN | None = None) -> tuple[DANN, dict]:
    """Load weights into `model` (or one rebuilt from the stored spec); return (model, payload)."""
    payload = read_checkpoint(path)
    if model is None:
        try:
            shell = validate_spec(payload["spec"])
        except ValueError as err:
            raise CheckpointError(
                f"{printable(path)} holds an unusable model spec: {err}"
            ) from None
        check_state_dict(payload["state_dict"], shell.state_dict(), path)
        spec = payload["spec"]
        model = ARCHITECTURES[spec["arch"]](**spec.get("kwargs", {}))
    load_weights(model, payload, path)
    return model, payload


def load_weights(model: DANN, payload: dict, path: str | os.PathLike = "checkpoint") -> None:
    """Copy a read checkpoint's weights into `model`; CheckpointError if it is another network."""
    check_spec(model, payload, path)
    check_state_dict(payload["state_dict"], model.state_dict(), path)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{printable(path)} does not fit the model: {one_line(err)}") from err


def check_spec(model: DANN, payload: dict, path: str | os.PathLike = "checkpoint") -> None:
    """CheckpointError naming both networks if `payload` was saved from another architecture."""
    spec = payload["spec"]
    if model.spec != spec:
        kwargs = spec.get("kwargs", {}) if isinstance(spec, Mapping) else {}
        raise CheckpointError(
            f"{printable(path)} holds a {_describe(spec)} but the model is a "
            f"{_describe(model.spec)}. "
            f"Load it with model=None to rebuild the right one, or build_model("
            f"'{_get(spec, 'arch')}', **{kwargs})."
        )


def _first_sentence(err: Exception) -> str:
    return one_line(err, 200).split(". ")[0]


def _get(spec, key):
    return spec.get(key) if isinstance(spec, Mapping) else None


def _arguments(kwargs: Mapping) -> str:
    return ", ".join(f"{k}={v}" for k, v in kwargs.items())


def _describe(spec) -> str:
    kwargs = _get(spec, "kwargs")
    kwargs = kwargs if isinstance(kwargs, Mapping) else {}
    return f"'{_get(spec, 'arch')}' network ({_arguments(kwargs)})"


def _names(names) -> str:
    shown = ", ".join(sorted(names)[:3])
    return (shown + (", ..." if len(names) > 3 else "")) if names else "none"
