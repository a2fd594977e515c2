"""A saved run is loaded only when it was trained on the same data with the same settings."""

import json

import pytest
import torch

from dannlib import lessons
from dannlib.data.toy import moons_pair
from dannlib.models import build_model
from dannlib.recipes import get_recipe
from dannlib.saved_runs import SavedRun, find, load_or_fit, runs_dir, save_run
from dannlib.train_config import TrainConfig


def _run(tmp_path, weights=True):
    d = moons_pair(100, angle=30, seed=0)
    evals = {"target": d["target_test"]}
    run = SavedRun("t", get_recipe("moons").config.replace(steps=20, seed=1), weights=weights)
    model = build_model("toy")
    history, how = load_or_fit(
        run, model, d["source"], d["target"], folder=tmp_path, progress=False, eval_sets=evals
    )
    return d, run, model, history, how


def test_a_matching_run_is_loaded_with_its_weights_and_history(tmp_path):
    d, run, model, history, how = _run(tmp_path)
    assert how == "trained" and run.file_name == "t_moons_dann_seed1.pt"
    path = save_run(run, model, history, folder=tmp_path)
    assert find(run, d["source"], d["target"], folder=tmp_path) == path
    again = build_model("toy")
    loaded, how = load_or_fit(run, again, d["source"], d["target"], folder=tmp_path)
    assert how == "loaded" and loaded.steps == history.steps
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_other_settings_other_data_or_retrain_train_anew(tmp_path):
    d, run, model, history, _ = _run(tmp_path)
    save_run(run, model, history, folder=tmp_path)
    other = moons_pair(100, angle=45, seed=0)
    cases = [
        (d["source"], d["target"], {"lr": 0.05}, {}),
        (d["source"], d["target"], {"lambda_max": 1.0}, {}),
        (other["source"], other["target"], {}, {}),
        (d["source"], d["target"], {}, {"retrain": True}),
    ]
    for source, target, change, kw in cases:
        changed = SavedRun("t", run.config.replace(**change))
        assert changed.file_name == run.file_name  # same file, other settings: not a match
        _, how = load_or_fit(
            changed, build_model("toy"), source, target, folder=tmp_path, progress=False, **kw
        )
        assert how == "trained", change


def test_how_often_a_run_is_evaluated_does_not_change_what_it_is(tmp_path):
    d, run, model, history, _ = _run(tmp_path)
    save_run(run, model, history, folder=tmp_path)
    other = SavedRun("t", run.config.replace(eval_every=7))
    assert find(other, d["source"], d["target"], folder=tmp_path) is not None


def test_a_setting_the_saved_run_predates_counts_as_its_default(tmp_path):
    d, run, model, history, _ = _run(tmp_path)
    del history.config["gamma"]  # as if gamma had been added to TrainConfig after this run
    save_run(run, model, history, folder=tmp_path)
    assert find(run, d["source"], d["target"], folder=tmp_path) is not None
    changed = SavedRun("t", run.config.replace(gamma=5.0))
    assert find(changed, d["source"], d["target"], folder=tmp_path) is None


def test_a_history_saved_without_weights_is_found_and_a_broken_one_is_named(tmp_path):
    d, run, model, history, _ = _run(tmp_path, weights=False)
    path = save_run(run, None, history, folder=tmp_path)
    assert path.name == "t_moons_dann_seed1.json"
    loaded, how = load_or_fit(run, build_model("toy"), d["source"], d["target"], folder=tmp_path)
    assert how == "loaded" and loaded.evals == history.evals
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a saved run"):
        load_or_fit(run, build_model("toy"), d["source"], d["target"], folder=tmp_path)
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")  # nested too deep to read
    with pytest.raises(ValueError, match="not a saved run"):
        load_or_fit(run, build_model("toy"), d["source"], d["target"], folder=tmp_path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda h: h["evals"]["target_acc"].__setitem__(0, float("nan")), "is nan, not a finite"),
        (lambda h: h["steps"]["lr"].__setitem__(0, "0.1"), "is '0.1', not a finite number"),
        (lambda h: h.__setitem__("evals", {}), "at least one evaluation"),
    ],
)
def test_a_damaged_saved_history_is_refused_with_what_to_do(tmp_path, damage, message):
    d, run, model, history, _ = _run(tmp_path, weights=False)
    record = history.to_dict()
    damage(record)
    path = tmp_path / run.file_name
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(ValueError, match=f"{message}.*retrain=True"):
        load_or_fit(run, build_model("toy"), d["source"], d["target"], folder=tmp_path)


def test_file_names_say_lesson_task_recipe_mode_and_seed():
    config = TrainConfig(recipe="course", mode="source_only", seed=2, steps=10)
    assert SavedRun("05", config, task="mnist->syn_digits", weights=False).file_name == (
        "05_mnist_to_syn_digits_course_source_only_seed2.json"
    )


def test_the_course_runs_folder_is_found_from_the_notebooks_folder(monkeypatch, tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "checkpoints").mkdir()
    monkeypatch.delenv("DANNLIB_RUNS", raising=False)
    monkeypatch.chdir(tmp_path / "notebooks")
    assert runs_dir().resolve() == (tmp_path / "checkpoints").resolve()
    monkeypatch.setenv("DANNLIB_RUNS", str(tmp_path / "elsewhere"))
    assert runs_dir() == tmp_path / "elsewhere"


def test_lesson_runs_are_defined_once_with_the_lessons_sizes():
    runs = lessons.saved_runs("04", "default")
    s = lessons.settings("04", "default")
    assert len(runs) == s.seeds * (2 + 3)
    paper = [r for r in runs if r.config.recipe == "paper"]
    assert {r.config.steps for r in paper} == {s.paper_steps}
    assert {r.config.mode for r in paper} == {"source_only", "dann"}
    pairs = lessons.saved_runs("05", "default")
    assert {r.task for r in pairs} == set(lessons.settings("05", "default").pairs)
    assert not any(r.weights for r in pairs)


def test_a_profile_keeps_its_own_runs_in_a_subfolder(tmp_path):
    """Lesson 04's quick profile ships its short course runs in checkpoints/04_quick/ (the same
    file names as the default's 3,000-step runs) and loads the paper recipe's default runs."""
    quick = lessons.settings("04", "quick")
    runs = lessons.saved_runs("04", "quick")
    assert {(r.config.recipe, r.config.mode) for r in runs} == {
        ("course", "source_only"),
        ("course", "dann"),
    }
    assert {r.config.steps for r in runs} == {quick.course_steps}
    assert {r.config.ramp_steps for r in runs} == {quick.course_ramp_steps}  # the default's ramp
    assert {r.path(tmp_path).parent for r in runs} == {tmp_path / "04_quick"}
    paper = lessons.saved_run(quick, "paper", "dann", 0)
    assert paper.path(tmp_path) == tmp_path / "04_paper_dann_seed0.pt"  # the default's file
    default = lessons.saved_runs("04", "default")
    assert {r.path(tmp_path).parent for r in default} == {tmp_path}
    assert not lessons.saved_runs("04", "paper")  # the paper profile ships none of its own
