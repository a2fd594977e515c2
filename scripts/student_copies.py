"""Write student copies of the notebooks: exercise solutions removed, outputs cleared.

    python scripts/student_copies.py student/                 # every notebooks/NN_*.ipynb
    python scripts/student_copies.py student/ notebooks/03_dann_two_moons.ipynb

An exercise is a code cell tagged `raises-exception` (the stub, which raises
NotImplementedError("Student exercise: ...")) followed by its solution: a code cell tagged
`solution`, or the next code cell after the stub when its first line is a comment that says
"solution" (e.g. `# Solution` or `def f(x):  # (solution)`). Student copies keep the stubs and
drop the solutions, clear every output and execution count, and drop widget state.
In a student copy the only errors when run top to bottom are NotImplementedError("Student
exercise: ...") raised by a stub, directly or from a later cell that calls the stub's function.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
STUB_TAG = "raises-exception"
SOLUTION_TAG = "solution"
SOLUTION_COMMENT = re.compile(r"#.*\bsolution\b", re.IGNORECASE)


def tags(cell: nbformat.NotebookNode) -> list[str]:
    """The cell's tags."""
    return list(cell.get("metadata", {}).get("tags", []))


def solution_cells(nb: nbformat.NotebookNode) -> tuple[set[int], list[int]]:
    """(indices of solution cells, indices of stubs that have no recognised solution)."""
    solutions = {i for i, c in enumerate(nb.cells) if SOLUTION_TAG in tags(c)}
    unsolved = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or STUB_TAG not in tags(cell):
            continue
        after = next(
            (j for j in range(i + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"), None
        )
        if after is None:
            unsolved.append(i)
            continue
        first_line = nb.cells[after].source.split("\n", 1)[0]
        if after in solutions or SOLUTION_COMMENT.search(first_line):
            solutions.add(after)
        else:
            unsolved.append(i)
    return solutions, unsolved


def student_copy(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[int]]:
    """A copy of `nb` without solutions or outputs; and the stubs that had no solution."""
    solutions, unsolved = solution_cells(nb)
    copy = nbformat.from_dict(nb)
    copy.cells = [c for i, c in enumerate(copy.cells) if i not in solutions]
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    copy.metadata.pop("widgets", None)
    return copy, unsolved


def main(argv: list[str] | None = None) -> int:
    """Write student copies of the given notebooks (default: all lessons) into OUT_DIR."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder for the copies")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/NN_*.ipynb")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        parser.error("no notebooks given and none in notebooks/")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        copy, unsolved = student_copy(nb)
        target = args.out_dir / path.name
        if target.resolve() == path.resolve():
            parser.error(f"{target} would overwrite the original; choose another OUT_DIR")
        nbformat.write(copy, target)
        removed = len(nb.cells) - len(copy.cells)
        print(f"{target}: {removed} solution cell{'s' * (removed != 1)} removed")
        for i in unsolved:
            print(
                f"  warning: stub in cell {i} has no recognised solution after it "
                f"(tag the solution cell '{SOLUTION_TAG}')",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
