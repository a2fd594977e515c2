"""Training: one `fit` for source_only / dann / target_only, `evaluate`, and `History`.

Source-only is the same network with lambda = 0: the domain head still learns (a probe of how
separable the domains are) but its reversed gradient into the features is zero.
Target labels are used only in `target_only` mode and for reporting, never for selection.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
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
from dannlib.models import DANN
from dannlib.schedules import annealed_lr, dann_lambda

MODES = ("source_only", "dann", "target_only")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("paper", "constant")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; `history` holds the steps before it."""

    def __init__(self, message: str, history: History):
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


def map_batches(
    model: DANN, data: Domain | torch.Tensor, fn, batch_size: int = 1000
) -> torch.Tensor:
    """`fn(model, float_batch)` over every input, in eval and inference mode, on the CPU."""
    x = data.x if isinstance(data, Domain) else data
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = [
                fn(model, to_float(x[i : i + batch_size].to(device))).cpu()
                for i in range(0, max(len(x), 1), batch_size)  # one (empty) batch if x is empty
            ]
    finally:
        model.train(was_training)
    return torch.cat(out)


def class_logits(model: DANN, data: Domain | torch.Tensor, batch_size: int = 1000):
    """The label predictor's logits for every input (N x K)."""
    return map_batches(model, data, lambda m, x: m.label_head(m.features(x)), batch_size)


def extract_features(
    model: DANN, data: Domain | torch.Tensor, batch_size: int = 1000
) -> torch.Tensor:
    """The feature extractor's output for every input."""
    return map_batches(model, data, lambda m, x: m.features(x), batch_size)


@contextlib.contextmanager
def domain_batchnorm(model: DANN, data: Domain | torch.Tensor, batch_size: int = 1000):
    """Inside the block, batch-norm layers normalise with the statistics of `data` (AdaBN).

    fit normalises each domain with its own batch statistics, but the running averages that
    eval mode uses mix both domains; recomputing them on one domain's inputs (no labels needed)
    evaluates the network the way it was trained. The model's own statistics come back after.
    """
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
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
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in layers:
        m.train()
    try:
        return model(x)[0]
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
    if adapt_bn and model.has_batchnorm:
        with domain_batchnorm(model, data, batch_size):
            logits = class_logits(model, data, batch_size)
    else:
        logits = class_logits(model, data, batch_size)
    return {
        "acc": (logits.argmax(1) == data.y).float().mean().item(),
        "loss": F.cross_entropy(logits, data.y).item(),
    }


def _plain(info: dict) -> dict:
    """The str/number entries of an info dict (safe for JSON and weights_only checkpoints)."""
    return {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool))}


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


def _check_count(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")


def _check_data(model: DANN, source: Domain, target: Domain, labelled: Domain) -> None:
    """Clear errors for source/target inputs of different shapes and labels the model lacks."""
    if source.x.shape[1:] != target.x.shape[1:]:
        raise ValueError(
            f"source inputs are {tuple(source.x.shape[1:])} but target inputs are "
            f"{tuple(target.x.shape[1:])}; load both at one size and channel count "
            "(domain_pair does, or pass size= and channels= to load_domain)"
        )
    classes = model.spec.get("kwargs", {}).get("num_classes")
    if classes is not None and len(labelled) and int(labelled.y.max()) >= classes:
        raise ValueError(
            f"the training labels go up to {int(labelled.y.max())} but the model has "
            f"{classes} classes; build it with num_classes={int(labelled.y.max()) + 1}"
        )


class _DeferCtrlC:
    """Inside the block Ctrl-C is recorded in `.pending` instead of raised (main thread only)."""

    def __enter__(self) -> _DeferCtrlC:
        self.pending, self._previous = False, None
        on_main = threading.current_thread() is threading.main_thread()
        if on_main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._record)
        return self

    def _record(self, signum, frame) -> None:
        self.pending = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _make_optimizer(model: DANN, name: str, lr: float, momentum: float, weight_decay: float):
    if name == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
        )
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)


