"""Re-execute notebooks in place, top to bottom, as they are committed.

    python scripts/execute_notebooks.py                       # every notebooks/NN_*.ipynb
    python scripts/execute_notebooks.py notebooks/03_dann_two_moons.ipynb --profile default

One clean kernel per notebook, working directory notebooks/, $DANNLIB_PROFILE set to --profile
(default: default). Only cells tagged `raises-exception` may raise; any other error stops the
notebook, which is then left unchanged. Execution timestamps, widget state and widget views are
not kept, and paths of this machine in tracebacks (the repository, site-packages) are made
relative.
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from dannlib.config import PROFILE_NAMES
from dannlib.course import INLINE_FIGURES, environment
from dannlib.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path, profile: str, timeout: int | None = None) -> nbformat.NotebookNode:
    """`path` executed in a fresh kernel (cwd: its folder); raises CellExecutionError on failure."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    with environment(DANNLIB_PROFILE=profile, OMP_WAIT_POLICY="PASSIVE", MPLBACKEND=INLINE_FIGURES):
        client.execute()
    nb.metadata.pop("widgets", None)
    drop_widget_views(nb)
    scrub_paths(nb)
    return nb


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def drop_widget_views(nb: nbformat.NotebookNode) -> None:
    """Remove widget views from outputs, in place: without the widget state (not kept) a reader
    sees "model not found"; the output's text/plain stays."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)


def local_prefixes() -> list[tuple[str, str]]:
    """(absolute prefix, replacement) for the repository and the Python install, longest first."""
    prefixes = {str(ROOT) + os.sep: "", sysconfig.get_paths()["purelib"] + os.sep: "site-packages/"}
    return sorted(prefixes.items(), key=lambda kv: -len(kv[0]))


def scrub_paths(nb: nbformat.NotebookNode) -> None:
    """Make the repository's and the Python install's paths in outputs relative, in place."""

    def scrub(text: str) -> str:
        for prefix, short in local_prefixes():
            text = text.replace(prefix, short)
        return text

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "traceback" in output:
                output.traceback = [scrub(line) for line in output.traceback]
            if "text" in output:
                output.text = scrub(output.text)
            if isinstance(output.get("data", {}).get("text/plain"), str):
                output.data["text/plain"] = scrub(output.data["text/plain"])


def main(argv: list[str] | None = None) -> int:
    """Execute the given notebooks (default: all lessons) in place; exit 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/NN_*.ipynb")
    parser.add_argument("--profile", default="default", choices=PROFILE_NAMES)
    parser.add_argument("--timeout", type=int, help="seconds per cell (default: none)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    failed = 0
    for path in notebooks:
        start = time.perf_counter()
        try:
            nb = execute(path.resolve(), args.profile, args.timeout)
        except CellExecutionError as err:
            failed += 1
            summary = " ".join(str(err).split())[-300:]
            print(f"FAILED {path} (left unchanged): {summary}", file=sys.stderr)
            continue
        atomic_write_text(nbformat.writes(nb) + "\n", path)
        print(f"executed {path} ({args.profile} profile) in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
