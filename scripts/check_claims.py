"""Run every lesson with seeds and a thread count it was not developed with; all claims must hold.

    python scripts/check_claims.py --seeds 11 12 --threads 2           # what .ci/run does
    python scripts/check_claims.py --seeds 5 --threads 1 --only 03 04  # a subset

Each lesson asserts its claims (dannlib.claims.claim) averaged over the seeds SEED, SEED+1, ...
This runs each lesson once per --seeds value (papermill sets SEED and THREADS; the quick profile
unless --profile says otherwise) and fails if any claim or cell fails. CPUs differ in their
floating-point paths, so a claim that holds only for the committed trajectory fails here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from dannlib.config import PROFILE_NAMES
from dannlib.course import find_notebooks_dir, run_notebook, select_notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    parser.add_argument("--threads", type=int, default=2, help="torch threads in each lesson")
    parser.add_argument("--profile", choices=PROFILE_NAMES, default="quick")
    parser.add_argument("--only", nargs="*", help="lesson numbers, e.g. 03 04 (default: all)")
    parser.add_argument("--out", type=Path, help="folder for the executed copies (default: temp)")
    args = parser.parse_args(argv)

    notebooks = select_notebooks(find_notebooks_dir(), args.only)
    out = args.out or Path(tempfile.mkdtemp(prefix="claims-"))
    failures = 0
    for seed in args.seeds:
        for notebook in notebooks:
            output = out / f"seed{seed}" / notebook.name
            run = run_notebook(
                notebook, output, args.profile, {"SEED": seed, "THREADS": args.threads}
            )
            failures += not run.ok
            print(
                f"{notebook.name:36s} SEED={seed:<3d} THREADS={args.threads} {run.status:6s} "
                f"{run.seconds:5.0f} s" + (f"\n    {run.error}" if run.error else ""),
                flush=True,
            )
    total = len(args.seeds) * len(notebooks)
    print(f"executed copies in {out}")
    print(f"claims: {total - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
