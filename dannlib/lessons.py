"""Each lesson's sizes per profile, in one table, and the lesson's switchboard (`setup`).

The table is the only one: the `dann` command's profile sizes are lesson 04's (`get_profile`).

A lesson's parameters cell holds PROFILE, SEED, THREADS, DEVICE, DATA and sizes that default to
None; its setup cell calls `setup("04", profile=PROFILE, ...)`, which fills the sizes from
here, applies the seed and thread count, picks the device and says what it chose
(`.summary`). papermill can override any parameter. scripts/train_checkpoints.py reads the
same table, so the runs it saves are the runs the lessons ask for.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch

from dannlib.config import pick_device, profile_name, set_seed
from dannlib.data import DATA_CHOICES
from dannlib.data.validate import check_choice
from dannlib.recipes import get_recipe
from dannlib.saved_runs import SavedRun, profile_subfolder

MODES_SO_DANN = ("source_only", "dann")
MODES_ALL = ("source_only", "dann", "target_only")
OFFLINE_PAIRS_05 = [
    "mnist->syn_digits",
    "syn_digits->mnist",
    "syn_digits->mnist_m",
    "mnist->uci_digits",
]
HURT_PAIRS_05 = OFFLINE_PAIRS_05[1:3]  # SynDigits as the source: where DANN ends below
# the default profile's runs are the ones trained and committed: the help pair, the hurt pair
# SynDigits -> MNIST and the controlled variants on it
DEFAULT_PAIRS_05 = OFFLINE_PAIRS_05[:2]
REAL_PAIRS_05 = ["svhn->mnist", "syn_digits->svhn", "mnist->svhn"]  # DATA = "real"
# lesson 05's controlled variants: name -> what changes (dannlib.variants.Variant's fields)
VARIANTS_05 = {
    "lambda_max 0.3": dict(changes={"lambda_max": 0.3}),
    "domain head 1024-1024": dict(domain_hidden=(1024, 1024)),
    "2x steps": dict(steps_factor=2),
    "paper recipe, 2x steps": dict(recipe="paper", steps_factor=2),
}

# seeds: runs per method for the lesson's claims. Digit lessons: train / test: images per
# domain (None: all); *_steps: optimisation steps of one run; embed: points per domain in 2-D
# plots. Moons lessons: points per domain, steps (None: the moons recipe's).
LESSONS: dict[str, dict[str, dict]] = {
    "01": {
        "quick": dict(points=500, seeds=5),
        "default": dict(points=500, seeds=10),
        "paper": dict(points=500, seeds=20),
    },
    "02": {
        "quick": dict(steps=None, seeds=2),
        "default": dict(steps=None, seeds=3),
        "paper": dict(steps=None, seeds=5),
    },
    # sweep_angles x sweep_seeds: the angle sweep; shares: the target's class-1 shares of the
    # label-shift experiment (the `seeds` runs each; 0.5 is the balanced moons of the claim)
    "03": {
        "quick": dict(
            points=300,
            steps=None,
            seeds=3,
            sweep_angles=[0, 35, 60],
            sweep_seeds=2,
            shares=[0.5, 0.8],
        ),
        "default": dict(
            points=300,
            steps=None,
            seeds=5,
            sweep_angles=[0, 15, 30, 45, 60, 75, 90],
            sweep_seeds=3,
            shares=[0.2, 0.5, 0.8],
        ),
        "paper": dict(
            points=300,
            steps=None,
            seeds=10,
            sweep_angles=list(range(0, 91, 10)),
            sweep_seeds=5,
            shares=[0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9],
        ),
    },
    # paper_stand_in: steps of the paper recipe's runs when none is saved for these seeds (quick:
    # the saved default runs are loaded when they match, else short stand-ins that assert
    # nothing); course_ramp_steps: the lambda ramp's length (quick: the default runs', so a quick
    # run is the first course_steps of a default run); ceiling: train the train-on-target runs;
    # evals: evaluations of a run trained in the lesson (the saved runs have EVALS_PER_RUN)
    "04": {
        "quick": dict(
            train=None,
            test=500,
            paper_steps=12_000,
            paper_stand_in=200,
            course_steps=400,
            course_ramp_steps=3000,
            seeds=2,
            embed=100,
            ceiling=False,
            evals=8,
        ),
        "default": dict(
            train=None,
            test=2000,
            paper_steps=12_000,
            paper_stand_in=None,
            course_steps=3000,
            course_ramp_steps=None,
            seeds=3,
            embed=500,
            ceiling=True,
            evals=20,
        ),
        "paper": dict(
            train=None,
            test=None,
            paper_steps=12_000,
            paper_stand_in=None,
            course_steps=6000,
            course_ramp_steps=None,
            seeds=5,
            embed=1000,
            ceiling=True,
            evals=20,
        ),
    },
    # pairs: the course-data pairs; variant_pairs x variants: the controlled variants
    # (dannlib.variants), one change each against the baseline (the course recipe at `steps`)
    # on the pairs where DANN hurts; real_pairs, real_steps: the paper's SVHN pairs and the
    # SVHN network's budget with DATA = "real". Quick: 300 steps; its claims held for seven
    # groups of three seeds (first seeds 0, 11, 11, 12, 20, 20, 30; 1 or 2 threads, 12 and one
    # 20 on the other floating-point path), the closest by 2.7 standard errors (2026-12-05)
    "05": {
        "quick": dict(
            train=2000,
            test=500,
            steps=300,
            seeds=3,
            pairs=["mnist->syn_digits", "syn_digits->mnist_m"],
            variant_pairs=["syn_digits->mnist_m"],
            variants={"lambda_max 0.3": VARIANTS_05["lambda_max 0.3"]},
            real_pairs=REAL_PAIRS_05[:1],
            real_steps=10,
        ),
        "default": dict(
            train=None,
            test=1000,
            steps=1500,
            seeds=3,
            pairs=DEFAULT_PAIRS_05,
            variant_pairs=DEFAULT_PAIRS_05[1:],
            variants=VARIANTS_05,
            real_pairs=REAL_PAIRS_05,
            real_steps=12_000,
        ),
        "paper": dict(
            train=None,
            test=None,
            steps=20_000,
            seeds=3,
            pairs=OFFLINE_PAIRS_05,
            variant_pairs=HURT_PAIRS_05,
            variants=VARIANTS_05,
            real_pairs=REAL_PAIRS_05,
            real_steps=30_000,
        ),
    },
    # steps, embed: the watched digit run; lambdas: the moons grid of lambda_max values, seeds:
    # moons runs per lambda; long_steps: the longer lambda_max = 1 moons runs (0: none; the
    # moons recipe trains 1,500 steps). Quick keeps the lambdas the claims compare.
    "06": {
        "quick": dict(
            train=1000,
            test=500,
            steps=100,
            embed=100,
            lambdas=[0.0, 1.0, 2.0, 4.0],
            seeds=2,
            long_steps=0,
        ),
        "default": dict(
            train=3000,
            test=2000,
            steps=800,
            embed=150,
            lambdas=[0.0, 0.5, 1.0, 2.0, 4.0],
            seeds=8,
            long_steps=4500,
        ),
        "paper": dict(
            train=None,
            test=None,
            steps=3000,
            embed=300,
            lambdas=[0.0, 0.5, 1.0, 2.0, 4.0],
            seeds=16,
            long_steps=4500,
        ),
    },
}


# The runs a lesson ships (scripts/train_checkpoints.py saves them, the lesson loads them):
# per profile, recipe -> modes; and whether the weights are kept or only the History (curves
# and numbers). The default profile's are in checkpoints/, another profile's in a subfolder
# (saved_runs.profile_subfolder). Lesson 04's quick profile loads the paper recipe's default
# runs (the same steps) and its own short course runs. Lesson 05's quick runs and controlled
# variants are dannlib.variants' (scripts/lesson05_variants.py).
SAVED = {
    "04": dict(
        profiles={
            "default": {"paper": MODES_SO_DANN, "course": MODES_ALL},
            "quick": {"course": MODES_SO_DANN},
        },
        weights=True,
    ),
    "05": dict(profiles={"default": {"course": MODES_SO_DANN}}, weights=False),
}
EVALS_PER_RUN = 20  # a saved run is evaluated every steps // 20 steps


def settings(lesson: str, profile: str | None = None) -> SimpleNamespace:
    """Lesson `lesson`'s sizes in `profile` (default: $DANNLIB_PROFILE), as attributes."""
    if lesson not in LESSONS:
        raise ValueError(f"no sizes for lesson {lesson!r}; lessons: {', '.join(LESSONS)}")
    name = profile_name(profile)
    return SimpleNamespace(lesson=lesson, profile=name, **LESSONS[lesson][name])


