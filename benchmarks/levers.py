"""Steps to 0.80 / 0.90 / 0.93 target accuracy for variants of dannlib's course recipe.

Steps, unlike seconds, do not depend on the machine or its load, so the levers of time to
accuracy can be measured on a busy machine: a variant that needs as many steps at half the
cost per step (benchmarks/run.py measures the cost) is twice as fast.

    python benchmarks/levers.py --variant '{}' '{"batch_size": 32}' '{"ramp_steps": 500}'

A variant is JSON: TrainConfig changes, plus "ramp_steps" (lambda's ramp length, default
1,500, as in run.py), "max_steps" (default 5,000) and "bf16" (the training step under CPU
autocast to bfloat16, default false; evaluation stays in float32). Each run stops once it
reaches 0.935; the target test set (1,000 images) is evaluated every --eval-every steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from run import RAMP_STEPS, THRESHOLDS, Method, fit_timed  # noqa: E402

from dannlib.data.registry import domain_pair  # noqa: E402

STOP_AT = 0.935


def steps_to(pair, variant: dict, seed: int, eval_every: int) -> dict:
    """One run of the course recipe changed by `variant`: steps to each threshold, best acc."""
    changes = dict(variant)
    ramp, steps = changes.pop("ramp_steps", RAMP_STEPS), changes.pop("max_steps", 5000)
    bf16 = changes.pop("bf16", False)
    method = Method("variant", "course", changes, bf16=bf16)
    curve, _ = fit_timed(
        method, pair, steps, seed, eval_every, ramp, test=pair.target_test, stop_at=STOP_AT
    )
    hits = {t: next((k for _, k, a in curve if a >= t), None) for t in THRESHOLDS}
    return {"hits": hits, "best": max(a for _, _, a in curve)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", nargs="+", default=["{}"], help="JSON, see above")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eval-every", type=int, default=100)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pair = domain_pair("mnist->mnist_m", test_limit=1000)
    print("| variant | " + " | ".join(f"steps to {t:.2f}" for t in THRESHOLDS) + " | best |")
    print("|---" * (len(THRESHOLDS) + 2) + "|")
    for text in args.variant:
        runs = []
        for seed in range(args.seeds):
            runs.append(steps_to(pair, json.loads(text), seed, args.eval_every))
            print(f"{text}, seed {seed}: {runs[-1]}", file=sys.stderr, flush=True)
        cells = []
        for t in THRESHOLDS:
            hit = [r["hits"][t] for r in runs]
            cells.append(", ".join("-" if h is None else str(h) for h in hit))
        best = statistics.mean(r["best"] for r in runs)
        print(f"| `{text}` | " + " | ".join(cells) + f" | {best:.3f} |", flush=True)


if __name__ == "__main__":
    main()
