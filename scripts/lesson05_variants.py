"""Train lesson 05's runs: the baseline on every pair and the controlled variants.

The runs are the lesson's, defined once in dannlib.lessons (LESSONS["05"]: pairs, sizes,
variants) and dannlib.variants (what each variant changes, where its runs are saved). A run
already saved that matches its data and settings is skipped, so the script can be stopped and
started again. Each line it prints is one finished run: file, final target accuracy, seconds.

    python scripts/lesson05_variants.py                              # default profile, all runs
    python scripts/lesson05_variants.py --variants baseline --jobs 2 # the baseline pairs only
    python scripts/lesson05_variants.py --profile quick --seeds 0,1,2
    python scripts/lesson05_variants.py --variants "lambda_max 0.3" --pairs syn_digits->mnist

The baseline runs are the files scripts/train_checkpoints.py --lesson 05 writes too.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import torch

from dannlib.config import set_seed
from dannlib.data import domain_pair
from dannlib.lessons import settings
from dannlib.saved_runs import find, save_run
from dannlib.train import fit
from dannlib.variants import Variant, lesson_runs, lesson_variants


def pair_data(task: str, s):
    """The lesson's data for `task` at its sizes (the course data, 32 x 32)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the course MNIST notice
        return domain_pair(task, data="course", limit=s.train, test_limit=s.test, size=32)


def train_one(variant: Variant, task: str, mode: str, seed: int, s, device: str) -> str:
    """Train one run as the lesson does and save it where the lesson looks for it."""
    torch.set_num_threads(1)
    pair = pair_data(task, s)
    run = variant.saved_run(s, mode, seed, task)
    folder = variant.folder(s)
    name = f"{variant.slug}/{run.file_name}"
    if find(run, pair.source, pair.target, folder) is not None:
        return f"{name:72s} already saved"
    set_seed(seed)
    model = variant.build_model(size=32)
    start = time.perf_counter()
    history = fit(
        model,
        pair.source,
        pair.target,
        run.config,
        eval_sets={"target": pair.target_test},
        progress=False,
        device=device,
    )
    folder.mkdir(parents=True, exist_ok=True)
    save_run(run, None, history, folder=folder)
    return (
        f"{name:72s} target {history.last('target_acc'):.3f} "
        f"({time.perf_counter() - start:.0f} s, {run.config.steps} steps)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="default", help="the lesson's profile")
    parser.add_argument("--seeds", default=None, help="e.g. 0,1,2 (default: the profile's)")
    parser.add_argument("--variants", nargs="+", help="variant names (default: all)")
    parser.add_argument("--pairs", nargs="+", help="pairs (default: the profile's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    args = parser.parse_args()
    s = settings("05", args.profile)
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else list(range(s.seeds))
    s.seed_list = seeds
    todo = [
        r
        for r in lesson_runs(s, lesson_variants(s), args.pairs or s.pairs)
        if not args.variants or r[0].name in args.variants
    ]
    print(f"{len(todo)} runs ({args.jobs} at a time)", flush=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        lines = pool.map(train_one, *zip(*todo), [s] * len(todo), [args.device] * len(todo))
        for line in lines:
            print(time.strftime("%H:%M:%S"), line, flush=True)


if __name__ == "__main__":
    main()
