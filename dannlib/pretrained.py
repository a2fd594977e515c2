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
from dannlib.train import History, TrainConfig, fit

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


def data_note(domain: Domain) -> dict:
    """What identifies a data set for a saved run: its plain info (name, split, source, count)."""
    return {k: v for k, v in domain.info.items() if isinstance(v, (str, int, float, bool))}


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
    """Fill `model` from the run saved at `path` if it matches, else train it with fit.

    Returns the History (saved or new) and how it was obtained: 'loaded' or 'trained'.
    A new run is not saved here (the committed runs stay as they are); see
    scripts/train_checkpoints.py to write them.
    """
    path = Path(path)
    if not retrain and path.is_file():
        payload = read_checkpoint(path)
        if matches(payload, source, target, config):
            check_spec(model, payload, path)
            load_weights(model, payload, path)
            return History.from_dict(payload["history"]), "loaded"
    return fit(model, source, target, config, **fit_kwargs), "trained"


def save_run(path: str | os.PathLike, model: DANN, history: History) -> Path:
    """Save a finished run so that load_or_fit finds it (weights, settings, data, History)."""
    return save_checkpoint(path, model, config=history.meta, history=history.to_dict())


def history_or_fit(
    path: str | os.PathLike,
    model: DANN,
    source: Domain,
    target: Domain,
    config: TrainConfig,
    *,
    retrain: bool = False,
    **fit_kwargs,
) -> tuple[History, str]:
    """As load_or_fit, for runs saved without their weights (save_history): a loaded run gives
    its History (curves and evaluations) and leaves `model` untrained."""
    path = Path(path)
    if not retrain and path.is_file():
        try:
            saved = History.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, AttributeError, TypeError) as err:
            raise ValueError(
                f"{path} is not a saved run ({err}); delete it, or pass retrain=True"
            ) from None
        if matches({"config": saved.meta}, source, target, config):
            return saved, "loaded"
    return fit(model, source, target, config, **fit_kwargs), "trained"


def save_history(path: str | os.PathLike, history: History) -> Path:
    """Save a finished run's History (settings, data, curves) as JSON, for history_or_fit."""
    hint = "choose a folder you can write to"
    atomic_write_text(json.dumps(history.to_dict()), path, hint=hint)
    return Path(path)
