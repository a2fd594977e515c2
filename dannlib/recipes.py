"""Named recipes: a network plus the training settings that go with it, written down once.

Lessons, benchmarks and the `dann` command take their settings from here, so a model trained
in one place is trained (and evaluated: `adapt_bn`) exactly as in the others.

- "paper": the paper's MNIST network and schedules (Ganin et al. 2016): SGD with momentum 0.9,
  lr 0.01 annealed as 0.01 / (1 + 10 p)^0.75, lambda ramped 0 -> 1. No batch norm.
- "course": the paper's MNIST network with batch norm and dropout ("modern"), Adam at 1e-3,
  constant, 32 + 32 images a step (benchmarks/: 0.90 on MNIST-M sooner than with 64 + 64,
  and a higher plateau). Each domain passes through batch norm on its own in training, so
  each evaluation set is read with its own batch-norm statistics too (adapt_bn). Per-domain
  batch norm is an adaptation method in itself: a fair baseline is this recipe with
  mode="source_only".
- "moons": the toy net of lessons 02, 03 and 06 on the rotated two moons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dannlib.models import DANN, build_model
from dannlib.train import TrainConfig


@dataclass(frozen=True)
class Recipe:
    """A network (`arch`, see dannlib.models.build_model) and its training settings."""

    name: str
    arch: str
    config: TrainConfig
    description: str
    model_kwargs: dict = field(default_factory=dict)

    def build_model(self, **kwargs) -> DANN:
        """A fresh network of this recipe (kwargs go to the architecture, e.g. size=32)."""
        return build_model(self.arch, **{**self.model_kwargs, **kwargs})


RECIPES = {
    "paper": Recipe(
        "paper",
        "mnist",
        TrainConfig(
            batch_size=32,
            optimizer="sgd",
            lr=0.01,
            momentum=0.9,
            lr_schedule="paper",
            recipe="paper",
        ),
        "the paper's MNIST net on standardised images, 32 + 32 images a step, SGD 0.01 "
        "annealed, momentum 0.9, no batch norm; adapts after about 12,000 steps",
        model_kwargs={"inputs": "standardize"},
    ),
    "course": Recipe(
        "course",
        "modern",
        TrainConfig(
            batch_size=32,
            optimizer="adam",
            lr=1e-3,
            lr_schedule="constant",
            adapt_bn=True,
            recipe="course",
        ),
        "the paper's MNIST net with batch norm and dropout, Adam 1e-3, 32 + 32 images a step; "
        "each domain read with its own batch-norm statistics",
    ),
    "moons": Recipe(
        "moons",
        "toy",
        TrainConfig(
            steps=1500,
            batch_size=32,
            lr=0.1,
            lr_schedule="constant",
            lambda_max=2.0,
            recipe="moons",
        ),
        "the 15-unit toy net on the rotated moons: SGD 0.1 constant, 32 + 32 points a step, "
        "lambda_max 2",
    ),
}


def get_recipe(name: str) -> Recipe:
    """The recipe called `name` (one of RECIPES: paper, course, moons)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return RECIPES[name]
