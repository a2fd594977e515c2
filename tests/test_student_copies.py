"""scripts/student_copies.py: solutions removed, outputs cleared, the committed copies current.

In a student copy, the only errors allowed when it runs top to bottom are
NotImplementedError("Student exercise: ...") raised by a stub: in the stub's own cell, or in a
later cell that calls the stub's function. Running the real lessons' copies takes as long as
the lessons themselves, so it is opt-in: DANNLIB_TEST_STUDENT_COPIES=1 pytest ...
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
HIDDEN = {"jupyter": {"source_hidden": True}}

spec = importlib.util.spec_from_file_location("student_copies", ROOT / "scripts/student_copies.py")
student_copies = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_copies)


def code(source: str, *tags: str, count: int | None = None) -> nbformat.NotebookNode:
    metadata = {"tags": list(tags), **(HIDDEN if "solution" in tags else {})} if tags else {}
    cell = nbformat.v4.new_code_cell(source, metadata=metadata)
    cell.execution_count = count
    cell.outputs = [nbformat.v4.new_output("stream", text="old output\n")] if count else []
    return cell


def synthetic() -> nbformat.NotebookNode:
    """An exercise (stub, hidden solution, check), a Think! prompt, a cell that must still run."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL, "widgets": {"state": {}}})
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# 99 — Synthetic\n\n[Colab](https://colab.research.google.com/github/o/r/blob/main/"
            "notebooks/99_synthetic.ipynb) [Binder](https://mybinder.org/v2/gh/o/r/main?labpath="
            "notebooks%2F99_synthetic.ipynb)"
        ),
        code("SEED = 0", "parameters", count=1),
        nbformat.v4.new_markdown_cell("## Exercise: write `square`."),
        code(
            'def square(x):\n    raise NotImplementedError("Student exercise: square x")\n\n\n'
            "square(3)",
            "raises-exception",
            count=2,
        ),
        code("def square(x):\n    return x * x", "solution", count=3),
        code('assert square(3) == 9, "square is wrong"\nprint("square: correct")', count=4),
        nbformat.v4.new_markdown_cell("**Think!** Why 9?"),
        nbformat.v4.new_markdown_cell("*Answer.* 3 times 3.", metadata={"tags": ["solution"]}),
        code('print("the lesson goes on", SEED)', count=5),
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


def tagged(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def test_student_copy_removes_solutions_and_outputs_and_keeps_the_rest():
    nb = synthetic()
    copy = student_copies.student_copy(nb, "99_synthetic.ipynb")
    assert [c.source for c in copy.cells] == [
        c.source.replace("notebooks/99", "student/99").replace("notebooks%2F99", "student%2F99")
        for c in nb.cells
        if "solution" not in c.metadata.get("tags", [])
    ]
    assert "blob/main/student/99_synthetic.ipynb" in copy.cells[0].source
    assert "labpath=student%2F99_synthetic.ipynb" in copy.cells[0].source
    assert all(
        c.outputs == [] and c.execution_count is None for c in copy.cells if c.cell_type == "code"
    )
    assert "widgets" not in copy.metadata
    assert len(nb.cells) == 9 and nb.cells[4].outputs  # the original is untouched


def test_only_the_exercises_fail_in_a_student_copy(tmp_path):
    original = run(synthetic(), tmp_path)
    assert [(i, name) for i, name, _ in errors(original)] == [(3, "NotImplementedError")]
    executed = run(student_copies.student_copy(synthetic(), "99_synthetic.ipynb"), tmp_path)
    assert unexpected(executed) == []
    failing = [executed.cells[i].source.splitlines()[0] for i, _, _ in errors(executed)]
    assert failing == ["def square(x):", 'assert square(3) == 9, "square is wrong"']
    assert executed.cells[-1].outputs[0].text == "the lesson goes on 0\n"


def test_script_writes_and_checks_copies(tmp_path, capsys):
    source = tmp_path / "99_synthetic.ipynb"
    nbformat.write(synthetic(), source)
    out = tmp_path / "student"
    assert student_copies.main(["--check", "--out", str(out), str(source)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert student_copies.main(["--out", str(out), str(source)]) == 0
    assert len(nbformat.read(out / source.name, as_version=4).cells) == 7
    assert student_copies.main(["--check", "--out", str(out), str(source)]) == 0
    nbformat.write(nbformat.v4.new_notebook(), source)  # the lesson changes: the copy is stale
    assert student_copies.main(["--check", "--out", str(out), str(source)]) == 1
    with pytest.raises(SystemExit):
        student_copies.main(["--out", str(tmp_path), str(source)])  # would overwrite the lesson
    with pytest.raises(SystemExit):
        student_copies.main([str(out)])  # the old call: OUT_DIR as the first argument
    assert "give lessons (.ipynb), not folders" in capsys.readouterr().err


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_student_copy_is_current_and_complete(path):
    copy_path = ROOT / "student" / path.name
    assert copy_path.exists(), (
        f"no {copy_path.name} in student/: run python scripts/student_copies.py"
    )
    assert copy_path.read_text(encoding="utf-8") == student_copies.render(path), (
        f"student/{path.name} is out of date: run python scripts/student_copies.py"
    )
    lesson, copy = nbformat.read(path, as_version=4), nbformat.read(copy_path, as_version=4)
    assert tagged(copy, "solution") == []
    assert all(
        c.outputs == [] and c.execution_count is None for c in copy.cells if c.cell_type == "code"
    )
    for tag in ("raises-exception", "parameters"):
        assert [c.source for c in tagged(copy, tag)] == [c.source for c in tagged(lesson, tag)]
    checks = [c.source for c in lesson.cells if "exercises.check_" in c.source]
    assert [c.source for c in copy.cells if "exercises.check_" in c.source] == [
        s for s in checks if s not in [c.source for c in tagged(lesson, "solution")]
    ]


@pytest.mark.skipif(
    not os.environ.get("DANNLIB_TEST_STUDENT_COPIES"),
    reason="slow: set DANNLIB_TEST_STUDENT_COPIES=1 to run every student copy",
)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_real_student_copies_fail_only_in_exercises(path):
    copy = student_copies.student_copy(nbformat.read(path, as_version=4), path.name)
    executed = run(copy, path.parent)
    assert unexpected(executed) == [], f"{path.name}: {unexpected(executed)}"
