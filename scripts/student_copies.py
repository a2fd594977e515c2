"""Write the student copies of the lessons: exercise solutions removed, answers collapsed.

    python scripts/student_copies.py           # every notebooks/NN_*.ipynb -> student/NN_*.ipynb
    python scripts/student_copies.py notebooks/04_mnist_to_mnistm.ipynb   # one lesson
    python scripts/student_copies.py --check   # exit 1 if a committed copy is out of date

A copy keeps every cell of the lesson except the code cells tagged `solution` (the hidden
solutions of the exercises), with every output and execution count cleared. Answers to
Think! prompts and self-check questions stay, collapsed: the convention is a markdown cell
`<details><summary>Answer</summary> ... </details>`, kept as it is; a markdown cell still
tagged `solution` (the old form) is wrapped that way instead of being dropped. The copy's
Colab/Binder badges open the copy itself, and its Colab cell moves into student/.
Rerun after changing a lesson; tests/test_student_copies.py checks that the copies are current.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
from badges import GUARD_PREFIX  # noqa: E402

from dannlib.files import atomic_write_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "notebooks"
STUDENT = ROOT / "student"
SOLUTION_TAG = "solution"
COLAB_FOLDER = 'FOLDER = "notebooks"'  # in the Colab cell: the folder of the clone it works in
ANSWER_MARK = re.compile(r"^\s*(\*\*Answer\.?\*\*|\*Answer\.?\*)[ \t]*\n?")


def collapsed(answer: str) -> str:
    """A markdown answer inside `<details>`: shown only when the student opens it."""
    if answer.lstrip().startswith("<details>"):
        return answer
    body = ANSWER_MARK.sub("", answer, count=1).strip()
    return f"<details><summary>Answer</summary>\n\n{body}\n\n</details>"


def student_copy(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A copy of lesson `name` (e.g. '03_dann_two_moons.ipynb') without the exercises'
    solutions or any output; markdown answers collapsed."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    cells = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if SOLUTION_TAG in tags:
            if cell.cell_type != "markdown":
                continue
            cell.source = collapsed(cell.source)
            cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
            if cell.source.startswith(GUARD_PREFIX):  # work in the clone's student/ folder
                cell.source = cell.source.replace(COLAB_FOLDER, 'FOLDER = "student"')
        if cell.cell_type == "markdown":  # badges: open the student copy, not the lesson
            cell.source = cell.source.replace(f"notebooks/{name}", f"student/{name}").replace(
                f"notebooks%2F{name}", f"student%2F{name}"
            )
        cells.append(cell)
    nb.cells = cells
    return nb


def render(path: Path) -> str:
    """The text of `path`'s student copy, as it is written to disk."""
    return nbformat.writes(student_copy(nbformat.read(path, as_version=4), path.name)) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the student copies of the given lessons (default: all)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/NN_*.ipynb")
    parser.add_argument("--out", type=Path, default=STUDENT, help="default: student/")
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        parser.error("no notebooks given and none in notebooks/")
    folders = [str(path) for path in notebooks if path.is_dir()]
    if folders:
        parser.error(
            f"{', '.join(folders)}: give lessons (.ipynb), not folders; the copies go to "
            "student/ (choose another folder with --out FOLDER)"
        )
    stale = []
    for path in notebooks:
        target = args.out / path.name
        if target.resolve() == path.resolve():
            parser.error(f"{target} would overwrite the lesson; choose another --out")
        text = render(path)
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(text, target)
        print(f"wrote {target}")
    for target in stale:
        print(f"out of date: {target} (run python scripts/student_copies.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
