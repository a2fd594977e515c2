"""Issue 25, case 9: a saved History that is not one is a clear error, never an internal one
or a silent load (deep nesting, a config that is a list, NaN, strings, no evaluations)."""

import json

import pytest

from dannlib.history import History
from dannlib.saved_runs import read_saved

GOOD = {"steps": {"step": [1, 2]}, "evals": {"step": [2], "target_acc": [0.5]}, "config": {}}


@pytest.mark.parametrize(
    ("saved", "message"),
    [
        ({**GOOD, "config": ["steps", 10]}, "config is a dict"),
        ({**GOOD, "meta": ["steps", 10], "config": None}, "config is a dict"),
        ({**GOOD, "evals": {"step": [2], "target_acc": [float("nan")]}}, "not a finite number"),
        ({**GOOD, "evals": {"step": [2], "target_acc": ["0.9"]}}, "not a finite number"),
        ({**GOOD, "evals": {"step": [], "target_acc": []}}, "at least one evaluation"),
        ({**GOOD, "evals": {"step": [2, 4], "target_acc": [0.5]}}, "different lengths"),
        ({**GOOD, "interrupted": "no"}, "True or False"),
    ],
)
def test_a_damaged_history_is_refused_with_what_is_wrong(saved, message):
    with pytest.raises(ValueError, match=message):
        History.from_dict(saved)


def test_a_history_nested_200000_levels_is_not_a_saved_run(tmp_path):
    path = tmp_path / "04_course_dann_seed0.json"
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(ValueError, match="is not a saved run.*retrain=True"):
        read_saved(path)


def test_a_good_history_still_loads(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(GOOD), encoding="utf-8")
    assert History.from_dict(read_saved(path)).last("target_acc") == 0.5
