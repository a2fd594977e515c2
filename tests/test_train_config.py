"""One rule for when two runs were trained alike; one table of sizes; small shared helpers."""

import numpy as np
import pytest
import torch

from dannlib.common import as_rows, check_number
from dannlib.data.base import Domain
from dannlib.lessons import LESSONS, get_profile, settings
from dannlib.train_config import TRAINING_DEFAULTS, TrainConfig, differences, run_record


def _domain(n: int, name: str) -> Domain:
    return Domain(torch.zeros(n, 2), torch.zeros(n, dtype=torch.long), {"name": name})


SOURCE, TARGET = _domain(100, "s"), _domain(60, "t")


def test_every_training_setting_counts_but_how_often_a_run_is_evaluated():
    base = TrainConfig(steps=10)
    record = run_record(base, SOURCE, TARGET)
    assert set(TRAINING_DEFAULTS) == {f for f in base.to_dict() if f != "eval_every"}
    for name, value in [
        ("lr", 0.5),
        ("mode", "source_only"),
        ("seed", 3),
        ("method", "dann_entropy"),
    ]:
        assert differences(record, run_record(base.replace(**{name: value}), SOURCE, TARGET)) == [
            name
        ]
    assert differences(record, run_record(base.replace(eval_every=3), SOURCE, TARGET)) == []
    other = _domain(100, "other")
    assert differences(record, run_record(base, other, TARGET)) == ["source"]


def test_a_setting_an_older_record_lacks_counts_as_its_default():
    record = run_record(TrainConfig(steps=10), SOURCE, TARGET)
    del record["lambda_schedule"], record["method"]
    assert differences(record, run_record(TrainConfig(steps=10), SOURCE, TARGET)) == []
    wanted = run_record(TrainConfig(steps=10, lambda_schedule="constant"), SOURCE, TARGET)
    assert differences(record, wanted) == ["lambda_schedule"]


def test_epochs_are_resolved_to_steps_in_the_record():
    record = run_record(TrainConfig(epochs=2, batch_size=32), SOURCE, TARGET)
    assert record["steps"] == 2 * 4 and record["eval_every"] == record["steps_per_epoch"] == 4


def test_the_command_line_profiles_are_lesson_04s_sizes():
    for name in LESSONS["04"]:
        s, profile = settings("04", name), get_profile(name)
        assert (profile.digits_train, profile.digits_test, profile.digits_steps) == (
            s.train,
            s.test,
            s.course_steps,
        )
    with pytest.raises(ValueError, match="quick, default, paper"):
        get_profile("huge")


def test_number_checks_name_the_range():
    check_number("lr", np.float32(0.1), 0.0, low_open=True)
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0, got 0.0; try 0.01"):
        check_number("lr", 0.0, 0.0, low_open=True, hint="try 0.01")
    with pytest.raises(ValueError, match=r"momentum must be a number with 0 <= momentum < 1"):
        check_number("momentum", 1.0, 0.0, 1.0)
    for bad in (float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError):
            check_number("x", bad, 0.0)


def test_rows_from_tensors_and_arrays():
    images = torch.full((2, 1, 2, 2), 255, dtype=torch.uint8)
    assert as_rows(images).shape == (2, 4) and as_rows(images).max() == 1.0
    assert as_rows(np.arange(3.0)).shape == (3, 1)
    assert as_rows(np.zeros((0, 5))).shape == (0, 5)
    precise = np.array([[1 / 3]])
    assert as_rows(precise)[0, 0] == 1 / 3  # float64 input keeps its precision
