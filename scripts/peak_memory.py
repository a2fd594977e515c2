"""Peak memory of each lesson's kernel (Binder's limit: 2 GB for everything in the session).

    python scripts/peak_memory.py                        # every lesson, default profile
    python scripts/peak_memory.py notebooks/04_mnist_to_mnistm.ipynb --profile quick

Runs each notebook top to bottom in a fresh kernel (working directory: its folder, nothing
written), as scripts/execute_notebooks.py does, plus one last cell that reads the kernel's
peak resident memory, VmHWM in /proc/self/status (Linux, as on Binder). Not getrusage's
ru_maxrss: Linux carries a process's high-water mark across fork and exec, so it would count
the memory of the Python that started the kernel. Prints one row per lesson; exit code 1 if
one fails or goes over --limit-mb. JupyterLab's own server takes about 150 MB more on Binder.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dannlib.config import PROFILE_NAMES  # noqa: E402
from dannlib.course import INLINE_FIGURES, environment  # noqa: E402

REPORT = (
    "from pathlib import Path\n"
    "print([line for line in Path('/proc/self/status').read_text().splitlines()\n"
    "       if line.startswith('VmHWM:')][0])"
)


def peak_mb(path: Path, profile: str, timeout: int | None = None) -> float:
    """Peak resident memory (MB) of `path`'s kernel."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent)}},
    )
    with environment(DANNLIB_PROFILE=profile, OMP_WAIT_POLICY="PASSIVE", MPLBACKEND=INLINE_FIGURES):
        client.execute()
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)  # "VmHWM:   123 kB"
    return int(text.split()[1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/NN_*.ipynb")
    parser.add_argument("--profile", default="default", choices=PROFILE_NAMES)
    parser.add_argument("--limit-mb", type=float, default=2048, help="default: 2048 (Binder)")
    parser.add_argument("--timeout", type=int, help="seconds per cell (default: none)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    print(f"{'lesson':36s} {'peak MB':>8s} {'time':>6s}  ({args.profile} profile)")
    failed = 0
    for path in notebooks:
        start = time.perf_counter()
        try:
            peak = peak_mb(path.resolve(), args.profile, args.timeout)
        except CellExecutionError as err:
            failed += 1
            print(f"{path.name:36s} FAILED: {' '.join(str(err).split())[-200:]}", flush=True)
            continue
        over = peak > args.limit_mb
        failed += over
        print(
            f"{path.name:36s} {peak:8.0f} {time.perf_counter() - start:5.0f}s"
            + (f"  over {args.limit_mb:.0f} MB" if over else ""),
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
