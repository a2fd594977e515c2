"""scripts/student_copies.py: exercise solutions removed, answers kept collapsed, outputs
cleared, the committed copies current; and a copy runs under Run All with nothing solved.

A student copy with nothing solved must run top to bottom without any error (no allow_errors):
each check prints "not done yet" and the lesson carries on with dannlib's version; with the
solutions in, each check prints "OK". Here a synthetic lesson shows both, and the committed
lessons' outputs show "OK" (nbval re-runs them). The real student copies run in
scripts/check_claims.py (CI: seeds 11 and 12), which checks the same verdicts: one run per
lesson and seed covers the claims and the student's Run All.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
HIDDEN = {"jupyter": {"source_hidden": True}}


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


student_copies = load_script("student_copies")
check_claims = load_script("check_claims")
badges = load_script("badges")

ANSWER = "<details><summary>Answer</summary>\n\nBecause 3 times 3 is 9.\n\n</details>"


def code(source: str, *tags: str, count: int | None = None) -> nbformat.NotebookNode:
    metadata = {"tags": list(tags), **(HIDDEN if "solution" in tags else {})} if tags else {}
    cell = nbformat.v4.new_code_cell(source, metadata=metadata)
    cell.execution_count = count
    cell.outputs = [nbformat.v4.new_output("stream", text="old output\n")] if count else []
    return cell


def synthetic() -> nbformat.NotebookNode:
    """A lesson as CONTRIBUTING describes it: the Colab cell, parameters, an exercise (stub that
    only defines, hidden solution, check, later use through check.use), a Think! answer in the
    old form (markdown tagged solution) and one in the new (<details>)."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL, "widgets": {"state": {}}})
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# 99 — Synthetic\n\n[Colab](https://colab.research.google.com/github/o/r/blob/main/"
            "notebooks/99_synthetic.ipynb) [Binder](https://mybinder.org/v2/gh/o/r/main?labpath="
            "notebooks%2F99_synthetic.ipynb)"
        ),
        code(badges.guard_source("https://github.com/o/r", "main"), count=1),
        code("SEED = 0", "parameters", count=2),
        code(
            "from dannlib.exercises import checker\n\n\n"
            '@checker("square", "x times x")\n'
            "def check_square(f):\n"
            '    assert f(3) == 9, "square(3) should be 9"\n'
            '    return "OK: square(3) = 9"',
            count=3,
        ),
        nbformat.v4.new_markdown_cell("## Exercise: write `square`."),
        code(
            'def square(x):\n    raise NotImplementedError("Student exercise: square x")',
            "raises-exception",
            count=4,
        ),
        code("def square(x):  # noqa: F811\n    return x * x", "solution", count=5),
        code("check = check_square(square)\nprint(check)", count=6),
        code(
            'square_ = check.use(square, lambda x: x * x)\nprint("the lesson goes on", '
            "square_(4), SEED)",
            count=7,
        ),
        nbformat.v4.new_markdown_cell("**Think!** Why 9?"),
        nbformat.v4.new_markdown_cell("*Answer.* 3 times 3.", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("**Self-check.** Why 9 again?"),
        nbformat.v4.new_markdown_cell(ANSWER),
    ]
    return nb


