"""The training loop, `fit`, and what lessons and scripts import with it.

`fit` is a short loop over named parts: this step's lambda and learning rate (from the
TrainConfig), a source and a target batch, one step (`dann_step`, the step lesson 03 has
students write, or the config's `method`), an evaluation every `eval_every` steps. The per-step
statistics stay where the step left them (on a GPU: on the GPU) until an evaluation reads
them all at once, so the device never waits for the host between steps. Target labels are
used only in `target_only` mode and for reporting.

The parts live in their own modules: settings in dannlib.train_config, steps in
dannlib.steps, History in dannlib.history, resuming, undo and signals in dannlib.run_state.
"""

from __future__ import annotations

import copy
import math
import signal
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dannlib.data.base import Domain, to_float
from dannlib.data.loaders import IndexStream
from dannlib.evaluation import evaluate
from dannlib.history import History
from dannlib.models import DANN
from dannlib.run_state import StopSignals, Undo, load_state, save_state
from dannlib.steps import STEPS, Step, dann_step
from dannlib.train_config import (
    LR_SCHEDULES,
    MAX_BATCH_SIZE,
    MODES,
    OPTIMIZERS,
    TrainConfig,
    data_note,
    run_record,
)

__all__ = [
    "LR_SCHEDULES",
    "MAX_BATCH_SIZE",
    "MODES",
    "OPTIMIZERS",
    "History",
    "TrainConfig",
    "TrainingDiverged",
    "batch_streams",
    "dann_step",
    "data_note",
    "fit",
    "seconds_per_step",
]

MAX_PENDING = 1000  # steps whose statistics wait on the device for the host at most

