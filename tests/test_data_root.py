"""data_root: the argument, $DANNLIB_DATA, the course clone's data/ from anywhere in it, ./data."""

from pathlib import Path

import pytest

from dannlib.config import data_root


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """A course-shaped folder (notebooks/ and data/) and no $DANNLIB_DATA."""
    monkeypatch.delenv("DANNLIB_DATA", raising=False)
    (tmp_path / "course" / "notebooks").mkdir(parents=True)
    (tmp_path / "course" / "data").mkdir()
    return tmp_path / "course"


def test_notebooks_and_commands_in_a_clone_share_its_data_folder(clone, monkeypatch):
    monkeypatch.chdir(clone / "notebooks")
    assert data_root() == Path("../data")
    monkeypatch.chdir(clone)
    assert data_root() == Path("data")


def test_outside_a_clone_data_is_in_the_working_directory(clone, monkeypatch):
    monkeypatch.chdir(clone.parent)  # e.g. Colab's /content: the file browser shows ./data
    assert data_root() == Path("data")


def test_the_variable_and_the_argument_win(clone, monkeypatch, tmp_path):
    monkeypatch.chdir(clone / "notebooks")
    monkeypatch.setenv("DANNLIB_DATA", str(tmp_path / "shared"))
    assert data_root() == tmp_path / "shared"
    assert data_root("~/mine") == Path.home() / "mine"