def fit(
    model: DANN,
    source: Domain,
    target: Domain,
    *,
    mode: str = "dann",
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 64,
    optimizer: str = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    lr_schedule: str = "paper",
    lambda_max: float = 1.0,
    gamma: float = 10.0,
    eval_sets: dict[str, Domain] | None = None,
    eval_every: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    callback: Callable[[DANN, History, int], None] | None = None,
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    adapt_bn: bool = False,
) -> History:
    """Train `model` in place on labelled `source` (or `target` if mode='target_only').

    Every step takes `batch_size` source and `batch_size` target images (the shorter domain
    cycles). Give `steps` or `epochs` (passes over the larger domain). lambda follows the
    paper's ramp lambda_max * lambda_p in 'dann' mode and is 0 otherwise; with lr_schedule
    'paper' the learning rate is lr / (1 + 10 p)^0.75. Every `eval_every` steps (default:
    once an epoch) each of `eval_sets` is evaluated, `callback(model, history, step)` is
    called and, if `checkpoint` is set, a resumable checkpoint is written. `adapt_bn`
    evaluates batch-norm networks with each evaluation set's own statistics (domain_batchnorm).
    Ctrl-C stops training and returns the History so far: a step cut short is undone (the
    model is as after the last completed step, which is also checkpointed); `resume`
    continues from a checkpoint.
    """
    _check_choice("mode", mode, MODES)
    _check_choice("optimizer", optimizer, OPTIMIZERS)
    _check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
    for name, value in (("steps", steps), ("epochs", epochs), ("batch_size", batch_size)):
        if value is not None:
            _check_count(name, value)
    _check_data(model, source, target, target if mode == "target_only" else source)
    per_epoch = steps_per_epoch(len(source), len(target), batch_size)
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps=... or epochs=...")
    total = steps if steps is not None else epochs * per_epoch
    eval_every = eval_every or per_epoch
    _check_count("eval_every", eval_every)
    eval_sets = eval_sets or {}
    device = torch.device(device) if device else next(model.parameters()).device
    model.to(device)
    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    config = dict(
        mode=mode,
        steps=total,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        lr_schedule=lr_schedule,
        lambda_max=lambda_max,
        gamma=gamma,
        seed=seed,
        eval_every=eval_every,
        adapt_bn=adapt_bn,
        source=_plain(source.info),
        target=_plain(target.info),
    )
    history = History(meta={**config, "steps_per_epoch": per_epoch})
    start, train_seconds = 0, 0.0
    torch.manual_seed(seed)
    if resume is not None:
        start, train_seconds = _resume(resume, model, opt, history, config)

    streams = IndexStream(len(source), 2 * seed), IndexStream(len(target), 2 * seed + 1)
    labelled = 1 if mode == "target_only" else 0
    domains = torch.cat([torch.zeros(batch_size), torch.ones(batch_size)]).to(device)
    saved, completed = [start], start  # last step checkpointed / fully applied and logged

    def save(step: int) -> None:
        state = {
            "step": step,
            "train_seconds": train_seconds,
            "optimizer": opt.state_dict(),
            "rng": torch.get_rng_state(),
        }
        save_checkpoint(
            checkpoint, model, config=config, history=history.to_dict(), train_state=state
        )
        saved[0] = step

    def run_eval(step: int) -> None:
        row = {"step": step, "epoch": step / per_epoch, "train_seconds": train_seconds}
        t0 = time.perf_counter()
        for name, data in eval_sets.items():
            for key, value in evaluate(model, data, adapt_bn=adapt_bn).items():
                row[f"{name}_{key}"] = value
        row["eval_seconds"] = time.perf_counter() - t0
        history.log_eval(**row)
        if callback is not None:
            callback(model, history, step)
        if checkpoint is not None:
            save(step)

    model.train()
    if start == 0:
        run_eval(0)
    bar = tqdm(
        range(start, total),
        initial=start,
        total=total,
        disable=not progress,
        desc=mode,
        unit="step",
        leave=False,
    )
    try:
        for step in bar:
            # A step cut short (Ctrl-C, divergence) is undone: batch-norm statistics and the
            # RNG go back to their values after the last completed step. Parameters change only
            # in opt.step(), where Ctrl-C is deferred until the step is applied and logged.
            rng, buffers = torch.get_rng_state(), [b.clone() for b in model.buffers()]
            t0 = time.perf_counter()
            try:
                p = step / total
                lam = lambda_max * dann_lambda(p, gamma) if mode == "dann" else 0.0
                step_lr = annealed_lr(p, lr) if lr_schedule == "paper" else lr
                for group in opt.param_groups:
                    group["lr"] = step_lr
                xs, ys = source[streams[0].batch(step, batch_size)]
                xt, yt = target[streams[1].batch(step, batch_size)]
                xs, xt = to_float(xs.to(device)), to_float(xt.to(device))
                if model.has_batchnorm:  # one domain per batch-norm pass
                    feats = [model.features(xs), model.features(xt)]
                else:  # one pass over both domains, then split
                    feats = list(model.features(torch.cat([xs, xt])).split(batch_size))
                logits = model.label_head(feats[labelled])
                label_loss = F.cross_entropy(logits, (ys, yt)[labelled].to(device))
                domain_logit = model.domain_logit(torch.cat(feats), lam)
                domain_loss = F.binary_cross_entropy_with_logits(domain_logit, domains)
                loss = label_loss + domain_loss
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss.item()} at step {step} (lr={step_lr:.3g}, "
                        f"lambda={lam:.3g}); lower the learning rate or lambda_max (and check "
                        "the data for NaN or inf) and train again.",
                        history,
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                domain_acc = ((domain_logit.detach() > 0).float() == domains).float().mean()
                with _DeferCtrlC() as ctrl_c:
                    opt.step()
                    train_seconds += time.perf_counter() - t0
                    history.log_step(
                        step=step + 1,
                        label_loss=label_loss.item(),
                        domain_loss=domain_loss.item(),
                        domain_acc=domain_acc.item(),
                        **{"lambda": lam, "lr": step_lr},
                    )
                    completed = step + 1
            except (KeyboardInterrupt, TrainingDiverged):
                if completed == step:  # the step was not applied: undo its side effects
                    torch.set_rng_state(rng)
                    with torch.no_grad():
                        for b, old in zip(model.buffers(), buffers, strict=True):
                            b.copy_(old)
                raise
            if ctrl_c.pending:
                raise KeyboardInterrupt
            if (step + 1) % eval_every == 0 or step + 1 == total:
                run_eval(step + 1)
                if eval_sets:
                    bar.set_postfix(
                        {k: f"{v[-1]:.3f}" for k, v in history.evals.items() if k.endswith("_acc")}
                    )
    except KeyboardInterrupt:
        history.interrupted = True
        if checkpoint is not None and completed > saved[0]:
            save(completed)
        warnings.warn(
            f"training interrupted after {completed} of {total} steps; returning the model "
            "and History so far"
            + (f" (resume with fit(..., resume='{checkpoint}'))" if checkpoint else ""),
            stacklevel=2,
        )
    finally:
        bar.close()
    return history


def _resume(path, model: DANN, opt, history: History, config: dict) -> tuple[int, float]:
    """Load model, optimiser, RNG and History from a checkpoint written by fit."""
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
    return int(state["step"]), float(state["train_seconds"])


def train_seconds_to(history: History, key: str, threshold: float) -> float:
    """Training seconds (evaluation excluded) until `key` first reached `threshold` (or inf)."""
    for value, seconds in zip(history.evals.get(key, []), history.evals.get("train_seconds", [])):
        if value >= threshold:
            return seconds
    return math.inf