Callback = Callable[[DANN, History, int], object]


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; `history` (set by fit) holds the steps before it."""

    def __init__(self, message: str, history: History | None = None):
        super().__init__(message)
        self.history = history


def fit(
    model: DANN,
    source: Domain,
    target: Domain,
    config: TrainConfig | None = None,
    *,
    eval_sets: dict[str, Domain] | None = None,
    callback: Callback | None = None,
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
    step: Step | None = None,
    **overrides,
) -> History:
    """Train `model` in place with `config` (a TrainConfig; keyword `overrides` change it).

    Every step draws `batch_size` source and `batch_size` target images (the shorter domain
    cycles) and runs `step` (default: the config's method, dann_step; see dannlib.steps).
    Every `eval_every` steps (default: once an epoch) each of `eval_sets` is evaluated,
    `callback(model, history, step)` is called (if it returns True, training ends there) and,
    if `checkpoint` is set, a resumable checkpoint is written; `resume` continues from one.
    Ctrl-C (SIGINT) stops after the current step and returns the History so far; SIGTERM
    saves the checkpoint first, then goes to the handler that was there before. A loss that
    becomes NaN or infinite raises TrainingDiverged at the next evaluation, naming its step
    (the model's weights are then unusable).
    """
    config = (config or TrainConfig()).replace(**overrides)
    run = _Run(model, source, target, config, device, step)
    if resume is not None:
        run.step, run.train_seconds, old = load_state(resume, model, run.optimizer, run.record)
        run.saved = run.step
        run.history.steps, run.history.evals = old.steps, old.evals
    eval_sets = eval_sets or {}
    with (
        StopSignals() as stop,
        tqdm(
            total=run.total, initial=run.step, disable=not progress, desc=config.mode, leave=False
        ) as bar,
    ):
        try:
            done = run.step == 0 and run.evaluate(eval_sets, callback, checkpoint)
            run.started = time.perf_counter()
            while run.step < run.total and not stop.signal and not done:
                run.train_step()
                bar.update()
                if run.step % run.eval_every == 0 or run.step == run.total:
                    done = run.evaluate(eval_sets, callback, checkpoint)
                    bar.set_postfix(run.last_accuracies())
                elif len(run.pending) >= MAX_PENDING:
                    run.read_pending()
        except KeyboardInterrupt:
            stop.signal = signal.SIGINT
        if stop.signal:
            run.stopped(checkpoint, stop.signal)
    if stop.signal == signal.SIGTERM:
        signal.raise_signal(signal.SIGTERM)
    return run.history


def seconds_per_step(
    model: DANN,
    source: Domain,
    target: Domain,
    config: TrainConfig,
    *,
    device: torch.device | str | None = None,
    steps: int = 20,
) -> float:
    """Seconds one training step of `config` takes on this machine, measured by training a
    copy of `model` for `steps` steps: an estimate to announce before a long run. Neither the
    model nor the random state changes."""
    trial = copy.deepcopy(model)
    short = config.replace(steps=steps, epochs=None, eval_every=steps)
    with torch.random.fork_rng():
        history = fit(trial, source, target, short, progress=False, device=device)
    return history.evals["train_seconds"][-1] / steps


def batch_streams(n_source: int, n_target: int, seed: int) -> tuple[IndexStream, IndexStream]:
    """The index streams fit draws the source and target batches from: batch k of each domain
    depends only on (seed, k), so a resumed run sees the batches of an uninterrupted one."""
    return IndexStream(n_source, 2 * seed), IndexStream(n_target, 2 * seed + 1)


class _Run:
    """The state of one fit: model, optimiser, batch streams, step counter and History."""

    def __init__(
        self,
        model: DANN,
        source: Domain,
        target: Domain,
        config: TrainConfig,
        device,
        step: Step | None,
    ):
        self.model, self.config = model, config
        labelled, unlabelled = (
            (target, source) if config.mode == "target_only" else (source, target)
        )
        _check_data(model, source, target, labelled)
        self.record = run_record(config, source, target)
        if step is not None:  # the record names the update that ran
            self.record["method"] = getattr(step, "__name__", type(step).__name__)
        self.step_fn = step or STEPS[config.method]
        self.total, self.eval_every = self.record["steps"], self.record["eval_every"]
        self.device = torch.device(device) if device else next(model.parameters()).device
        model.to(self.device).train()
        self.optimizer = _make_optimizer(model, config)
        self.undo = Undo(model)
        streams = batch_streams(len(source), len(target), config.seed)
        if config.mode == "target_only":
            streams = streams[::-1]
        self.domains = list(zip((labelled, unlabelled), streams))
        self.history = History(config=self.record)
        self.pending: list[dict] = []  # statistics of the steps not yet in the History
        self.step, self.train_seconds, self.saved = 0, 0.0, 0
        self.started = time.perf_counter()
        torch.manual_seed(config.seed)

    def train_step(self) -> None:
        """One step at this step's lambda and learning rate; undone if it raises."""
        c = self.config
        lam, lr = c.lambda_at(self.step, self.total), c.lr_at(self.step, self.total)
        (lab, lab_stream), (unl, unl_stream) = self.domains
        x_lab, y_lab = lab[lab_stream.batch(self.step, c.batch_size)]
        x_unl, _ = unl[unl_stream.batch(self.step, c.batch_size)]
        batch = (self._input(x_lab), y_lab.to(self.device), self._input(x_unl))
        with self.undo:
            stats = self.step_fn(self.model, self.optimizer, batch, lam, lr)
        self.step += 1
        self.pending.append(stats)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return to_float(x.to(self.device))

    def read_pending(self) -> None:
        """Move the waiting steps' statistics into the History (one wait for the device) and
        count the time since the last read as training; TrainingDiverged at the first step
        with a statistic that is not finite."""
        rows, self.pending = self.pending, []
        if not rows:
            return
        columns = _columns(rows)
        self.train_seconds += time.perf_counter() - self.started
        self.started = time.perf_counter()
        first = self.step - len(rows) + 1
        bad = {
            key: next((i for i, v in enumerate(values) if not math.isfinite(v)), len(rows))
            for key, values in columns.items()
        }
        end = min(bad.values())
        if end:
            for key, values in {"step": range(first, first + end), **columns}.items():
                self.history.steps.setdefault(key, []).extend(values[:end])
        if end < len(rows):
            key = min(bad, key=bad.get)
            row = {k: v[end] for k, v in columns.items()}
            raise TrainingDiverged(
                f"the loss became {row[key]} at step {first + end} of {self.total} ({key}; "
                f"lr={row.get('lr', math.nan):.3g}, lambda={row.get('lambda', math.nan):.3g}); "
                "lower the learning rate or lambda_max (and check the data for NaN or inf) and "
                "train again.",
                self.history,
            )

    def evaluate(self, eval_sets: dict[str, Domain], callback, checkpoint) -> bool:
        """Read the waiting statistics, evaluate every set, log the row, call the callback,
        write the checkpoint. True if the callback asks to stop."""
        self.read_pending()
        row = {"step": self.step, "epoch": self.step / self.record["steps_per_epoch"]}
        row["train_seconds"] = self.train_seconds
        t0 = time.perf_counter()
        for name, data in eval_sets.items():
            for key, value in evaluate(self.model, data, adapt_bn=self.config.adapt_bn).items():
                row[f"{name}_{key}"] = value
        row["eval_seconds"] = time.perf_counter() - t0
        self.history.log_eval(**row)
        stop = callback is not None and bool(callback(self.model, self.history, self.step))
        if checkpoint is not None:
            self.save(checkpoint)
        self.started = time.perf_counter()
        return stop

    def last_accuracies(self) -> dict[str, str]:
        return {k: f"{v[-1]:.3f}" for k, v in self.history.evals.items() if k.endswith("_acc")}

    def save(self, path) -> None:
        save_state(path, self.model, self.optimizer, self.history, self.step, self.train_seconds)
        self.saved = self.step

    def stopped(self, checkpoint, signum: int) -> None:
        """After a Ctrl-C or SIGTERM: mark the History, save the last step, say how to resume."""
        self.read_pending()
        self.history.interrupted = True
        if checkpoint is not None and self.step > self.saved:
            self.save(checkpoint)
        if signum == signal.SIGINT:
            warnings.warn(
                f"training interrupted after {self.step} of {self.total} steps; returning the "
                "model and History so far"
                + (f" (resume with fit(..., resume='{checkpoint}'))" if checkpoint else ""),
                stacklevel=3,
            )


def _columns(rows: list[dict]) -> dict[str, list[float]]:
    """Steps' statistics (dicts of numbers and 0-dim tensors) as columns of floats; the
    tensors are read in one go."""
    keys = list(rows[0])
    if any(row.keys() != rows[0].keys() for row in rows):
        raise ValueError(f"a step must return the same statistics every step ({', '.join(keys)})")
    columns = {k: [row[k] for row in rows] for k in keys}
    tensors = [k for k in keys if torch.is_tensor(columns[k][0])]
    if tensors:
        try:
            read = torch.stack([t for k in tensors for t in columns[k]]).reshape(len(tensors), -1)
        except RuntimeError as err:
            raise ValueError(
                f"a step's statistics must be numbers or 0-dim tensors ({', '.join(tensors)}): "
                f"{err}"
            ) from None
        columns.update(zip(tensors, read.tolist()))
    return {k: v if k in tensors else [float(x) for x in v] for k, v in columns.items()}


def _check_data(model: DANN, source: Domain, target: Domain, labelled: Domain) -> None:
    """Clear errors for source/target inputs that do not fit together or the model."""
    if source.x.shape[1:] != target.x.shape[1:]:
        raise ValueError(
            f"source inputs are {tuple(source.x.shape[1:])} but target inputs are "
            f"{tuple(target.x.shape[1:])}; load both at one size and channel count "
            "(domain_pair does, or pass size= and channels= to load_domain)"
        )
    for d in (source, target):
        if d.x.dim() == 4 and torch.is_floating_point(d.x) and len(d) and d.x.abs().max() > 1.5:
            raise ValueError(
                f"{d.name}: float images must be in [0, 1], these go up to "
                f"{float(d.x.abs().max()):.4g}; store images as uint8 (0-255) or divide by 255"
            )
    classes = model.spec.get("kwargs", {}).get("num_classes")
    if classes is not None and len(labelled) and int(labelled.y.max()) >= classes:
        raise ValueError(
            f"the training labels go up to {int(labelled.y.max())} but the model has "
            f"{classes} classes; build it with num_classes={int(labelled.y.max()) + 1}"
        )


def _make_optimizer(model: DANN, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    return torch.optim.Adam(model.parameters(), lr=config.lr)
