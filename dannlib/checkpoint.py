"""Checkpoints: model weights + its architecture spec + config + History (+ optimiser state).

Saved atomically (a crash mid-save leaves the previous file intact); loaded with
`torch.load(weights_only=True)`, so a checkpoint file can never run code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from dannlib.files import atomic_torch_save
from dannlib.models import DANN, build_model

FORMAT = "dannlib-checkpoint-v1"


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


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, loaded safely; clear errors for missing or broken files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means: not a usable checkpoint
        raise CheckpointError(
            f"{path} is not a readable dannlib checkpoint (truncated, corrupted or not a "
            f"checkpoint at all): {type(err).__name__}: {_first_sentence(err)}. Re-create it with "
            "save_checkpoint."
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dannlib checkpoint (expected format {FORMAT}).")
    if not {"spec", "state_dict"} <= payload.keys():
        raise CheckpointError(f"{path} is an incomplete dannlib checkpoint (no spec or weights).")
    return payload


def load_checkpoint(path: str | os.PathLike, model: DANN | None = None) -> tuple[DANN, dict]:
    """Load weights into `model` (or one rebuilt from the stored spec); return (model, payload)."""
    payload = read_checkpoint(path)
    if model is None:
        spec = payload["spec"]
        model = build_model(spec["arch"], **spec["kwargs"])
    load_weights(model, payload, path)
    return model, payload


def load_weights(model: DANN, payload: dict, path: str | os.PathLike = "checkpoint") -> None:
    """Copy a read checkpoint's weights into `model`; CheckpointError if it is another network."""
    check_spec(model, payload, path)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit the model: {str(err)[:300]}") from err


def check_spec(model: DANN, payload: dict, path: str | os.PathLike = "checkpoint") -> None:
    """CheckpointError naming both networks if `payload` was saved from another architecture."""
    spec = payload["spec"]
    if model.spec != spec:
        raise CheckpointError(
            f"{path} holds a {_describe(spec)} but the model is a {_describe(model.spec)}. "
            f"Load it with model=None to rebuild the right one, or build_model('{spec['arch']}', "
            f"**{spec['kwargs']})."
        )


def _first_sentence(err: Exception) -> str:
    return str(err).strip().splitlines()[0].split(". ")[0][:200] if str(err).strip() else ""


def _describe(spec: dict) -> str:
    args = ", ".join(f"{k}={v}" for k, v in spec.get("kwargs", {}).items())
    return f"'{spec.get('arch')}' network ({args})"
