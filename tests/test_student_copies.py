"""scripts/student_copies.py: solutions removed, outputs cleared, and only the exercises fail.

In a student copy, the only errors allowed when it runs top to bottom are
NotImplementedError("Student exercise: ...") raised by a stub: in the stub's own cell, or in a
later cell that calls the stub's function. Running the real notebooks' copies takes as long as
the notebooks themselves, so it is opt-in: DANNLIB_TEST_STUDENT_COPIES=1 pytest ...
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}

spec = importlib.util.spec_from_file_location("student_copies", ROOT / "scripts/student_copies.py")
student_copies = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_copies)


def code(source: str, *tags: str, count: int | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)} if tags else {})
    cell.execution_count = count
    cell.outputs = [nbformat.v4.new_output("stream", text="old output\n")] if count else []
    return cell


def synthetic() -> nbformat.NotebookNode:
    """Two exercises in the two styles the course uses, and a cell that must keep working."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL, "widgets": {"state": {}}})
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 99 — Synthetic"),
        code("SEED = 0", "parameters", count=1),
        nbformat.v4.new_markdown_cell("## Exercise 1: write `double`."),
        code(  # style 1: the stub calls the checker itself
            'def double(x):\n    raise NotImplementedError("Student exercise: return 2 * x")\n\n\n'
            "assert double(2) == 4",
            "raises-exception",
            count=2,
        ),
        code("def double(x):  # (solution)\n    return 2 * x\n\n\nassert double(2) == 4", count=3),
        nbformat.v4.new_markdown_cell("## Exercise 2: write `square`."),
        code(  # style 2: a separate check cell calls the student's function
            'def square(x):\n    raise NotImplementedError("Student exercise: return x * x")\n\n\n'
            "square(3)",
            "raises-exception",
            count=4,
        ),
        code("def square(x):\n    return x * x", "solution", count=5),
        code('assert square(3) == 9, "square is wrong"\nprint("square: correct")', count=6),
        code('print("the lesson goes on", SEED)', count=7),
    ]
    return nb


def run(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    return client.execute()


def errors(nb: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    return [
        (i, o.ename, o.evalue)
        for i, c in enumerate(nb.cells)
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]


def unexpected(nb: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    """Errors that are not a stub's NotImplementedError('Student exercise: ...')."""
    return [
        e
        for e in errors(nb)
        if not (e[1] == "NotImplementedError" and e[2].startswith("Student exercise"))
    ]


def test_student_copy_removes_solutions_and_outputs():
    nb = synthetic()
    copy, unsolved = student_copies.student_copy(nb)
    assert unsolved == []
    sources = [c.source for c in copy.cells]
    assert not any("(solution)" in s or s == "def square(x):\n    return x * x" for s in sources)
    assert len(copy.cells) == len(nb.cells) - 2
    assert all(
        c.outputs == [] and c.execution_count is None for c in copy.cells if c.cell_type == "code"
    )
    assert "widgets" not in copy.metadata
    assert len(nb.cells) == 10 and nb.cells[4].outputs  # the original is untouched


def test_stub_without_solution_is_reported():
    nb = synthetic()
    del nb.cells[7]  # the tagged solution of exercise 2: the check cell now follows the stub
    _, unsolved = student_copies.student_copy(nb)
    assert unsolved == [6]


def test_only_the_exercises_fail_in_a_student_copy(tmp_path):
    original = run(synthetic(), tmp_path)
    assert [(i, name) for i, name, _ in errors(original)] == [
        (3, "NotImplementedError"),
        (6, "NotImplementedError"),
    ]
    copy, _ = student_copies.student_copy(synthetic())
    executed = run(copy, tmp_path)
    assert unexpected(executed) == []
    failing = [executed.cells[i].source.splitlines()[0] for i, _, _ in errors(executed)]
    assert failing == [
        "def double(x):",
        "def square(x):",
        'assert square(3) == 9, "square is wrong"',
    ]
    assert executed.cells[-1].outputs[0].text == "the lesson goes on 0\n"


def test_script_writes_copies(tmp_path, capsys):
    source = tmp_path / "99_synthetic.ipynb"
    nbformat.write(synthetic(), source)
    assert student_copies.main([str(tmp_path / "student"), str(source)]) == 0
    assert "2 solution cells removed" in capsys.readouterr().out
    copy = nbformat.read(tmp_path / "student" / source.name, as_version=4)
    assert len(copy.cells) == 8
    with pytest.raises(SystemExit):
        student_copies.main([str(tmp_path), str(source)])  # would overwrite the original


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_real_notebooks_have_a_solution_for_every_stub(path):
    nb = nbformat.read(path, as_version=4)
    copy, unsolved = student_copies.student_copy(nb)
    assert unsolved == [], f"{path.name}: stubs in cells {unsolved} have no recognised solution"
    assert sum("raises-exception" in c.metadata.get("tags", []) for c in copy.cells) == sum(
        "raises-exception" in c.metadata.get("tags", []) for c in nb.cells
    )


@pytest.mark.skipif(
    not os.environ.get("DANNLIB_TEST_STUDENT_COPIES"),
    reason="slow: set DANNLIB_TEST_STUDENT_COPIES=1 to run every student copy",
)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_real_student_copies_fail_only_in_exercises(path):
    copy, _ = student_copies.student_copy(nbformat.read(path, as_version=4))
    executed = run(copy, path.parent)
    assert unexpected(executed) == [], f"{path.name}: {unexpected(executed)}"
