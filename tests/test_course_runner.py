"""`dann course` / dannlib.course: papermill runs of tiny synthetic notebooks in a temp folder."""

from __future__ import annotations

import nbformat
import pytest

from dannlib.cli import main
from dannlib.course import (
    PAPERMILL_ERROR_TAG,
    course_notebooks,
    find_notebooks_dir,
    run_course,
    select_notebooks,
)

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def notebook(*cells: tuple[str, list[str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL})
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": tags}) for src, tags in cells]
    return nb


PARAMETERS = ('PROFILE = None\nDATA_DIR = "../data"', ["parameters"])


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A course folder: 01 checks its profile and working directory and has an exercise stub;
    02 fails in an untagged cell; a non-lesson notebook that must be ignored."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    check = (
        "import os, pathlib\n"
        "assert PROFILE == os.environ['DANNLIB_PROFILE'] == 'quick', PROFILE\n"
        "assert pathlib.Path(DATA_DIR).resolve() == pathlib.Path.cwd().parent / 'data'\n"
        "pathlib.Path('ran_here.txt').write_text(PROFILE)"
    )
    stub = (
        'raise NotImplementedError("Student exercise: write the weights")',
        ["raises-exception"],
    )
    nbformat.write(
        notebook(PARAMETERS, (check, []), stub, ("done = True", [])), folder / "01_first.ipynb"
    )
    failing = ("x = 1", []), ("raise ValueError('lesson claim broken')", []), ("y = 2", [])
    nbformat.write(notebook(PARAMETERS, *failing), folder / "02_second.ipynb")
    nbformat.write(notebook(("1 / 0", [])), folder / "scratch.ipynb")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DANNLIB_PROFILE", "default")  # the runner must override it
    return folder


def test_finds_and_selects_lessons(course, tmp_path):
    assert [p.name for p in course_notebooks(course)] == ["01_first.ipynb", "02_second.ipynb"]
    assert find_notebooks_dir() == course.resolve()  # ./notebooks
    assert [p.name for p in select_notebooks(course, ["02"])] == ["02_second.ipynb"]
    with pytest.raises(ValueError, match="no notebook matches 07; choose from: 01_first.ipynb"):
        select_notebooks(course, ["07"])
    with pytest.raises(FileNotFoundError, match="pass --notebooks DIR"):
        find_notebooks_dir(tmp_path / "elsewhere")


def test_run_course_reports_each_notebook(course, tmp_path):
    results = run_course(course_notebooks(course), tmp_path / "build", "quick", progress=False)
    first, second = results
    assert first.ok and first.status == "ok" and first.seconds > 0
    assert (course / "ran_here.txt").read_text() == "quick"  # cwd = the notebooks folder
    executed = nbformat.read(first.output, as_version=4)
    assert not [c for c in executed.cells if PAPERMILL_ERROR_TAG in c.metadata.get("tags", [])]
    assert executed.cells[-1].execution_count is not None  # ran past the tagged stub
    assert "injected-parameters" in executed.cells[1].metadata.tags
    assert not second.ok and second.status == "failed"
    assert second.error.startswith("ValueError: lesson claim broken in cell [")
    assert nbformat.read(second.output, as_version=4).cells[-1].execution_count is None


def test_cli_course_summary_and_exit_codes(course, tmp_path, capsys):
    assert main(["course", "--only", "01", "--out", "out", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "01_first.ipynb  ok" in out and "1 of 1 ran" in out
    assert (tmp_path / "out" / "01_first.ipynb").is_file()
    assert main(["course", "--notebooks", str(course), "--out", "out", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "02_second.ipynb  failed" in captured.out and "1 of 2 ran" in captured.out
    assert "02_second.ipynb failed: ValueError: lesson claim broken" in captured.err
    assert main(["course", "--only", "09", "--no-progress"]) == 2
    assert "no notebook matches 09" in capsys.readouterr().err
    assert main(["course", "--notebooks", str(tmp_path / "nowhere")]) == 1
    assert "no course notebooks" in capsys.readouterr().err
