"""Controlled variants: a lesson's recipe with one thing changed, trained and saved like its runs.

A failure is located by changing one thing at a time against the same baseline (same data,
seeds and evaluation): the adversary's strength (`lambda_max`), the budget (more steps), the
domain classifier's width, or another recipe altogether. A `Variant` says what it changes; from
it come the saved run of a (task, mode, seed), the network to train, and where the run is saved
(the baseline in the course's checkpoints/, each variant in a folder of its own, since a run's
file name does not say what was changed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from torch import nn

from dannlib.lessons import saved_run
from dannlib.models import DANN, build_model
from dannlib.recipes import get_recipe
from dannlib.saved_runs import SavedRun, profile_subfolder, runs_dir

# changes that leave source only's training as it was (its lambda is 0 whatever they are)
DANN_ONLY = frozenset({"lambda_max", "gamma"})


@dataclass(frozen=True)
class Variant:
    """One change against a lesson's baseline run (no change: the baseline itself)."""

    name: str  # shown in tables, e.g. "lambda_max 0.3"
    changes: dict = field(default_factory=dict, hash=False)  # TrainConfig changes: {"lr": 1e-4}
    recipe: str = "course"  # the recipe (network and training settings) it starts from
    arch: str | None = None  # another network (a build_model name) with the recipe's settings
    steps_factor: int = 1  # the lesson's steps times this
    domain_hidden: tuple[int, ...] = ()  # hidden widths of a replacement domain classifier
    pairs: tuple[str, ...] = ()  # the pairs it runs on (empty: the lesson's variant_pairs)

    @property
    def is_baseline(self) -> bool:
        return self == Variant(self.name, pairs=self.pairs)

    @property
    def slug(self) -> str:
        """A folder name for its runs: 'lambda_max_0.3'."""
        return re.sub(r"[^a-z0-9.]+", "_", self.name.lower()).strip("_")

    @property
    def changes_source_only(self) -> bool:
        """True if source only trains differently too (other recipe, budget or optimiser), so
        the variant needs source-only runs of its own; else the baseline's serve."""
        return (
            self.recipe != "course"
            or self.arch is not None
            or self.steps_factor != 1
            or bool(set(self.changes) - DANN_ONLY)
        )

    def saved_run(self, s: SimpleNamespace, mode: str, seed: int, task: str) -> SavedRun:
        """The run of this variant for `mode`, `seed` and `task` at the lesson's sizes `s`."""
        base = saved_run(
            SimpleNamespace(**{**vars(s), "steps": s.steps * self.steps_factor}),
            self.recipe,
            mode,
            seed,
            task,
        )
        return SavedRun(base.lesson, base.config.replace(**self.changes), task, base.weights)

    def folder(self, s: SimpleNamespace) -> Path:
        """Where its runs at the lesson's settings `s` are saved: the default profile's baseline
        in the course's checkpoints/, another profile's in checkpoints/<lesson>_<profile>/,
        each variant in a folder of its own below (<lesson>_variants/<slug>)."""
        sub = profile_subfolder(s.lesson, s.profile)
        base = runs_dir() / sub if sub else runs_dir()
        return base if self.is_baseline else base / f"{s.lesson}_variants" / self.slug

    def build_model(self, **kwargs) -> DANN:
        """A fresh network of the variant (kwargs to the architecture, e.g. size=32); a wider
        domain classifier replaces the recipe's after the rest is built, so everything else
        starts from the same weights as the baseline's for a seed."""
        if self.arch is not None:
            model = build_model(self.arch, **kwargs)
        else:
            model = get_recipe(self.recipe).build_model(**kwargs)
        if self.domain_hidden:
            model.domain_head = domain_classifier(model.domain_head, self.domain_hidden)
        return model


def domain_classifier(like: nn.Sequential, hidden: tuple[int, ...]) -> nn.Sequential:
    """A domain classifier with hidden layers of widths `hidden`, built like `like` (its input
    size; batch norm after each hidden layer if `like` has it): Linear, [BatchNorm], ReLU, ...,
    Linear to one logit."""
    linears = [m for m in like if isinstance(m, nn.Linear)]
    batchnorm = any(isinstance(m, nn.BatchNorm1d) for m in like)
    layers: list[nn.Module] = []
    width = linears[0].in_features
    for h in hidden:
        layers += [nn.Linear(width, h), *([nn.BatchNorm1d(h)] if batchnorm else []), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, 1))


def lesson_variants(s: SimpleNamespace) -> list[Variant]:
    """The baseline and the variants of lesson settings `s` (its `variants` table)."""
    return [Variant("baseline")] + [Variant(name, **spec) for name, spec in s.variants.items()]


def lesson_runs(
    s: SimpleNamespace, variants: list[Variant], pairs: list[str]
) -> list[tuple[Variant, str, str, int]]:
    """(variant, task, mode, seed) of every run of a lesson: the first variant (its baseline) on
    every pair of `pairs`, the others on those of their own pairs (default: `s.variant_pairs`)
    that are in `pairs`; source only and DANN for the baseline and for variants that change
    source only, else DANN alone (the baseline's source only serves). Seeds: `s.seed_list` if
    set (lessons.setup), else 0, 1, ..."""
    seeds = getattr(s, "seed_list", None) or list(range(s.seeds))
    runs = []
    for i, variant in enumerate(variants):
        tasks = pairs if i == 0 else [t for t in pairs if t in (variant.pairs or s.variant_pairs)]
        own = i == 0 or variant.changes_source_only
        modes = ("source_only", "dann") if own else ("dann",)
        runs += [(variant, t, mode, seed) for t in tasks for seed in seeds for mode in modes]
    return runs
