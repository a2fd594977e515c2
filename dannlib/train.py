"""Training: `TrainConfig`, one DANN update (`dann_step`), the loop (`fit`).

`fit` is a short loop over named parts: pick the step's lambda and learning rate, draw a source
and a target batch, call `dann_step` (the step lesson 03 has students write), evaluate every
`eval_every` steps. Source-only is the same network and step with lambda = 0: the domain head
still learns (a probe of how separable the domains are) but its reversed gradient into the
features is zero. Target labels are used only in `target_only` mode and for reporting.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dannlib.checkpoint import (
    CheckpointError,
    check_spec,
    load_weights,
    read_checkpoint,
    save_checkpoint,
)
from dannlib.data.base import Domain, to_float
from dannlib.data.loaders import IndexStream, steps_per_epoch
from dannlib.data.validate import check_choice, check_count
from dannlib.evaluation import evaluate
from dannlib.models import DANN
from dannlib.schedules import annealed_lr, dann_lambda

MODES = ("source_only", "dann", "target_only")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("paper", "constant")


MAX_BATCH_SIZE = 4096  # images per domain and step; far beyond what a laptop's memory holds


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; `history` (set by fit) holds the steps before it."""

    def __init__(self, message: str, history: History | None = None):
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """What happened during training: per-step losses and schedules, periodic evaluations."""

    steps: dict[str, list] = field(default_factory=dict)
    evals: dict[str, list] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    interrupted: bool = False

    def log_step(self, **row: float) -> None:
        """Append one training step (step, label_loss, domain_loss, domain_acc, lambda, lr)."""
        for key, value in row.items():
            self.steps.setdefault(key, []).append(value)

    def log_eval(self, **row: float) -> None:
        """Append one evaluation (step, epoch, train_seconds, <set>_acc, ...)."""
        for key, value in row.items():
            self.evals.setdefault(key, []).append(value)

    def last(self, key: str) -> float:
        """The latest evaluation value of `key` (e.g. 'target_acc')."""
        values = self.evals.get(key) or self.steps.get(key)
        if not values:
            raise KeyError(f"no {key!r} recorded; evaluated keys: {sorted(self.evals)}")
        return values[-1]

    def to_dict(self) -> dict:
        """Plain dict (JSON- and weights_only-safe)."""
        return {
            "steps": self.steps,
            "evals": self.evals,
            "meta": self.meta,
            "interrupted": self.interrupted,
        }

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """Inverse of to_dict."""
        return cls(
            {k: list(v) for k, v in d.get("steps", {}).items()},
            {k: list(v) for k, v in d.get("evals", {}).items()},
            dict(d.get("meta", {})),
            bool(d.get("interrupted", False)),
        )


