"""Runs that come with the course: load a saved run when it matches, else train it.

Lessons whose default profile needs more training than a laptop CPU gives in minutes (several
seeds of several methods) ship their runs as checkpoints, written by `scripts/train_checkpoints.py`
(the UvA tutorials' pattern). A saved run is used only if it was trained on the same data
(same provenance and sizes) with the same settings, so a loaded result is the result the cell
would have trained; anything else is trained here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dannlib.checkpoint import check_spec, load_weights, read_checkpoint, save_checkpoint
from dannlib.data.base import Domain
from dannlib.files import atomic_write_text
from dannlib.models import DANN
from dannlib.train import History, TrainConfig, data_note, fit

# the settings that decide what training produces (not how often it is evaluated)
TRAINING_KEYS = (
    "mode",
    "steps",
    "batch_size",
    "optimizer",
    "lr",
    "momentum",
    "lr_schedule",
    "lambda_max",
    "gamma",
    "seed",
    "adapt_bn",
)


def run_name(prefix: str, config: TrainConfig) -> str:
    """A file name for a run, e.g. '04_course_dann_seed0.pt'."""
    return f"{prefix}_{config.recipe or 'custom'}_{config.mode}_seed{config.seed}.pt"


def matches(payload: dict, source: Domain, target: Domain, config: TrainConfig) -> bool:
    """True if `payload` (a checkpoint) was trained on this data with these settings."""
    saved, wanted = payload.get("config", {}), config.to_dict()
    return (
        all(saved.get(k) == wanted[k] for k in TRAINING_KEYS)
        and saved.get("source") == data_note(source)
        and saved.get("target") == data_note(target)
    )


def load_or_fit(
    path: str | os.PathLike,
    model: DANN,
    source: Domain,
    target: Domain,
    config: TrainConfig,
    *,
    retrain: bool = False,
    **fit_kwargs,
) -> tuple[History, str]:
    """The run saved at `path` if it matches this data and these settings, else a new fit.

    A checkpoint (.pt) also fills `model` with its weights; a History saved alone (.json, for
    runs whose curves and numbers are all a lesson needs) leaves `model` untrained. Returns
    the History and how it was obtained: 'loaded' or 'trained'. A new run is not saved here
    (the committed runs stay as they are): scripts/train_checkpoints.py writes them.
    """
    path = Path(path)
    if not retrain and path.is_file():
        saved = _read_history(path) if path.suffix == ".json" else read_checkpoint(path)
        if matches(saved, source, target, config):
            if path.suffix == ".json":
                return History.from_dict(saved), "loaded"
            check_spec(model, saved, path)
            load_weights(model, saved, path)
            return History.from_dict(saved["history"]), "loaded"
    return fit(model, source, target, config, **fit_kwargs), "trained"


def _read_history(path: Path) -> dict:
    """A History saved as JSON, as a dict with its settings under "config" too."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return {**saved, "config": saved["meta"]}
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path} is not a saved run ({err}); delete it, or pass retrain=True"
        ) from None


def save_run(path: str | os.PathLike, model: DANN | None, history: History) -> Path:
    """Save a finished run where load_or_fit finds it: a checkpoint (weights, settings, data,
    History), or with a .json path the History alone (settings, data, curves)."""
    if Path(path).suffix == ".json":
        hint = "choose a folder you can write to"
        atomic_write_text(json.dumps(history.to_dict()), path, hint=hint)
        return Path(path)
    return save_checkpoint(path, model, config=history.meta, history=history.to_dict())