def run(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Run `nb` top to bottom; any error outside a cell tagged raises-exception fails."""
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    return client.execute()


def tagged(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def test_student_copy_drops_solutions_keeps_answers_collapsed_and_clears_outputs():
    nb = synthetic()
    copy = student_copies.student_copy(nb, "99_synthetic.ipynb")
    kept = [
        c
        for c in nb.cells
        if not (c.cell_type == "code" and "solution" in c.metadata.get("tags", []))
    ]
    assert len(copy.cells) == len(kept) == len(nb.cells) - 1
    assert "blob/main/student/99_synthetic.ipynb" in copy.cells[0].source
    assert "labpath=student%2F99_synthetic.ipynb" in copy.cells[0].source
    assert copy.cells[1].source == badges.guard_source("https://github.com/o/r", "main", "student")
    old_form, new_form = copy.cells[-3], copy.cells[-1]
    assert old_form.source == (
        "<details><summary>Answer</summary>\n\n3 times 3.\n\n</details>"
    )  # wrapped, the "*Answer.*" mark dropped, the tag removed
    assert "tags" not in old_form.metadata
    assert new_form.source == ANSWER  # kept as it is
    assert tagged(copy, "solution") == []
    assert [c.source for c in tagged(copy, "raises-exception")] == [nb.cells[5].source]
    assert all(
        c.outputs == [] and c.execution_count is None for c in copy.cells if c.cell_type == "code"
    )
    assert "widgets" not in copy.metadata
    assert len(nb.cells) == 13 and nb.cells[6].outputs  # the original is untouched
    assert student_copies.collapsed(ANSWER) == ANSWER
    assert student_copies.collapsed("**Answer.** Yes.") == student_copies.collapsed("Yes.")


def test_unsolved_copy_runs_to_the_end_and_the_solved_lesson_says_ok(tmp_path):
    copy = run(student_copies.student_copy(synthetic(), "99_synthetic.ipynb"), tmp_path)
    assert check_claims.check_cells(copy) == [6]
    assert check_claims.printed(copy.cells[6]).startswith(
        "not done yet: write `square` (x times x)."
    )
    assert check_claims.verdict_problems(copy, "not done yet") == []
    assert check_claims.printed(copy.cells[7]) == "the lesson goes on 16 0\n"
    solved = run(synthetic(), tmp_path)
    assert check_claims.printed(solved.cells[7]) == "OK: square(3) = 9\n"
    assert check_claims.verdict_problems(solved, "OK") == []
    (problem,) = check_claims.verdict_problems(copy, "OK")
    assert problem.startswith("cell 6: not done yet: write `square`")


def test_a_check_that_raises_stops_the_unsolved_copy(tmp_path):
    """The old pattern (a check that calls the stub directly) fails the run: no allow_errors."""
    nb = synthetic()
    nb.cells[7].source = 'assert square(3) == 9\nprint("OK")'
    with pytest.raises(Exception, match="Student exercise: square x"):
        run(student_copies.student_copy(nb, "99_synthetic.ipynb"), tmp_path)


def test_script_writes_and_checks_copies(tmp_path, capsys):
    source = tmp_path / "99_synthetic.ipynb"
    nbformat.write(synthetic(), source)
    out = tmp_path / "student"
    assert student_copies.main(["--check", "--out", str(out), str(source)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert student_copies.main(["--out", str(out), str(source)]) == 0
    assert len(nbformat.read(out / source.name, as_version=4).cells) == 12
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
        f"student/{path.name} is out of date: run python scripts/student_copies.py {path}"
    )
    lesson, copy = nbformat.read(path, as_version=4), nbformat.read(copy_path, as_version=4)
    assert tagged(copy, "solution") == []
    for tag in ("raises-exception", "parameters"):
        assert [c.source for c in tagged(copy, tag)] == [c.source for c in tagged(lesson, tag)]
    answers = [
        c.source for c in lesson.cells if c.cell_type == "markdown" and "<details>" in c.source
    ]
    assert [c.source for c in copy.cells if c.source in answers] == answers


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_lesson_checks_say_ok(path):
    """With the solutions in, every exercise check says OK (CONTRIBUTING item 8); nbval
    compares these outputs with a new run, so they must not be ignored."""
    lesson = nbformat.read(path, as_version=4)
    assert check_claims.check_cells(lesson), f"{path.name}: no exercise check cells"
    assert check_claims.verdict_problems(lesson, "OK") == []
    for i in check_claims.check_cells(lesson):
        assert "NBVAL_IGNORE_OUTPUT" not in lesson.cells[i].source, (
            f"{path.name} cell {i}: a check's verdict must be compared by nbval"
        )


def test_claims_check_runs_unsolved_copies_per_seed_thread_count_and_fp_path(
    tmp_path, capsys, monkeypatch
):
    """scripts/check_claims.py on a synthetic lesson: each seed's run gets its SEED, THREADS and
    (seed 2 only) the other floating-point path; every check must say "not done yet"."""
    for name in ("MKL_CBWR", "ATEN_CPU_CAPABILITY"):  # even when pytest itself runs on that path
        monkeypatch.delenv(name, raising=False)
    nb = synthetic()
    nb.cells.append(
        code(
            "import os\n"
            'print("run", SEED, THREADS, os.environ.get("MKL_CBWR"), '
            'os.environ.get("ATEN_CPU_CAPABILITY"))'
        )
    )
    lessons = tmp_path / "notebooks"
    lessons.mkdir()
    nbformat.write(nb, lessons / "99_synthetic.ipynb")
    args = ["--notebooks", str(lessons), "--seeds", "1", "2", "--threads", "2", "1",
            "--other-fp-path", "2", "--jobs", "2", "--out", str(tmp_path / "out")]  # fmt: skip
    assert check_claims.main(args) == 0
    assert "claims: 2 passed, 0 failed" in capsys.readouterr().out
    runs = {}
    for seed in (1, 2):
        executed = nbformat.read(tmp_path / "out" / f"seed{seed}" / "99_synthetic.ipynb", 4)
        assert check_claims.verdict_problems(executed, "not done yet") == []
        runs[seed] = check_claims.printed(executed.cells[-1]).split()
    assert runs == {
        1: ["run", "1", "2", "None", "None"],
        2: ["run", "2", "1", "COMPATIBLE", "default"],
    }
    solved = ["--notebooks", str(lessons), "--seeds", "3", "--lessons", "--out", str(tmp_path)]
    assert check_claims.main(solved) == 0  # the lessons themselves: every check says OK
    executed = nbformat.read(tmp_path / "seed3" / "99_synthetic.ipynb", 4)
    (check,) = check_claims.check_cells(executed)
    assert check_claims.printed(executed.cells[check]).startswith("OK: square(3) = 9")
    nb.cells.append(code('assert SEED != 4, "the claim does not hold for seed 4"'))
    nbformat.write(nb, lessons / "99_synthetic.ipynb")
    capsys.readouterr()
    assert (
        check_claims.main(["--notebooks", str(lessons), "--seeds", "4", "--out", str(tmp_path)])
        == 1
    )
    out = capsys.readouterr().out
    assert "SEED=4" in out and "the claim does not hold for seed 4" in out
    assert "claims: 0 passed, 1 failed" in out


def test_claims_check_starts_the_longest_lessons_first():
    """Lesson 05 (it trains 15 runs anew) starts first, so it does not start last and set the
    end of the check; of one lesson the slower run on the other floating-point path first; a
    lesson with no measured time last."""

    def job(name, seed, other):
        return check_claims.Job(Path(name), Path("out"), "quick", seed, 1, other, "not done yet")

    names = ("01_a.ipynb", "05_b.ipynb", "99_c.ipynb", "03_d.ipynb")
    jobs = [job(name, seed, seed == 12) for name in names for seed in (11, 12)]
    order = [(j.notebook.name[:2], j.seed) for j in check_claims.longest_first(jobs)]
    assert order == [("05", 12), ("05", 11), ("03", 12), ("03", 11), ("01", 12), ("01", 11),
                     ("99", 12), ("99", 11)]  # fmt: skip
    assert sorted(check_claims.CLAIMS_SECONDS) == [p.name[:2] for p in NOTEBOOKS]
