"""Colab, simulated: a notebook alone in an empty folder, a stand-in `google.colab` module, the
course repository served from this machine (a file:// URL, a release tag), a kernel whose
Python has the course's dependencies but not dannlib (as Colab). The notebook's first cell
(scripts/badges.py's Colab cell) must bring the course, install dannlib from it and work in
its notebooks/ (or student/) folder, so the saved runs and the data folder resolve inside the
clone; a failed step must stop it with its cause; elsewhere it must do nothing.

Lesson 04 in the default profile then loads its saved runs (no optimizer step at all: the
lesson stops at the first one) and its claims hold (about a minute on a quiet machine).

The kernel gets its own virtual environment (the shared one is only read, through a .pth
line), pip installs without an index (PIP_NO_INDEX: tests stay offline), and the lesson runs
online as on Colab ($DANNLIB_OFFLINE=0) with every dataset host replaced by a closed port on
127.0.0.1 ($DANNLIB_MIRROR): the course data never downloads, and if anything tried, the
lesson would fail here instead of reaching the network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from lesson_runs import NO_TRAINING, errors, text

ROOT = Path(__file__).resolve().parents[1]
TAG = "v-test"  # the course's version the Colab cell clones: a release tag
KERNEL = "colab-standin"
CONTENT = "content"  # Colab's working folder at start (/content there)

spec = importlib.util.spec_from_file_location("badges", ROOT / "scripts" / "badges.py")
badges = importlib.util.module_from_spec(spec)
spec.loader.exec_module(badges)


def git(*args: str, cwd: Path) -> str:
    """Run git in `cwd`; its output (AssertionError with git's message if it fails)."""
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args],
        cwd=cwd, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def course_url(tmp_path_factory) -> str:
    """This checkout's tracked files (as they are now) committed to a local repository, tagged
    TAG: the course repository as Colab would clone it. Returns its file:// URL."""
    repo = tmp_path_factory.mktemp("origin") / "dann-course"
    repo.mkdir()
    for name in git("ls-files", "-z", cwd=ROOT).split("\0"):
        if name and (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "the course", cwd=repo)
    git("tag", TAG, cwd=repo)
    return repo.as_uri()


@pytest.fixture(scope="module")
def colab_kernel(tmp_path_factory) -> dict[str, str]:
    """A kernel like Colab's: its own Python environment (this one's packages readable through
    a .pth line, dannlib not importable), `google.colab` imported at start. Returns the
    environment papermill needs to find it (JUPYTER_PATH)."""
    home = tmp_path_factory.mktemp("colab")
    venv = home / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "shared_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    standin = home / "standin" / "google" / "colab"
    standin.mkdir(parents=True)
    (standin.parent / "__init__.py").write_text("")
    (standin / "__init__.py").write_text('"""A stand-in for Colab\'s google.colab."""\n')
    spec_dir = home / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    launch = (
        "import google.colab; from ipykernel.kernelapp import launch_new_instance; "
        "launch_new_instance()"
    )
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-c", launch, "-f", "{connection_file}"],
                "display_name": "Colab stand-in",
                "language": "python",
                "env": {"PYTHONPATH": str(home / "standin")},
            }
        )
    )
    return {"JUPYTER_PATH": str(home / "jupyter")}


def colab_env(kernel_env: dict[str, str]) -> dict[str, str]:
    """The environment of a papermill run on 'Colab': nothing of this checkout's settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DANNLIB_", "PYTHONPATH", "PIP_", "JUPYTER_"))
    }
    return {
        **env,
        **kernel_env,
        "DANNLIB_OFFLINE": "0",  # Colab is online ...
        "DANNLIB_MIRROR": "http://127.0.0.1:9/",  # ... but no dataset host answers
        "PIP_NO_INDEX": "1",  # dependencies are there; nothing is downloaded
        "PIP_NO_BUILD_ISOLATION": "0",  # (pip's spelling of "off") setuptools is there
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def run_on_colab(
    nb: nbformat.NotebookNode, folder: Path, kernel_env: dict[str, str], timeout: int = 600
) -> nbformat.NotebookNode:
    """`nb` run by papermill as the only file in `folder`/content, on the stand-in kernel."""
    content = folder / CONTENT
    content.mkdir(parents=True)
    nbformat.write(nb, content / "notebook.ipynb")
    done = subprocess.run(
        [sys.executable, "-m", "papermill", "notebook.ipynb", str(folder / "executed.ipynb"),
         "--kernel", KERNEL, "--cwd", str(content), "--no-progress-bar",
         "--execution-timeout", str(timeout)],
        cwd=content, env=colab_env(kernel_env), capture_output=True, text=True,
    )  # fmt: skip
    executed = folder / "executed.ipynb"
    if not executed.exists():
        pytest.fail(f"papermill did not run: {done.stderr[-2000:]}")
    nb = nbformat.read(executed, as_version=4)
    banner = "papermill-error-cell-tag"  # papermill's "An Exception was encountered" cells
    nb.cells = [c for c in nb.cells if banner not in c.metadata.get("tags", [])]
    return nb


PROBE = """\
import os
from pathlib import Path

