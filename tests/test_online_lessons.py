"""Lessons 04 and 05 on an online machine (issue 22, items 2 and 6): the published datasets'
hosts are replaced by a local mirror on 127.0.0.1 (tests/published_mirror.py: small files in
the published formats, a checksum manifest) and $DANNLIB_OFFLINE is off.

- Default profile, DATA = "course" (the default): being online changes nothing. The lesson
  loads its saved runs (not one optimizer step) and downloads nothing (the mirror is asked
  for no file).
- Quick profile, DATA = "real": the lesson downloads the published files (from the mirror),
  trains and finishes.

Each runs a lesson (minutes), so they are opt-in:

    DANNLIB_TEST_ONLINE=1 pytest -p no:nbval tests/test_online_lessons.py
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest
from lesson_runs import COUNT_REPORT, COUNT_STEPS, NO_TRAINING, errors, optimizer_steps, watched

from dannlib.course import run_notebook

pytestmark = pytest.mark.skipif(
    not os.environ.get("DANNLIB_TEST_ONLINE"),
    reason="minutes: set DANNLIB_TEST_ONLINE=1 to run lessons 04 and 05 on a simulated "
    "online machine",
)
ROOT = Path(__file__).resolve().parents[1]
LESSONS = {"04": "04_mnist_to_mnistm.ipynb", "05": "05_svhn_and_digit_pairs.ipynb"}


@pytest.fixture(scope="module")
def online(tmp_path_factory):
    """The environment of an online machine whose dataset hosts are a local mirror, with a data
    folder of its own (nothing downloaded yet); the running mirror."""
    published_mirror = pytest.importorskip("published_mirror")
    with published_mirror.serve(tmp_path_factory.mktemp("mirror")) as mirror:
        env = {**mirror.env, "DANNLIB_DATA": str(tmp_path_factory.mktemp("data"))}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield mirror
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def run_lesson(lesson: str, profile: str, before: str, after: str | None, parameters=None):
    """Lesson `lesson` with the watch cells, run by papermill from a folder inside the course
    (so its saved runs are found as from notebooks/); the executed notebook."""
    (ROOT / "build").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="online-", dir=ROOT / "build"))
    try:
        nb = nbformat.read(ROOT / "notebooks" / LESSONS[lesson], as_version=4)
        path = folder / LESSONS[lesson]
        nbformat.write(watched(nb, before, after), path)
        result = run_notebook(path, folder / "executed" / path.name, profile, parameters)
        executed = nbformat.read(result.output, as_version=4)
        assert result.ok, f"lesson {lesson}, {profile} profile: {result.error}"
        return executed
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("lesson", ["04", "05"])
def test_online_default_profile_loads_saved_runs_and_downloads_nothing(lesson, online):
    online.requests.clear()
    executed = run_lesson(lesson, "default", NO_TRAINING, None)
    assert errors(executed) == []
    assert online.requests == [], f"lesson {lesson} downloaded {online.requests} by default"


@pytest.mark.parametrize("lesson", ["04", "05"])
def test_online_real_data_quick_profile_downloads_trains_and_finishes(lesson, online):
    online.requests.clear()
    executed = run_lesson(lesson, "quick", COUNT_STEPS, COUNT_REPORT, {"DATA": "real"})
    assert errors(executed) == []
    assert online.requests, f"lesson {lesson} with DATA = 'real' downloaded nothing"
    assert optimizer_steps(executed) > 0
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "mirror files" in printed, "the lesson does not print where its data came from"
