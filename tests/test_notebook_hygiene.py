"""Committed notebooks: one clean top-to-bottom run, no stale state, conventions, current badges."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LOCAL_PATH = re.compile(r"(/work/|/root/|/home/|/tmp/|/Users/|[A-Za-z]:\\\\?Users\\)")


def load_script(name: str):
    """A module from scripts/ (they are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


badges = load_script("badges")


def notebooks_or_skip() -> list[Path]:
    if not NOTEBOOKS:
        pytest.skip("no notebooks/NN_*.ipynb committed yet")
    return NOTEBOOKS


@pytest.fixture(params=NOTEBOOKS or [None], ids=lambda p: p.name if p else "none")
def nb(request):
    notebooks_or_skip()
    return request.param, nbformat.read(request.param, as_version=4)


def output_text(output) -> str:
    """Every text an output carries (streams, tracebacks, text/* and JSON data)."""
    parts = [output.get("text", ""), output.get("evalue", ""), *output.get("traceback", [])]
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            parts.append(value if isinstance(value, str) else str(value))
    return "\n".join(parts)


def test_executed_once_top_to_bottom(nb):
    path, notebook = nb
    counts = [c.execution_count for c in notebook.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts}; re-run python scripts/execute_notebooks.py"
    )


def test_errors_only_in_tagged_exercise_stubs(nb):
    path, notebook = nb
    for i, cell in enumerate(notebook.cells):
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if "raises-exception" in cell.metadata.get("tags", []):
            assert all(o.ename == "NotImplementedError" for o in errors), (path.name, i)
            assert "Student exercise" in cell.source, f"{path.name} cell {i}: stub without message"
        else:
            assert not errors, f"{path.name} cell {i}: {errors[0].ename}: {errors[0].evalue}"


def test_no_stale_widget_state_or_local_paths(nb):
    path, notebook = nb
    assert "widgets" not in notebook.metadata, f"{path.name}: strip metadata.widgets"
    for i, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            found = LOCAL_PATH.search(output_text(output))
            assert not found, f"{path.name} cell {i}: a local path ({found.group(0)}) in its output"


MAX_BYTES = 1_000_000  # a lesson must stay readable on GitHub and quick to open
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def hidden(cell) -> bool:
    return cell.get("metadata", {}).get("jupyter", {}).get("source_hidden") is True


def next_code(cells, i: int) -> int | None:
    """The index of the first code cell after cells[i], or None."""
    return next((j for j in range(i + 1, len(cells)) if cells[j].cell_type == "code"), None)


def test_under_one_megabyte(nb):
    path, _ = nb
    size = path.stat().st_size
    assert size < MAX_BYTES, (
        f"{path.name} is {size / 1e6:.2f} MB (limit 1 MB): draw dense scatters at normal "
        'resolution (%config InlineBackend.figure_formats = ["png"]) or rasterised'
    )


def test_no_widget_views_without_state(nb):
    path, notebook = nb
    if notebook.metadata.get("widgets", {}).get(WIDGET_VIEW.replace("view", "state")):
        return  # widget state saved: the views render
    for i, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            assert WIDGET_VIEW not in output.get("data", {}), (
                f"{path.name} cell {i}: a widget view without saved widget state (readers see "
                "'model not found'); re-execute with python scripts/execute_notebooks.py"
            )


def test_every_stub_has_a_hidden_solution_and_every_solution_is_hidden(nb):
    path, notebook = nb
    cells = notebook.cells
    for i, cell in enumerate(cells):
        if "raises-exception" in tags(cell):
            j = next_code(cells, i)
            assert j is not None and "solution" in tags(cells[j]) and hidden(cells[j]), (
                f"{path.name} cell {i}: a stub must be followed by its solution, a code cell "
                'tagged "solution" with metadata {"jupyter": {"source_hidden": true}}'
            )
        if "solution" in tags(cell):
            assert hidden(cell), f"{path.name} cell {i}: solution not hidden (source_hidden)"


def test_at_least_two_exercises_with_checkers(nb):
    path, notebook = nb
    cells = notebook.cells
    exercises = 0
    for i, cell in enumerate(cells):
        if "raises-exception" not in tags(cell):
            continue
        solution = next_code(cells, i)
        check = next_code(cells, solution) if solution is not None else None
        exercises += bool(
            check is not None
            and "solution" in tags(cells[solution])
            and "exercises.check_" in cells[check].source
        )
    assert exercises >= 2, (
        f"{path.name}: {exercises} exercise(s) with stub, hidden solution and a check cell "
        "calling dannlib.exercises; every lesson needs at least two"
    )


