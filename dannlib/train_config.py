"""The settings of a training run (`TrainConfig`) and the one rule for when two runs were trained
alike (`differences`), used by saved runs, by resuming and by the `dann` command.

A run records how it was trained (`run_record`: every setting, the step count resolved, and
the data it saw); two records describe the same training when they agree on every TrainConfig
field but `eval_every` (how often it was evaluated) and on the data. A field an older record
lacks counts as its default, so adding a setting with a default that reproduces the old
behaviour keeps old runs valid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from dannlib.common import check_number
from dannlib.data.base import Domain
from dannlib.data.loaders import steps_per_epoch
from dannlib.data.validate import check_choice, check_count, check_seed
from dannlib.schedules import annealed_lr, dann_lambda
from dannlib.steps import STEPS

MODES = ("source_only", "dann", "target_only")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("paper", "constant")
LAMBDA_SCHEDULES = ("paper", "constant")
MAX_BATCH_SIZE = 4096  # images per domain and step; far beyond what a laptop's memory holds


@dataclass(frozen=True)
class TrainConfig:
    """The settings of one training run; checks itself. Change it with `.replace(**changes)`.

    The defaults are the paper's (Ganin et al. 2016): 64 + 64 images a step, SGD with
    momentum 0.9 at lr 0.01 / (1 + 10 p)^0.75 (lr_schedule 'paper'), lambda ramped as
    lambda_max (2 / (1 + exp(-gamma p)) - 1) with gamma 10 (lambda_schedule 'paper'; 'constant'
    holds lambda_max from the first step), p the progress from 0 to 1 (over `ramp_steps` steps
    if given, else over the run). A recipe (dannlib.recipes) changes what it needs and names
    itself in `recipe`.

    mode: 'dann' adapts; 'source_only' is the same training with lambda 0 (the domain head
    still learns, its reversed gradient into the features is zero); 'target_only' trains on
    the target's labels (a reference). method: the update each step runs, a name in
    dannlib.steps.STEPS ('dann': dann_step). Give `steps` or `epochs` (passes over the larger
    domain). `adapt_bn` evaluates batch-norm networks with each evaluation set's own
    statistics, the way training normalises each domain (AdaBN).
    """

    mode: str = "dann"
    method: str = "dann"
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    lr_schedule: str = "paper"
    lambda_max: float = 1.0
    lambda_schedule: str = "paper"
    gamma: float = 10.0
    ramp_steps: int | None = None
    seed: int = 0
    eval_every: int | None = None
    adapt_bn: bool = False
    recipe: str | None = None

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_choice("method", self.method, STEPS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("lambda_schedule", self.lambda_schedule, LAMBDA_SCHEDULES)
        for name in ("steps", "epochs", "batch_size", "ramp_steps", "eval_every"):
            if name == "batch_size" or getattr(self, name) is not None:
                check_count(name, getattr(self, name))
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give exactly one of steps=... or epochs=..., not both")
        if self.batch_size > MAX_BATCH_SIZE:
            raise ValueError(
                f"batch_size {self.batch_size} is too large (at most {MAX_BATCH_SIZE} images per "
                "domain and step); the paper uses 64 (32 + 32 on the moons)"
            )
        check_number("lr", self.lr, 0.0, low_open=True)
        check_number("momentum", self.momentum, 0.0, 1.0)
        check_number("lambda_max", self.lambda_max, 0.0)
        check_number("gamma", self.gamma, 0.0, low_open=True)
        for name in ("lr", "momentum", "lambda_max", "gamma"):  # NumPy numbers: plain floats
            object.__setattr__(self, name, float(getattr(self, name)))
        check_seed(self.seed)
        if not isinstance(self.adapt_bn, bool):
            raise ValueError(f"adapt_bn must be True or False, got {self.adapt_bn!r}")
        if self.recipe is not None and not isinstance(self.recipe, str):
            raise ValueError(f"recipe must be a recipe's name or None, got {self.recipe!r}")

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

    def total_steps(self, n_source: int, n_target: int) -> int:
        """Steps of the run on domains of these sizes (`steps`, or `epochs` passes)."""
        if self.steps is None and self.epochs is None:
            raise ValueError("give exactly one of steps=... or epochs=...")
        return self.steps or self.epochs * steps_per_epoch(n_source, n_target, self.batch_size)

    def lambda_at(self, step: int, total: int) -> float:
        """The reversal strength of step `step` (from 0) of `total`: 0 unless mode is 'dann'."""
        if self.mode != "dann":
            return 0.0
        if self.lambda_schedule == "constant":
            return float(self.lambda_max)
        return self.lambda_max * dann_lambda(step / (self.ramp_steps or total), self.gamma)

    def lr_at(self, step: int, total: int) -> float:
        """The learning rate of step `step` (from 0) of `total`."""
        return annealed_lr(step / total, self.lr) if self.lr_schedule == "paper" else self.lr


# TrainConfig fields that do not change what training produces
NOT_TRAINING = frozenset({"eval_every"})
TRAINING_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name not in NOT_TRAINING
}


def data_note(domain: Domain) -> dict:
    """What identifies a data set in a run's record: the str/number entries of its info
    (name, split, source, count; safe for JSON and weights_only checkpoints)."""
    info = domain.info
    return {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool))}


def run_record(config: TrainConfig, source: Domain, target: Domain) -> dict:
    """How a run of `config` on `source` and `target` was trained, as a plain dict: every
    setting (steps resolved from epochs, eval_every from its default of once an epoch),
    steps_per_epoch, and the data (data_note). fit keeps it as History.config."""
    per_epoch = steps_per_epoch(len(source), len(target), config.batch_size)
    return {
        **config.to_dict(),
        "steps": config.total_steps(len(source), len(target)),
        "eval_every": config.eval_every or per_epoch,
        "steps_per_epoch": per_epoch,
        "source": data_note(source),
        "target": data_note(target),
    }


def differences(saved: Mapping, wanted: Mapping) -> list[str]:
    """The training settings and data in which run record `saved` differs from `wanted`
    (see run_record): [] when both runs were trained alike. A setting a record lacks counts
    as its default."""
    return [
        key
        for key in (*TRAINING_DEFAULTS, "source", "target")
        if saved.get(key, TRAINING_DEFAULTS.get(key)) != wanted.get(key, TRAINING_DEFAULTS.get(key))
    ]
