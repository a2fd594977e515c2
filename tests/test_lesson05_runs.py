"""Every run lesson 05 loads is committed, so neither its quick nor its default profile trains
silently: the quick runs match their data and settings; the default runs record the settings
the lesson asks for (their data, the whole course data, is checked when the lesson loads them)."""

import warnings

import pytest

from dannlib.data import domain_pair
from dannlib.lessons import settings
from dannlib.saved_runs import TRAINING_DEFAULTS, find, read_saved
from dannlib.variants import lesson_runs, lesson_variants


def _runs(profile: str):
    s = settings("05", profile)
    return s, lesson_runs(s, lesson_variants(s), s.pairs)


def test_the_quick_runs_are_committed_and_match_their_data():
    s, runs = _runs("quick")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the course MNIST notice
        data = {
            t: domain_pair(t, data="course", limit=s.train, test_limit=s.test, size=32)
            for t in s.pairs
        }
    for variant, task, mode, seed in runs:
        run = variant.saved_run(s, mode, seed, task)
        assert find(run, data[task].source, data[task].target, variant.folder(s)), (
            f"{variant.folder(s) / run.file_name}: missing or trained on other data or settings; "
            "python scripts/lesson05_variants.py --profile quick"
        )


@pytest.mark.parametrize("index", range(len(_runs("default")[1])))
def test_the_default_runs_are_committed_with_the_lessons_settings(index):
    s, runs = _runs("default")
    variant, task, mode, seed = runs[index]
    run = variant.saved_run(s, mode, seed, task)
    path = variant.folder(s) / run.file_name
    assert path.is_file(), f"{path} missing: python scripts/lesson05_variants.py"
    saved = read_saved(path)
    wanted = run.config.to_dict()
    for key, default in TRAINING_DEFAULTS.items():
        assert saved["config"].get(key, default) == wanted[key], (path, key)
    assert saved["config"]["target"]["name"] == task.split("->")[1]
    assert saved["evals"]["step"][-1] == run.config.steps
