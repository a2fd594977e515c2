"""`History`: what happened during training, as plain lists of numbers; checked when read back."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class History:
    """Per-step statistics (losses, schedules), periodic evaluations, and `config`: how the
    run was trained (its settings and data, see dannlib.train_config.run_record; a checkpoint
    keeps the same dict under "config")."""

    steps: dict[str, list] = field(default_factory=dict)
    evals: dict[str, list] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    interrupted: bool = False

    @property
    def meta(self) -> dict:
        """The former name of `config` (the `dann` command still reads it)."""
        return self.config

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
            "config": self.config,
            "interrupted": self.interrupted,
        }

    @classmethod
    def from_dict(cls, d) -> History:
        """Inverse of to_dict, checked: ValueError saying what is wrong unless `d` holds steps
        and evaluations as columns of equal length of finite numbers, at least one evaluation
        with its step, a config dict and an interrupted flag. Older files keep the config under
        "meta"."""
        if not isinstance(d, Mapping):
            raise ValueError(f"a saved History is a dict, this one is a {type(d).__name__}")
        config = d.get("config", d.get("meta", {}))
        if not isinstance(config, Mapping) or not all(isinstance(k, str) for k in config):
            raise ValueError("a saved History's config is a dict of settings")
        interrupted = d.get("interrupted", False)
        if not isinstance(interrupted, bool):
            raise ValueError(
                f"a saved History's 'interrupted' is True or False, not {interrupted!r}"
            )
        history = cls(
            _columns(d.get("steps", {}), "steps"), _columns(d.get("evals"), "evals"), dict(config)
        )
        if not history.evals.get("step"):
            raise ValueError("a saved History holds at least one evaluation, with its step")
        history.interrupted = interrupted
        return history


def _columns(table, name: str) -> dict[str, list]:
    """`table` as a dict of lists, checked: str keys, lists of equal length, finite numbers."""
    if not isinstance(table, Mapping):
        raise ValueError(f"a saved History's {name} is a dict of lists, not {type(table).__name__}")
    columns, lengths = {}, set()
    for key, values in table.items():
        if not isinstance(key, str) or not isinstance(values, (list, tuple)):
            raise ValueError(f"a saved History's {name} maps names to lists of numbers")
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(
                    f"a saved History's {name}[{key!r}][{i}] is {v!r:.40}, not a finite number"
                )
        columns[key], lengths = list(values), lengths | {len(values)}
    if len(lengths) > 1:
        raise ValueError(
            f"a saved History's {name} has columns of different lengths ({sorted(lengths)})"
        )
    return columns
