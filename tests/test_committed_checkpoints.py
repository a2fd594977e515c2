"""Each committed checkpoint (checkpoints/*.pt and checkpoints/04_quick/*.pt, written by
scripts/train_checkpoints.py) loads safely and still evaluates, on a CPU, to the test accuracy
recorded when it was trained; every run lesson 04 loads in its default and quick profiles is
committed and matches its settings."""

import warnings
from functools import cache
from pathlib import Path

import pytest
import torch
from lesson_runs import ROOT, committed_runs

from dannlib.checkpoint import FORMAT, load_checkpoint
from dannlib.data import domain_pair
from dannlib.evaluation import evaluate
from dannlib.lessons import saved_runs, settings
from dannlib.saved_runs import find
from dannlib.train_config import data_note

FOLDER = ROOT / "checkpoints"
CHECKPOINTS = [("default", p) for p in sorted(FOLDER.glob("*.pt"))] + [
    ("quick", p) for p in sorted((FOLDER / "04_quick").glob("*.pt"))
]
TOLERANCE = 0.005


@pytest.fixture(scope="module")
def lesson_04_data(tmp_path_factory):
    """Lesson 04's data for a profile, offline: a fresh folder, so downloads cannot change it."""
    root = tmp_path_factory.mktemp("data")

    @cache
    def data(profile):
        s = settings("04", profile)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the offline MNIST notice
            return domain_pair(
                "mnist->mnist_m", root=root, download=False, limit=s.train, test_limit=s.test
            )

    return data


def check_checkpoint(path: Path, pair) -> None:
    """`path` loads with weights_only, was trained on `pair` and evaluates as recorded."""
    assert torch.load(path, map_location="cpu", weights_only=True)["format"] == FORMAT
    model, payload = load_checkpoint(path)
    meta, evals = payload["config"], payload["history"]["evals"]
    assert meta["source"] == data_note(pair.source), f"{path.name}: other source data"
    assert meta["target"] == data_note(pair.target), f"{path.name}: other target data"
    assert evals["step"][-1] == meta["steps"], f"{path.name}: the last evaluation is not final"
    for name, domain in (("source", pair.source_test), ("target", pair.target_test)):
        recorded = evals[f"{name}_acc"][-1]
        measured = evaluate(model, domain, adapt_bn=meta["adapt_bn"])["acc"]
        assert abs(measured - recorded) <= TOLERANCE, (path.name, name, measured, recorded)


@pytest.mark.parametrize(("profile", "path"), CHECKPOINTS, ids=lambda x: getattr(x, "name", x))
def test_checkpoint_evaluates_to_its_recorded_accuracy(profile, path, lesson_04_data):
    check_checkpoint(path, lesson_04_data(profile))


@pytest.mark.parametrize("profile", ["default", "quick"])
def test_every_run_lesson_04_loads_is_committed(profile, lesson_04_data):
    """The default profile loads every run instead of training it, and the quick profile its
    own course runs (checkpoints/04_quick/): each has a matching, committed file."""
    pair = lesson_04_data(profile)
    runs = saved_runs("04", profile)
    assert runs, f"lesson 04 ships no runs for the {profile} profile"
    missing = [
        str(run.path(FOLDER)) for run in runs if find(run, pair.source, pair.target, FOLDER) is None
    ]
    assert not missing, (
        f"no matching committed file for {missing}: retrain them with python "
        f"scripts/train_checkpoints.py --profile {profile} (--recipes ...) and commit checkpoints/"
    )
    committed = committed_runs()
    if committed is None:
        pytest.skip("not a git checkout: cannot tell what is committed")
    untracked = [
        r.file_name
        for r in runs
        if r.path(FOLDER).resolve().relative_to(ROOT).as_posix() not in committed
    ]
    assert not untracked, f"{untracked} are saved but not committed"
