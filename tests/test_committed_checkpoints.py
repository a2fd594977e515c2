"""Each committed checkpoint (checkpoints/*.pt, written by scripts/train_checkpoints.py) loads
safely and still evaluates, on a CPU, to the test accuracy recorded when it was trained."""

import warnings
from pathlib import Path

import pytest
import torch

from dannlib.checkpoint import FORMAT, load_checkpoint
from dannlib.data import domain_pair
from dannlib.evaluation import evaluate
from dannlib.lessons import settings
from dannlib.train_config import data_note

CHECKPOINTS = sorted((Path(__file__).resolve().parents[1] / "checkpoints").glob("*.pt"))
TOLERANCE = 0.005


@pytest.fixture(scope="module")
def lesson_04_data(tmp_path_factory):
    """Lesson 04's default-profile data, offline: a fresh folder, so downloads cannot change it."""
    s = settings("04", "default")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the offline MNIST notice
        return domain_pair(
            "mnist->mnist_m",
            root=tmp_path_factory.mktemp("data"),
            download=False,
            limit=s.train,
            test_limit=s.test,
        )


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


@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.name)
def test_checkpoint_evaluates_to_its_recorded_accuracy(path, lesson_04_data):
    check_checkpoint(path, lesson_04_data)
