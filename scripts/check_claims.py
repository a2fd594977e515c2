"""Run every lesson's student copy, nothing solved, with seeds and thread counts it was not
developed with, and on another floating-point path: every cell must run, every exercise check
must say "not done yet", every claim must hold.

    python scripts/check_claims.py --seeds 11 12 --threads 2 1 --other-fp-path 12 --jobs 2  # CI
    python scripts/check_claims.py --seeds 5 --only 03 04              # a subset, 2 threads
    python scripts/check_claims.py --lessons --seeds 11                # the solved lessons

Each lesson asserts its claims (dannlib.claims.claim) over the seeds SEED, SEED + 1, ... This
runs each lesson once per --seeds value (papermill sets SEED and THREADS; the quick profile
unless --profile says otherwise). By default it runs the student copies, written afresh from
notebooks/ by scripts/student_copies.py (exercise solutions removed), so one run checks both
that the claims hold for unseen seeds and that a student's Run All goes through: without the
solutions the lesson carries on with dannlib's versions (`check.use(...)`). CPUs differ in
their floating-point paths, so a claim that holds only for the committed trajectory fails here;
--other-fp-path runs the given seeds with MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default
(MKL's and ATen's portable kernels: another path on this very machine), at no extra run.
--jobs runs that many lessons side by side (one per core; the course's small networks gain
little from a second thread), the longest first, so that the longest run does not start last
and set the end of the check.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dannlib.config import PROFILE_NAMES  # noqa: E402
from dannlib.course import environment, find_notebooks_dir, select_notebooks  # noqa: E402

OTHER_FP_PATH = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}
SOLVED, UNSOLVED = "OK", "not done yet"
# Seconds each lesson's student copy took with an unseen seed (quick profile, 2 threads, alone on
# a quiet 2-core EPYC, 2026-12-05; lesson 05 trains its 15 runs anew): only their order is used.
CLAIMS_SECONDS = {"05": 271, "04": 77, "06": 69, "03": 61, "02": 17, "01": 10}


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def check_cells(nb: nbformat.NotebookNode) -> list[int]:
    """The exercises' check cells: after each stub (tagged `raises-exception`), the first code
    cell that is not its solution (CONTRIBUTING: stub, hidden solution, check)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if "raises-exception" in tags(cell):
            later = (j for j in range(i + 1, len(nb.cells)) if nb.cells[j].cell_type == "code")
            j = next((j for j in later if "solution" not in tags(nb.cells[j])), None)
            if j is not None:
                found.append(j)
    return found


def printed(cell) -> str:
    """What a cell printed (its stdout)."""
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")


def verdict_problems(nb: nbformat.NotebookNode, expected: str) -> list[str]:
    """Check cells of an executed notebook that do not print a verdict starting `expected`
    ("OK" when solved, "not done yet" when not), as 'cell N: what it printed'."""
    problems = []
    for i in check_cells(nb):
        text = printed(nb.cells[i]).strip()
        if not text.startswith(expected):
            problems.append(f"cell {i}: {text.splitlines()[0][:120] if text else '(nothing)'}")
    return problems


@dataclass(frozen=True)
class Job:
    notebook: Path
    output: Path
    profile: str
    seed: int
    threads: int
    other_fp_path: bool
    expected: str

    @property
    def label(self) -> str:
        path = " MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default" if self.other_fp_path else ""
        return f"{self.notebook.name:36s} SEED={self.seed:<3d} THREADS={self.threads}{path}"


def longest_first(jobs: list[Job]) -> list[Job]:
    """`jobs` in the order to start them: the longest lessons first (CLAIMS_SECONDS; a lesson
    not in it last), and of one lesson the run on the other floating-point path (slower) first."""
    return sorted(
        jobs, key=lambda job: (-CLAIMS_SECONDS.get(job.notebook.name[:2], 0), not job.other_fp_path)
    )


def run(job: Job) -> tuple[Job, str, float]:
    """Run one lesson (in a worker process); its status line's parts: status, seconds."""
    from dannlib.course import run_notebook

    with environment(OMP_WAIT_POLICY="PASSIVE", **(OTHER_FP_PATH if job.other_fp_path else {})):
        result = run_notebook(
            job.notebook,
            job.output,
            job.profile,
            {"SEED": job.seed, "THREADS": job.threads},
        )
    if not result.ok:
        return job, f"failed\n    {result.error}", result.seconds
    problems = verdict_problems(nbformat.read(job.output, as_version=4), job.expected)
    if problems:
        return job, f"failed\n    checks not saying {job.expected!r}: {problems}", result.seconds
    return job, "ok", result.seconds


def write_student_copies(notebooks: list[Path], folder: Path) -> list[Path]:
    """The student copies of `notebooks`, written into `folder` (inside the course, so saved
    runs and data are found as from student/)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from student_copies import render

    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in notebooks:
        (folder / path.name).write_text(render(path), encoding="utf-8")
        copies.append(folder / path.name)
    return copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[2],
        help="torch threads in each lesson: one value, or one per seed (default: 2)",
    )  # fmt: skip
    parser.add_argument(
        "--other-fp-path", type=int, nargs="*", default=[], metavar="SEED",
        help="seeds run with MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default",
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, default=1, help="lessons run side by side")
    parser.add_argument("--profile", choices=PROFILE_NAMES, default="quick")
    parser.add_argument("--only", nargs="*", help="lesson numbers, e.g. 03 04 (default: all)")
    parser.add_argument(
        "--lessons", action="store_true",
        help="run the lessons as they are (solutions in: every check must say OK) instead of "
        "the student copies",
    )  # fmt: skip
    parser.add_argument("--notebooks", type=Path, help="the lessons' folder (default: notebooks/)")
    parser.add_argument("--out", type=Path, help="folder for the executed copies (default: temp)")
    args = parser.parse_args(argv)
    if len(args.threads) not in (1, len(args.seeds)):
        parser.error("--threads takes one value, or one per seed")
    unknown = sorted(set(args.other_fp_path) - set(args.seeds))
    if unknown:
        parser.error(f"--other-fp-path names seeds that do not run: {unknown}")
    threads = dict(
        zip(args.seeds, args.threads * len(args.seeds) if len(args.threads) == 1 else args.threads)
    )

    lessons = select_notebooks(find_notebooks_dir(args.notebooks), args.only)
    out = args.out or Path(tempfile.mkdtemp(prefix="claims-"))
    copies_dir = None
    if args.lessons:
        notebooks, expected = lessons, SOLVED
    else:
        (ROOT / "build").mkdir(exist_ok=True)
        copies_dir = Path(tempfile.mkdtemp(prefix="student-copies-", dir=ROOT / "build"))
        notebooks, expected = write_student_copies(lessons, copies_dir), UNSOLVED
    jobs = longest_first([
        Job(nb, out / f"seed{seed}" / nb.name, args.profile, seed, threads[seed],
            seed in args.other_fp_path, expected)
        for nb in notebooks
        for seed in args.seeds
    ])  # fmt: skip
    what = "lessons (solved)" if args.lessons else "student copies (nothing solved)"
    print(f"{len(jobs)} runs of the {what}, {args.profile} profile, {args.jobs} at a time")
    failures = 0
    try:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
            for done in as_completed([pool.submit(run, job) for job in jobs]):
                job, status, seconds = done.result()
                failures += status != "ok"
                print(f"{job.label} {seconds:5.0f} s {status}", flush=True)
    finally:
        if copies_dir is not None:
            shutil.rmtree(copies_dir, ignore_errors=True)
    print(f"executed copies in {out}")
    print(f"claims: {len(jobs) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
