"""A training run's state between steps: saving it to resume later (and reading it back, checked),
undoing a step that raised, and stopping between steps on Ctrl-C or SIGTERM."""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Mapping

import torch

from dannlib.checkpoint import (
    CheckpointError,
    check_spec,
    load_weights,
    read_checkpoint,
    save_checkpoint,
)
from dannlib.common import on_main_thread
from dannlib.files import printable
from dannlib.history import History
from dannlib.models import DANN
from dannlib.tensors import check_tensor
from dannlib.train_config import differences

STATE_KEYS = frozenset({"step", "train_seconds", "optimizer", "rng"})


def save_state(
    path: str | os.PathLike,
    model: DANN,
    optimizer: torch.optim.Optimizer,
    history: History,
    step: int,
    train_seconds: float,
) -> None:
    """A resumable checkpoint: weights, the run's record and History, and what continues the
    run exactly (step, optimiser state, the random number generator)."""
    state = {
        "step": step,
        "train_seconds": train_seconds,
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
    }
    save_checkpoint(
        path, model, config=history.config, history=history.to_dict(), train_state=state
    )


def load_state(
    path: str | os.PathLike, model: DANN, optimizer: torch.optim.Optimizer, record: dict
) -> tuple[int, float, History]:
    """Continue a run from a checkpoint written by fit: its weights into `model`, its
    optimiser state into `optimizer`, its random state into torch's; returns its step,
    training seconds and History.

    Refused with a CheckpointError or ValueError that says what to do: a file without training
    state, another network, other training settings or data than `record` (the run's, see
    dannlib.train_config.run_record), or state that does not fit (a step outside the run,
    optimiser state of other shapes, a damaged random state or History).
    """
    payload, shown = read_checkpoint(path), printable(path)
    state = payload.get("train_state") or {}
    if not STATE_KEYS <= state.keys():
        raise CheckpointError(
            f"{shown} holds weights but no training state, so training cannot resume from it; "
            "resume from a file written by fit(..., checkpoint=path), or load the weights with "
            "load_checkpoint"
        )
    check_spec(model, payload, path)
    changed = differences(payload["config"], record)
    if changed:
        raise ValueError(
            f"cannot resume {shown}: {', '.join(changed)} differ from the checkpoint's; call "
            "fit with the settings and data it was trained with"
        )
    step, seconds = state["step"], state["train_seconds"]
    total = record["steps"]
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= total:
        raise CheckpointError(
            f"{shown} is damaged: its step {step!r:.40} is not a whole number from 0 to the run's "
            f"{total} steps; train again without resume"
        )
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        raise CheckpointError(f"{shown} is damaged: its training time is {seconds!r:.40}")
    rng = _checked_rng(state["rng"], shown)
    try:
        history = History.from_dict(payload["history"])
    except ValueError as err:
        raise CheckpointError(f"{shown} is damaged: {err}; train again without resume") from None
    if history.steps.get("step", [])[-1:] != ([step] if step else []):
        raise CheckpointError(
            f"{shown} is damaged: its History does not end at its step {step}; train again "
            "without resume"
        )
    _check_optimizer_state(state["optimizer"], optimizer, shown)
    load_weights(model, payload, path)
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{shown}: its optimiser state does not fit ({err})") from None
    torch.set_rng_state(rng)
    return step, float(seconds), history


def _checked_rng(rng, shown: str) -> torch.Tensor:
    """The saved random state, if it is a byte tensor the size of torch's."""
    want = torch.get_rng_state()
    try:
        return check_tensor(rng, "its random state", dtype=want.dtype, shape=tuple(want.shape))
    except ValueError as err:
        raise CheckpointError(f"{shown} is damaged: {err}; train again without resume") from None


def _check_optimizer_state(saved, optimizer: torch.optim.Optimizer, shown: str) -> None:
    """CheckpointError unless `saved` is an optimiser state for `optimizer`'s parameters:
    its groups hold as many parameters, its numbers are finite, and each parameter's state
    tensors are finite, of the parameter's shape (or 0-dim, as Adam's step count)."""
    damaged = f"{shown} is damaged: its optimiser state"
    if not isinstance(saved, Mapping) or set(saved) != {"state", "param_groups"}:
        raise CheckpointError(f"{damaged} is not a torch optimiser state")
    groups, state = saved["param_groups"], saved["state"]
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if (
        not isinstance(groups, list)
        or len(groups) != len(optimizer.param_groups)
        or not all(isinstance(g, Mapping) and isinstance(g.get("params"), list) for g in groups)
        or [len(g["params"]) for g in groups] != [len(g["params"]) for g in optimizer.param_groups]
    ):
        raise CheckpointError(
            f"{shown}: its optimiser state is for another network or optimiser; resume with the "
            "settings it was trained with"
        )
    for g in groups:
        for key, value in g.items():
            if key != "params" and not _plain_setting(value):
                raise CheckpointError(f"{damaged} has {key} = {value!r:.40}")
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{damaged} is not a torch optimiser state")
    for index, entry in state.items():
        if not isinstance(index, int) or not 0 <= index < len(params):
            raise CheckpointError(f"{damaged} names a parameter {index!r:.40} the model lacks")
        if not isinstance(entry, Mapping):
            raise CheckpointError(f"{damaged} for parameter {index} is not a dict")
        for key, value in entry.items():
            if not isinstance(value, torch.Tensor):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise CheckpointError(f"{damaged} has {key} = {value!r:.40}")
                if not math.isfinite(value):
                    raise CheckpointError(f"{damaged} holds NaN or infinite values ({key!r:.40})")
                continue
            shape = params[index].shape
            if value.shape not in (shape, torch.Size()) or not value.is_floating_point():
                raise CheckpointError(
                    f"{damaged}: {key!r:.40} of parameter {index} is {value.dtype} "
                    f"{tuple(value.shape)}, the parameter is {tuple(shape)}; resume with the "
                    "network it was trained with"
                )
            if not torch.isfinite(value).all():
                raise CheckpointError(f"{damaged} holds NaN or infinite values ({key!r:.40})")


def _plain_setting(value) -> bool:
    """A finite number, a bool, None, a string, or a tuple/list of finite numbers."""
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
    return False


class Undo:
    """Undoes a step that raises: `with undo:` around a step puts back the buffers (batch-norm
    statistics) and the random state it had. Parameters change only in the optimiser step, a
    step's last act, so they need no copy. The copies are kept in place, made once."""

    def __init__(self, model: DANN):
        self.buffers = list(model.buffers())
        self.copies = [b.detach().clone() for b in self.buffers]

    def __enter__(self) -> Undo:
        self.rng = torch.get_rng_state()
        if self.buffers:
            torch._foreach_copy_(self.copies, self.buffers)  # one launch on a GPU
        return self

    def __exit__(self, kind, err, tb) -> None:
        if kind is None:
            return
        torch.set_rng_state(self.rng)
        with torch.no_grad():
            for b, old in zip(self.buffers, self.copies, strict=True):
                b.copy_(old)


class StopSignals:
    """Inside the block, Ctrl-C (SIGINT) and SIGTERM set `.signal` instead of stopping the
    program, so fit finishes the current step first. Main thread only; the previous handlers
    come back on exit, whichever handlers pytest, IPython or the platform installed."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> StopSignals:
        self.signal, self._previous = None, {}
        if on_main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._record)
        return self

    def _record(self, signum, frame) -> None:
        self.signal = signal.Signals(signum)

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