import dannlib
from dannlib.config import data_root
from dannlib.saved_runs import runs_dir

for name, path in [("dannlib", Path(dannlib.__file__).parent), ("runs", runs_dir()),
                   ("data", data_root()), ("cwd", Path.cwd())]:
    print(name, Path(path).resolve())
"""


def probe_notebook(url: str, branch: str = TAG, folder: str = "notebooks"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell(badges.guard_source(url, branch, folder)),
        nbformat.v4.new_code_cell(PROBE),
    ]
    return nb


def paths(cell) -> dict[str, Path]:
    return {k: Path(v) for k, v in (line.split(" ", 1) for line in text(cell).splitlines())}


def test_colab_cell_brings_the_course_and_works_in_its_folder(course_url, colab_kernel, tmp_path):
    folder = "student"  # a student copy's cell (scripts/student_copies.py) works in student/
    executed = run_on_colab(probe_notebook(course_url, TAG, folder), tmp_path, colab_kernel)
    assert errors(executed) == []
    clone = (tmp_path / CONTENT / "dann-course").resolve()
    assert f"The course ({course_url} at {TAG}) is in" in text(executed.cells[0])
    assert paths(executed.cells[1]) == {
        "dannlib": clone / "dannlib",
        "runs": clone / "checkpoints",
        "data": clone / "data",
        "cwd": clone / folder,
    }
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=clone).strip() == "HEAD"  # the tag
    assert git("rev-list", "--count", "HEAD", cwd=clone).strip() == "1"  # shallow


def test_colab_cell_stops_with_the_cause_when_the_clone_fails(course_url, colab_kernel, tmp_path):
    nb = probe_notebook(course_url, "v-no-such-release")
    executed = run_on_colab(nb, tmp_path, colab_kernel)
    (cell, ename, evalue), *_ = errors(executed)
    assert (cell, ename) == (0, "RuntimeError")
    assert "could not clone the course" in evalue and "v-no-such-release" in evalue
    assert "not found" in evalue  # git's own words
    assert not executed.cells[1].outputs  # Run All stopped there


def test_colab_cell_stops_with_the_cause_when_the_install_fails(course_url, colab_kernel, tmp_path):
    broken = tmp_path / "broken"
    git("clone", "-q", course_url, str(broken), cwd=tmp_path)
    (broken / "pyproject.toml").write_text("[project\nname = ")
    git("commit", "-q", "-am", "a broken pyproject.toml", cwd=broken)
    git("tag", "v-broken", cwd=broken)
    executed = run_on_colab(probe_notebook(broken.as_uri(), "v-broken"), tmp_path, colab_kernel)
    (cell, ename, evalue), *_ = errors(executed)
    assert (cell, ename) == (0, "RuntimeError")
    assert "could not install dannlib from" in evalue and "exit code" in evalue


def test_colab_cell_does_nothing_elsewhere(tmp_path):
    from nbclient import NotebookClient

    nb = probe_notebook("file:///nowhere", TAG)
    nb.cells = nb.cells[:1] + [nbformat.v4.new_code_cell("import os; print(os.getcwd())")]
    NotebookClient(
        nb, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert nb.cells[0].outputs == []
    assert text(nb.cells[1]).strip() == str(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_lesson_04_on_colab_loads_its_saved_runs_and_its_claims_hold(
    course_url, colab_kernel, tmp_path
):
    lesson = nbformat.read(ROOT / "notebooks" / "04_mnist_to_mnistm.ipynb", as_version=4)
    first = next(i for i, c in enumerate(lesson.cells) if c.cell_type == "code")
    lesson.cells[first] = nbformat.v4.new_code_cell(badges.guard_source(course_url, TAG))
    lesson.cells.insert(first, nbformat.v4.new_code_cell(NO_TRAINING))
    executed = run_on_colab(lesson, tmp_path, colab_kernel, timeout=1800)
    failed = [(i, e, m, executed.cells[i].source.splitlines()[0]) for i, e, m in errors(executed)]
    assert failed == [], f"lesson 04 on Colab (cell, error, message, its first line): {failed}"
    printed = "".join(text(c) for c in executed.cells)
    assert "profile default" in printed
    assert "Claim holds" in printed
