"""scripts/badges.py: every course link (Colab, Binder, pip, GitHub) follows REPO_URL, in the
notebooks' cells as well as README.md, and each rewritten link is reported."""

import importlib.util
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("badges", ROOT / "scripts" / "badges.py")
badges = importlib.util.module_from_spec(spec)
spec.loader.exec_module(badges)

OLD = "someone/old-name"
TEXT = f"""
[open](https://colab.research.google.com/github/{OLD}/blob/main/notebooks/01_a.ipynb)
[binder](https://mybinder.org/v2/gh/{OLD}/main?labpath=notebooks%2F01_a.ipynb)
pip install "dannlib @ git+https://github.com/{OLD}@main"
git clone https://github.com/{OLD}.git and see https://github.com/{OLD}/blob/main/README.md
unrelated: https://github.com/pytorch/pytorch/blob/main/README.md
"""


def test_every_kind_of_course_link_is_rewritten_and_others_are_left_alone():
    slugs = badges.course_slugs([TEXT], "https://github.com/fork/course")
    assert slugs == {OLD, "fork/course"}
    new, rewritten = badges.rewrite_links(TEXT, slugs, "https://github.com/fork/course", "dev")
    assert OLD not in new and "pytorch/pytorch/blob/main" in new
    assert "colab.research.google.com/github/fork/course/blob/dev/notebooks/01_a.ipynb" in new
    assert "mybinder.org/v2/gh/fork/course/dev?labpath=notebooks%2F01_a.ipynb" in new
    assert "git+https://github.com/fork/course@dev" in new
    assert "https://github.com/fork/course.git and" in new
    assert "https://github.com/fork/course/blob/dev/README.md" in new
    assert len(rewritten) == 5 and all(old != link for old, link in rewritten)
    assert badges.rewrite_links(new, slugs, "https://github.com/fork/course", "dev")[1] == []


def test_main_reports_links_in_notebook_cells_and_documents(tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 01 — A"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell(f"More in [the repo](https://github.com/{OLD}/tree/main)."),
    ]
    nbformat.write(nb, tmp_path / "notebooks" / "01_a.ipynb")
    (tmp_path / "README.md").write_text(TEXT)
    fork = ["--root", str(tmp_path), "--repo", "https://github.com/fork/course", "--branch", "dev"]
    assert badges.main(fork) == 0
    out = capsys.readouterr().out
    new_link = "https://github.com/fork/course/tree/dev"
    assert f"notebooks/01_a.ipynb: https://github.com/{OLD}/tree/main -> {new_link}" in out
    assert "notebooks/01_a.ipynb: Colab install cell (added)" in out
    assert sum(line.startswith("updated: README.md: ") for line in out.splitlines()) == 5
    assert badges.main(["--check", *fork]) == 0
    assert new_link in nbformat.read(tmp_path / "notebooks" / "01_a.ipynb", 4).cells[-1].source


def test_an_old_colab_cell_is_replaced_in_place():
    old = (
        "# Colab only: install dannlib from the course repository (does nothing elsewhere)\n"
        'import sys\n\nif "google.colab" in sys.modules:\n'
        '    %pip install -q "dannlib @ git+https://github.com/o/r@main"'
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 01 — A"),
        nbformat.v4.new_code_cell(old),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    changes = badges.update_notebook(nb, "01_a.ipynb", "https://github.com/o/r", "v1.0")
    assert changes == ["badge line", "Colab install cell"]
    assert [c.source for c in nb.cells[1:]] == [
        badges.guard_source("https://github.com/o/r", "v1.0"),
        "x = 1",
    ]
    guard = nb.cells[1].source
    assert 'REPO, VERSION = "https://github.com/o/r", "v1.0"' in guard
    assert 'FOLDER = "notebooks"' in guard and "--depth" in guard and "--editable" in guard