def test_conventions(nb):
    path, notebook = nb
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and code[0].source == badges.guard_source(), (
        f"{path.name}: the first code cell must be the Colab guard (python scripts/badges.py)"
    )
    assert any("parameters" in c.metadata.get("tags", []) for c in code), (
        f"{path.name}: no cell tagged 'parameters'"
    )
    markdown = next(c for c in notebook.cells if c.cell_type == "markdown")
    assert badges.badge_line(path.name) in markdown.source


def test_badges_check_passes_on_the_repository():
    notebooks_or_skip()
    assert badges.main(["--check"]) == 0


def test_badges_rewrite_from_one_url(tmp_path, capsys):
    """On temp copies: --check catches another repo/branch; a rewrite fixes it; --check passes."""
    notebooks_or_skip()
    shutil.copytree(
        ROOT / "notebooks",
        tmp_path / "notebooks",
        ignore=shutil.ignore_patterns(".ipynb_checkpoints"),
    )
    (tmp_path / "README.md").write_text(
        "[a](https://colab.research.google.com/github/dann-course/dann-course/blob/main/"
        "notebooks/01_x.ipynb)\n"
    )
    fork = ["--root", str(tmp_path), "--repo", "https://github.com/someone/fork", "--branch", "dev"]
    assert badges.main(["--check", *fork]) == 1
    out = capsys.readouterr().out
    assert f"out of date: notebooks/{NOTEBOOKS[0].name}: Colab install cell" in out
    colab = "https://colab.research.google.com/github/"
    assert f"README.md: {colab}dann-course/dann-course/blob/main -> {colab}someone/fork/" in out
    assert badges.main(fork) == 0
    assert "github/someone/fork/blob/dev/notebooks/01_x" in (tmp_path / "README.md").read_text()
    copy = nbformat.read(tmp_path / "notebooks" / NOTEBOOKS[0].name, as_version=4)
    first_code = next(c for c in copy.cells if c.cell_type == "code")
    assert first_code.source == badges.guard_source("https://github.com/someone/fork", "dev")
    assert 'REPO, VERSION = "https://github.com/someone/fork", "dev"' in first_code.source
    assert f"github/someone/fork/blob/dev/notebooks/{NOTEBOOKS[0].name}" in copy.cells[0].source
    assert f"v2/gh/someone/fork/dev?labpath=notebooks%2F{NOTEBOOKS[0].name}" in copy.cells[0].source
    (tmp_path / "README.md").write_text("no links\n")
    assert badges.main(["--check", *fork]) == 0
    assert badges.main(["--check", "--root", str(tmp_path)]) == 1  # now stale for the original


def test_badges_add_missing_guard_and_badges():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 07 — New\n\nIntro."),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    changes = badges.update_notebook(nb, "07_new.ipynb", badges.REPO, badges.BRANCH)
    assert changes == ["badge line", "Colab install cell (added)"]
    assert nb.cells[0].source.splitlines()[:3] == [
        "# 07 — New",
        "",
        badges.badge_line("07_new.ipynb"),
    ]
    assert [c.source for c in nb.cells[1:]] == [badges.guard_source(), "x = 1"]
    assert badges.update_notebook(nb, "07_new.ipynb", badges.REPO, badges.BRANCH) == []


ANSWER_START = "<details><summary>Answer</summary>\n\n"


def test_answers_are_collapsed_markdown_not_hidden_solutions(nb):
    """Think! and self-check answers: a markdown cell `<details><summary>Answer</summary>\n\n
    ... </details>` (student copies keep it, collapsed), not a markdown cell tagged solution."""
    path, notebook = nb
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        assert "solution" not in tags(cell), (
            f"{path.name} cell {i}: an answer tagged `solution`; write it as "
            "<details><summary>Answer</summary> ... </details>, untagged"
        )
        if "<details>" in cell.source:
            text = cell.source.strip()
            assert text.startswith(ANSWER_START) and text.endswith("</details>"), (
                f"{path.name} cell {i}: an answer cell is `{ANSWER_START!r} ... </details>` "
                "and nothing else (a blank line after the summary, so the markdown renders)"
            )