@dataclass(frozen=True)
class Profile:
    """What `dann train --profile NAME` trains by default: lesson 04's course-recipe run in
    that profile (images per domain for training and testing, None: all; steps)."""

    name: str
    digits_train: int | None
    digits_test: int | None
    digits_steps: int


def get_profile(name: str | None = None) -> Profile:
    """The sizes of profile `name` (default: $DANNLIB_PROFILE, else 'default') for one digit
    run, taken from lesson 04's row of LESSONS."""
    s = settings("04", name)
    return Profile(s.profile, s.train, s.test, s.course_steps)


def saved_run(
    s: SimpleNamespace, recipe: str, mode: str, seed: int, task: str | None = None
) -> SavedRun:
    """The run of lesson `s.lesson` with `recipe`, `mode` and `seed` (on `task`) at the sizes
    in `s` (from `settings` or `setup`): its settings, file name and where it is saved (the
    profile's own subfolder if the profile ships runs of this recipe, else checkpoints/)."""
    steps = getattr(s, f"{recipe}_steps", None) or s.steps
    config = get_recipe(recipe).config.replace(
        mode=mode, steps=steps, seed=seed, eval_every=max(steps // EVALS_PER_RUN, 1)
    )
    ramp = getattr(s, f"{recipe}_ramp_steps", None)
    if ramp:  # a longer run stopped early: at every step the lambda of a `ramp`-step run
        config = config.replace(ramp_steps=ramp)
    own = recipe in SAVED[s.lesson]["profiles"].get(s.profile, {})
    return SavedRun(
        s.lesson,
        config,
        task=task,
        weights=SAVED[s.lesson]["weights"],
        subfolder=profile_subfolder(s.lesson, s.profile) if own else None,
    )


def saved_runs(lesson: str, profile: str | None = None, seeds=None) -> list[SavedRun]:
    """Every run lesson `lesson` ships for `profile` (seeds: the profile's, from 0); none for
    a profile that ships no runs of its own."""
    s = settings(lesson, profile)
    seeds = range(s.seeds) if seeds is None else seeds
    return [
        saved_run(s, recipe, mode, seed, task)
        for recipe, modes in SAVED[lesson]["profiles"].get(s.profile, {}).items()
        for task in getattr(s, "pairs", [None])
        for seed in seeds
        for mode in modes
    ]


def setup(
    lesson: str,
    *,
    profile: str | None = None,
    seed: int = 0,
    threads: int = 1,
    device: str | torch.device | None = "auto",
    data: str = "course",
    **sizes,
) -> SimpleNamespace:
    """A lesson's switchboard: its sizes in `profile` (a `sizes` entry that is not None wins),
    `seed` set (Python, NumPy, torch) and `threads` applied, the device picked ("auto": CUDA,
    else MPS, else CPU) and the data choice checked. Returns the settings as attributes, with
    `seed_list` (the runs' seeds: seed, seed + 1, ...) and `summary`, one line to print."""
    s = settings(lesson, profile)
    unknown = sorted(set(sizes) - set(vars(s)))
    if unknown:
        raise TypeError(
            f"lesson {lesson} has no size {', '.join(unknown)}; its sizes: "
            + ", ".join(k for k in vars(s) if k != "profile")
        )
    check_choice("DATA", data, DATA_CHOICES)
    for name, value in sizes.items():
        if value is not None:
            setattr(s, name, value)
    torch.set_num_threads(threads)
    set_seed(seed)
    s.seed, s.threads, s.data = seed, threads, data
    s.device = pick_device(device)
    s.seed_list = list(range(seed, seed + s.seeds))
    s.summary = (
        f"lesson {lesson} | profile {s.profile} | data: {data} | device: "
        f"{_describe(s.device, auto=device in (None, 'auto'))} | {threads} thread(s) | "
        f"seeds {s.seed_list} | torch {torch.__version__}"
    )
    return s


def _describe(device: torch.device, auto: bool) -> str:
    """The device and why, for the setup line: 'cuda (NVIDIA T4)', 'cpu (no GPU found)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu" and auto:
        return "cpu (no CUDA or MPS GPU found)"
    return f"{device} ({'found' if auto else 'as asked'})"
