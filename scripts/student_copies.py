"""Write the student copies of the lessons: solutions removed, outputs cleared.

    python scripts/student_copies.py           # every notebooks/NN_*.ipynb -> student/NN_*.ipynb
    python scripts/student_copies.py --check   # exit 1 if a committed copy is out of date

nbconvert does the work: TagRemovePreprocessor drops every cell tagged `solution` (the hidden
solution of each exercise and the hidden answers of "Think!" prompts), ClearOutputPreprocessor
clears every output and execution count. The copy's Colab/Binder badges open the copy itself.
Rerun after changing a lesson; tests/test_student_copies.py checks that the copies are current.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dannlib.files import atomic_write_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "notebooks"
STUDENT = ROOT / "student"
SOLUTION_TAG = "solution"


def student_copy(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A copy of lesson `name` (e.g. '03_dann_two_moons.ipynb') without solutions or outputs."""
    nb = copy.deepcopy(nb)
    nb, _ = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}).preprocess(nb, {})
    nb, _ = ClearOutputPreprocessor().preprocess(nb, {})
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "markdown":  # badges: open the student copy, not the lesson
            cell.source = cell.source.replace(f"notebooks/{name}", f"student/{name}").replace(
                f"notebooks%2F{name}", f"student%2F{name}"
            )
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