@dataclass(frozen=True)
class TrainConfig:
    """The settings of one training run; checks itself. Change it with `.replace(**changes)`.

    Give `steps` or `epochs` (passes over the larger domain). lambda follows the paper's ramp
    lambda_max * lambda_p in 'dann' mode and is 0 otherwise; with lr_schedule 'paper' the
    learning rate is lr / (1 + 10 p)^0.75. `adapt_bn` evaluates batch-norm networks with each
    evaluation set's own statistics, the way training normalises each domain (domain_batchnorm).
    `recipe` names the dannlib.recipes recipe the settings came from, if any.
    """

    mode: str = "dann"
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    lr_schedule: str = "paper"
    lambda_max: float = 1.0
    gamma: float = 10.0
    seed: int = 0
    eval_every: int | None = None
    adapt_bn: bool = False
    recipe: str | None = None

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        for name in ("steps", "epochs", "batch_size", "eval_every"):
            if getattr(self, name) is not None:
                check_count(name, getattr(self, name))
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give exactly one of steps=... or epochs=..., not both")
        if self.batch_size > MAX_BATCH_SIZE:
            raise ValueError(
                f"batch_size {self.batch_size} is too large (at most {MAX_BATCH_SIZE} images per "
                "domain and step); the paper uses 64 (32 + 32 on the moons)"
            )
        _check_number("lr", self.lr, low=0.0, low_open=True)
        _check_number("momentum", self.momentum, low=0.0, high=1.0)
        _check_number("lambda_max", self.lambda_max, low=0.0)
        _check_number("gamma", self.gamma, low=0.0, low_open=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {self.seed!r}")

    def replace(self, **changes) -> TrainConfig:
        """A copy with `changes` applied (and checked)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(
                f"unknown training setting(s) {', '.join(unknown)}; the settings are: "
                + ", ".join(f.name for f in dataclasses.fields(self))
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict (JSON- and weights_only-safe)."""
        return dataclasses.asdict(self)


def dann_step(
    model: DANN,
    optimizer: torch.optim.Optimizer,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    lam: float,
    lr: float,
) -> dict[str, float]:
    """One DANN update on `batch` = (labelled inputs, their labels, unlabelled inputs).

    The label loss is the cross-entropy on the labelled batch; the domain loss is the binary
    cross-entropy of the domain head, behind the gradient reversal of strength `lam`, on both
    batches (domain 0: labelled, 1: unlabelled). One backward pass of their sum, one optimiser
    step at learning rate `lr`. Batch-norm networks see each batch in its own forward pass.
    """
    x_lab, y_lab, x_unl = batch
    for group in optimizer.param_groups:
        group["lr"] = lr
    if model.has_batchnorm:  # one domain per batch-norm pass
        f_lab, f_unl = model.features(x_lab), model.features(x_unl)
    else:  # one pass over both domains, then split
        f_lab, f_unl = model.features(torch.cat([x_lab, x_unl])).split([len(x_lab), len(x_unl)])
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain = torch.cat([torch.zeros(len(x_lab)), torch.ones(len(x_unl))]).to(x_lab.device)
    domain_logit = model.domain_logit(torch.cat([f_lab, f_unl]), lam)
    domain_loss = F.binary_cross_entropy_with_logits(domain_logit, domain)
    loss = label_loss + domain_loss
    if not torch.isfinite(loss):
        raise TrainingDiverged(
            f"the loss became {loss.item()} (lr={lr:.3g}, lambda={lam:.3g}); lower the learning "
            "rate or lambda_max (and check the data for NaN or inf) and train again."
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    domain_acc = ((domain_logit.detach() > 0).float() == domain).float().mean()
    return {
        "label_loss": label_loss.item(),
        "domain_loss": domain_loss.item(),
        "domain_acc": domain_acc.item(),
        "lambda": float(lam),
        "lr": float(lr),
    }


def fit(
    model: DANN,
    source: Domain,
    target: Domain,
    config: TrainConfig | None = None,
    *,
    eval_sets: dict[str, Domain] | None = None,
    callback: Callable[[DANN, History, int], None] | None = None,
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
    **overrides,
) -> History:
    """Train `model` in place with `config` (a TrainConfig; keyword `overrides` change it).

    Every step draws `batch_size` source and `batch_size` target images (the shorter domain
    cycles) and calls `dann_step`. Every `eval_every` steps (default: once an epoch) each of
    `eval_sets` is evaluated, `callback(model, history, step)` is called and, if `checkpoint`
    is set, a resumable checkpoint is written; `resume` continues from one. Ctrl-C (SIGINT)
    stops after the current step and returns the History so far; SIGTERM saves the checkpoint
    first, then goes to the handler that was there before.
    """
    config = (config or TrainConfig()).replace(**overrides)
    run = _Run(model, source, target, config, device)
    if resume is not None:
        _resume(resume, run)
    eval_sets = eval_sets or {}
    with (
        _StopSignals() as stop,
        tqdm(
            total=run.total, initial=run.step, disable=not progress, desc=config.mode, leave=False
        ) as bar,
    ):
        try:
            if run.step == 0:
                run.evaluate(eval_sets, callback, checkpoint)
            while run.step < run.total and not stop.signal:
                run.train_step()
                bar.update()
                if run.step % run.eval_every == 0 or run.step == run.total:
                    run.evaluate(eval_sets, callback, checkpoint)
                    bar.set_postfix(run.last_accuracies())
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


class _Run:
    """The state of one fit: model, optimiser, batch streams, step counter and History."""

    def __init__(self, model: DANN, source: Domain, target: Domain, config: TrainConfig, device):
        self.model, self.config = model, config
        labelled, unlabelled = (
            (target, source) if config.mode == "target_only" else (source, target)
        )
        _check_data(model, source, target, labelled)
        per_epoch = steps_per_epoch(len(source), len(target), config.batch_size)
        if config.steps is None and config.epochs is None:
            raise ValueError("give exactly one of steps=... or epochs=...")
        self.total = config.steps or config.epochs * per_epoch
        self.eval_every = config.eval_every or per_epoch
        self.device = torch.device(device) if device else next(model.parameters()).device
        model.to(self.device).train()
        self.optimizer = _make_optimizer(model, config)
        # batch k of each domain depends only on (seed, k): resumed runs see the same batches
        streams = (
            IndexStream(len(source), 2 * config.seed),
            IndexStream(len(target), 2 * config.seed + 1),
        )
        if config.mode == "target_only":
            streams = streams[::-1]
        self.domains = list(zip((labelled, unlabelled), streams))
        meta = {**config.to_dict(), "steps": self.total, "eval_every": self.eval_every}
        self.history = History(
            meta={
                **meta,
                "steps_per_epoch": per_epoch,
                "source": data_note(source),
                "target": data_note(target),
            }
        )
        self.step, self.train_seconds, self.saved = 0, 0.0, 0
        torch.manual_seed(config.seed)

    def train_step(self) -> None:
        """One dann_step at this step's lambda and learning rate; undone if it raises."""
        c, p = self.config, self.step / self.total
        lam = c.lambda_max * dann_lambda(p, c.gamma) if c.mode == "dann" else 0.0
        lr = annealed_lr(p, c.lr) if c.lr_schedule == "paper" else c.lr
        (lab, lab_stream), (unl, unl_stream) = self.domains
        x_lab, y_lab = lab[lab_stream.batch(self.step, c.batch_size)]
        x_unl, _ = unl[unl_stream.batch(self.step, c.batch_size)]
        batch = (self._input(x_lab), y_lab.to(self.device), self._input(x_unl))
        t0 = time.perf_counter()
        with _undone_if_raised(self.model, self.history):
            stats = dann_step(self.model, self.optimizer, batch, lam, lr)
        self.train_seconds += time.perf_counter() - t0
        self.step += 1
        self.history.log_step(step=self.step, **stats)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return to_float(x.to(self.device))

    def evaluate(self, eval_sets: dict[str, Domain], callback, checkpoint) -> None:
        """Evaluate every set, log the row, call the callback, write the checkpoint."""
        row = {"step": self.step, "epoch": self.step / self.history.meta["steps_per_epoch"]}
        row["train_seconds"] = self.train_seconds
        t0 = time.perf_counter()
        for name, data in eval_sets.items():
            for key, value in evaluate(self.model, data, adapt_bn=self.config.adapt_bn).items():
                row[f"{name}_{key}"] = value
        row["eval_seconds"] = time.perf_counter() - t0
        self.history.log_eval(**row)
        if callback is not None:
            callback(self.model, self.history, self.step)
        if checkpoint is not None:
            self.save(checkpoint)

    def last_accuracies(self) -> dict[str, str]:
        return {k: f"{v[-1]:.3f}" for k, v in self.history.evals.items() if k.endswith("_acc")}

    def save(self, path) -> None:
        state = {
            "step": self.step,
            "train_seconds": self.train_seconds,
            "optimizer": self.optimizer.state_dict(),
            "rng": torch.get_rng_state(),
        }
        save_checkpoint(
            path,
            self.model,
            config=self.history.meta,
            history=self.history.to_dict(),
            train_state=state,
        )
        self.saved = self.step

    def stopped(self, checkpoint, signum: int) -> None:
        """After a Ctrl-C or SIGTERM: mark the History, save the last step, say how to resume."""
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


@contextlib.contextmanager
def _undone_if_raised(model: DANN, history: History) -> Iterator[None]:
    """A step that raises leaves the batch-norm statistics and the RNG as they were before it.

    Parameters change only in the optimiser step, the step's last act, so they need no undo.
    """
    rng, buffers = torch.get_rng_state(), [b.clone() for b in model.buffers()]
    try:
        yield
    except BaseException as err:
        torch.set_rng_state(rng)
        with torch.no_grad():
            for b, old in zip(model.buffers(), buffers, strict=True):
                b.copy_(old)
        if isinstance(err, TrainingDiverged):
            err.history = history
        raise


class _StopSignals:
    """Inside the block, Ctrl-C (SIGINT) and SIGTERM set `.signal` instead of stopping the
    program, so fit finishes the current step first. Main thread only; the previous handlers
    come back on exit, whichever handlers pytest, IPython or the platform installed."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> _StopSignals:
        self.signal, self._previous = None, {}
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._record)
        return self

    def _record(self, signum, frame) -> None:
        self.signal = signal.Signals(signum)

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def data_note(domain: Domain) -> dict:
    """What identifies a data set in a run's settings: the str/number entries of its info
    (name, split, source, count; safe for JSON and weights_only checkpoints)."""
    info = domain.info
    return {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool))}


def _check_number(name, value, low=None, high=None, low_open=False) -> None:
    """A finite number in [low, high) (or (low, high) with low_open)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low is None or value > low or (value == low and not low_open))
    ok = ok and (high is None or value < high)
    if not ok:
        where = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'})"
        raise ValueError(f"{name} must be a finite number in {where}, got {value!r}")


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


def _resume(path, run: _Run) -> None:
    """Load model, optimiser, RNG, History and step from a checkpoint written by fit."""
    model, opt, history, config = run.model, run.optimizer, run.history, run.history.meta
    payload = read_checkpoint(path)
    state = payload.get("train_state") or {}
    if not {"step", "train_seconds", "optimizer", "rng"} <= state.keys():
        raise CheckpointError(
            f"{path} holds weights but no training state, so training cannot resume from it; "
            "resume from a file written by fit(..., checkpoint=path), or load the weights with "
            "load_checkpoint"
        )
    check_spec(model, payload, path)
    changed = {
        k
        for k in ("mode", "steps", "batch_size", "seed", "optimizer")
        if payload["config"].get(k) != config[k]
    }
    if changed:
        raise ValueError(
            f"cannot resume {path}: {', '.join(sorted(changed))} differ from the "
            "checkpoint's; call fit with the same settings"
        )
    load_weights(model, payload, path)
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    old = History.from_dict(payload["history"])
    history.steps, history.evals = old.steps, old.evals
    run.step = run.saved = int(state["step"])
    run.train_seconds = float(state["train_seconds"])
