"""Every run lesson 05 loads is committed and matches the data and settings the lesson asks for,
so neither its quick nor its default profile trains silently (and the committed notebook's
numbers come from files a clone has)."""

import warnings
from functools import cache

import pytest
from lesson_runs import ROOT, committed_runs

from dannlib.data import domain_pair
from dannlib.lessons import settings
from dannlib.saved_runs import find
from dannlib.variants import lesson_runs, lesson_variants


def _runs(profile: str):
    s = settings("05", profile)
    return s, lesson_runs(s, lesson_variants(s), s.pairs)


@cache
def _data(profile: str, task: str):
    s = settings("05", profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the course MNIST notice
        return domain_pair(task, data="course", limit=s.train, test_limit=s.test, size=32, seed=0)


RUNS = [(p, i) for p in ("quick", "default") for i in range(len(_runs(p)[1]))]


@pytest.mark.parametrize(("profile", "index"), RUNS, ids=[f"{p}-{i}" for p, i in RUNS])
def test_every_run_the_lesson_loads_is_committed_and_matches(profile, index):
    s, runs = _runs(profile)
    variant, task, mode, seed = runs[index]
    run = variant.saved_run(s, mode, seed, task)
    path = variant.folder(s) / run.file_name
    hint = f"python scripts/lesson05_variants.py --profile {profile}"
    assert path.is_file(), f"{path} missing: {hint}"
    data = _data(profile, task)
    assert find(run, data.source, data.target, variant.folder(s)) == path, (
        f"{path}: trained on other data or settings than the lesson's: {hint}"
    )
    committed = committed_runs()
    if committed is None:
        pytest.skip("not a git checkout: cannot tell what is committed")
    assert path.resolve().relative_to(ROOT).as_posix() in committed, f"{path} is not committed"
