"""Runs that come with the course: a saved run is loaded when it matches, else trained.

Lessons whose default profile needs more training than a laptop CPU gives in minutes ship
their runs in the course's `checkpoints/` folder (written by `scripts/train_checkpoints.py`;
the UvA tutorials' pattern). `SavedRun` is the one definition of such a run: its lesson and
task, its settings (a TrainConfig naming its recipe) and whether the weights are kept (.pt)
or only the History (.json). From it come the file name and when a file matches: trained on
the same data with the same training settings (dannlib.train_config.differences, the rule
resuming uses too). A loaded result is therefore the result the cell would have trained;
anything else is trained here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dannlib.checkpoint import check_spec, load_weights, read_checkpoint, save_checkpoint
from dannlib.config import course_folder
from dannlib.data.base import Domain
from dannlib.files import atomic_write_text, printable
from dannlib.history import History
from dannlib.models import DANN
from dannlib.train import fit
from dannlib.train_config import TrainConfig, differences, run_record


@dataclass(frozen=True)
class SavedRun:
    """A run a lesson loads when saved: lesson, task, settings; weights kept or History only."""

    lesson: str  # "04"
    config: TrainConfig  # recipe, mode, seed, steps, ...
    task: str | None = None  # e.g. "mnist->syn_digits", for lessons that run several tasks
    weights: bool = True  # False: only the History is saved (.json)
    subfolder: str | None = None  # a profile's own runs: "04_quick" (see profile_subfolder)

    @property
    def file_name(self) -> str:
        """e.g. '04_course_dann_seed0.pt' or '05_mnist_to_syn_digits_course_dann_seed0.json'."""
        c = self.config
        task = f"_{self.task.replace('->', '_to_')}" if self.task else ""
        suffix = ".pt" if self.weights else ".json"
        return f"{self.lesson}{task}_{c.recipe or 'custom'}_{c.mode}_seed{c.seed}{suffix}"

    def path(self, folder: str | os.PathLike | None = None) -> Path:
        """Where the run is saved: in `folder`, else the course's checkpoints/ (runs_dir), in
        the run's subfolder there if it has one."""
        base = Path(folder if folder is not None else runs_dir())
        return base / self.subfolder / self.file_name if self.subfolder else base / self.file_name

    def matches(self, saved: dict, source: Domain, target: Domain) -> bool:
        """True if `saved` (a checkpoint or saved History, as a dict) was trained on this data
        with these settings. A setting the saved run does not record counts as its default."""
        record = saved.get("config")
        wanted = run_record(self.config, source, target)
        return isinstance(record, dict) and not differences(record, wanted)


def runs_dir() -> Path:
    """The course's saved runs: `checkpoints/` of the course clone we are working in, or
    $DANNLIB_RUNS; elsewhere ./checkpoints."""
    chosen = os.environ.get("DANNLIB_RUNS")
    if chosen:
        return Path(chosen).expanduser()
    return course_folder("checkpoints") or Path("checkpoints")


def profile_subfolder(lesson: str, profile: str) -> str | None:
    """The subfolder of checkpoints/ that holds a lesson's own runs for `profile`: None for the
    default profile (checkpoints/ itself), else "<lesson>_<profile>", e.g. "04_quick" (the
    file names are the same for runs of other lengths, so each profile keeps its own)."""
    return None if profile == "default" else f"{lesson}_{profile}"


def read_saved(path: str | os.PathLike) -> dict:
    """A saved run as a dict with its settings under "config": a checkpoint, or a History
    saved as JSON (a .json path)."""
    path = Path(path)
    if path.suffix != ".json":
        return read_checkpoint(path)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return {**saved, "config": saved["config"] if "config" in saved else saved["meta"]}
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise ValueError(
            f"{printable(path)} is not a saved run ({err}); delete it, or pass retrain=True"
        ) from None


def find(
    run: SavedRun, source: Domain, target: Domain, folder: str | os.PathLike | None = None
) -> Path | None:
    """The file of `run` if one is saved and matches this data and these settings, else None."""
    path = run.path(folder)
    if path.is_file() and run.matches(read_saved(path), source, target):
        return path
    return None


def load_or_fit(
    run: SavedRun,
    model: DANN,
    source: Domain,
    target: Domain,
    *,
    folder: str | os.PathLike | None = None,
    retrain: bool = False,
    **fit_kwargs,
) -> tuple[History, str]:
    """`run` loaded from its file if it matches this data and these settings, else trained.

    A checkpoint also fills `model` with its weights (on the model's device); a History saved
    alone leaves `model` untrained. Returns the History and how it was obtained: 'loaded' or
    'trained'. A new run is not saved here (the committed runs stay as they are):
    scripts/train_checkpoints.py writes them with `save_run`.
    """
    path = None if retrain else find(run, source, target, folder)
    if path is None:
        return fit(model, source, target, run.config, **fit_kwargs), "trained"
    saved = read_saved(path)
    try:
        history = History.from_dict(saved if not run.weights else saved["history"])
    except ValueError as err:
        raise ValueError(
            f"{printable(path)} is damaged: {err}; delete it, or pass retrain=True"
        ) from None
    if run.weights:
        check_spec(model, saved, path)
        load_weights(model, saved, path)
    return history, "loaded"


def save_run(
    run: SavedRun, model: DANN | None, history: History, folder: str | os.PathLike | None = None
) -> Path:
    """Save a finished run where load_or_fit finds it: a checkpoint (weights, settings, data,
    History), or for a History-only run the History alone (settings, data, curves)."""
    path = run.path(folder)
    if not run.weights:
        hint = "choose a folder you can write to"
        atomic_write_text(json.dumps(history.to_dict()), path, hint=hint)
        return path
    return save_checkpoint(path, model, config=history.config, history=history.to_dict())
