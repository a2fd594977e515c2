"""Named recipes: a network plus the training settings that go with it, written down once.

Lessons, benchmarks and the `dann` command take their settings from here, so a model trained
in one place is trained (and evaluated: `adapt_bn`) exactly as in the others. A recipe states
only where it departs from TrainConfig's defaults (the paper's settings); its name is written
once and recorded in its settings (`config.recipe`).

- "paper": the paper's MNIST network and schedules (Ganin et al. 2016): SGD with momentum 0.9,
  lr 0.01 annealed as 0.01 / (1 + 10 p)^0.75, lambda ramped 0 -> 1, on per-image standardised
  inputs, 32 + 32 images a step (64 + 64 was unstable). No batch norm.
- "course": the paper's MNIST network with batch norm and dropout ("modern"), Adam at 1e-3,
  constant, 32 + 32 images a step (benchmarks/: 0.90 on MNIST-M sooner than with 64 + 64,
  and a higher plateau). Each domain passes through batch norm on its own in training, so
  each evaluation set is read with its own batch-norm statistics too (adapt_bn). Per-domain
  batch norm is an adaptation method in itself: a fair baseline is this recipe with
  mode="source_only".
- "moons": the toy net of lessons 02, 03 and 06 on the rotated two moons.
- "entropy": the course recipe plus entropy minimisation on the target's predictions
  (dannlib.steps.dann_entropy_step), a common complement to DANN.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from dannlib.models import DANN, build_model
from dannlib.train_config import TrainConfig


@dataclass(frozen=True)
class Recipe:
    """A network (`arch`, see dannlib.models.build_model) and its training settings; the
    settings record the recipe's name."""

    name: str
    arch: str
    config: TrainConfig
    description: str
    model_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", self.config.replace(recipe=self.name))

    def build_model(self, **kwargs) -> DANN:
        """A fresh network of this recipe (kwargs go to the architecture, e.g. size=32)."""
        return build_model(self.arch, **{**self.model_kwargs, **kwargs})

    def variant(self, name: str, description: str, **changes) -> Recipe:
        """Another recipe on this one's network, its settings changed by `changes`."""
        return dataclasses.replace(
            self, name=name, description=description, config=self.config.replace(**changes)
        )


PAPER = Recipe(
    "paper",
    "mnist",
    TrainConfig(batch_size=32),
    "the paper's MNIST net on standardised images, 32 + 32 images a step, SGD 0.01 "
    "annealed, momentum 0.9, no batch norm; adapts after about 12,000 steps",
    model_kwargs={"inputs": "standardize"},
)
COURSE = Recipe(
    "course",
    "modern",
    TrainConfig(batch_size=32, optimizer="adam", lr=1e-3, lr_schedule="constant", adapt_bn=True),
    "the paper's MNIST net with batch norm and dropout, Adam 1e-3, 32 + 32 images a step; "
    "each domain read with its own batch-norm statistics",
)
MOONS = Recipe(
    "moons",
    "toy",
    TrainConfig(steps=1500, batch_size=32, lr=0.1, lr_schedule="constant", lambda_max=2.0),
    "the 15-unit toy net on the rotated moons: SGD 0.1 constant, 32 + 32 points a step, "
    "lambda_max 2",
)
ENTROPY = COURSE.variant(
    "entropy",
    "the course recipe plus entropy minimisation on the target's predictions (its weight: "
    "0.1 x lambda)",
    method="dann_entropy",
)

RECIPES = {r.name: r for r in (PAPER, COURSE, MOONS, ENTROPY)}


def get_recipe(name: str) -> Recipe:
    """The recipe called `name` (one of RECIPES: paper, course, moons, entropy)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return RECIPES[name]
