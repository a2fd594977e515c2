"""A saved run is loaded only when it was trained on the same data with the same settings."""

import pytest
import torch

from dannlib.data.toy import moons_pair
from dannlib.models import build_model
from dannlib.pretrained import load_or_fit, run_name, save_run
from dannlib.recipes import get_recipe


def _run(tmp_path):
    d = moons_pair(100, angle=30, seed=0)
    config = get_recipe("moons").config.replace(steps=20, seed=1)
    model = build_model("toy")
    history, how = load_or_fit(
        tmp_path / run_name("t", config), model, d["source"], d["target"], config, progress=False
    )
    return d, config, model, history, how


def test_a_matching_run_is_loaded_with_its_weights_and_history(tmp_path):
    d, config, model, history, how = _run(tmp_path)
    assert how == "trained" and run_name("t", config) == "t_moons_dann_seed1.pt"
    path = save_run(tmp_path / run_name("t", config), model, history)
    again = build_model("toy")
    loaded, how = load_or_fit(path, again, d["source"], d["target"], config, progress=False)
    assert how == "loaded" and loaded.steps == history.steps
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_other_settings_other_data_or_retrain_train_anew(tmp_path):
    d, config, model, history, _ = _run(tmp_path)
    path = save_run(tmp_path / "run.pt", model, history)
    other = moons_pair(100, angle=45, seed=0)
    cases = [
        (d["source"], d["target"], config.replace(seed=2), {}),
        (d["source"], d["target"], config.replace(lr=0.05), {}),
        (other["source"], other["target"], config, {}),
        (d["source"], d["target"], config, {"retrain": True}),
    ]
    for source, target, cfg, kw in cases:
        _, how = load_or_fit(path, build_model("toy"), source, target, cfg, progress=False, **kw)
        assert how == "trained"


def test_a_history_saved_without_weights_is_found_and_a_broken_one_is_named(tmp_path):
    d, config, model, history, _ = _run(tmp_path)
    path = save_run(tmp_path / "run.json", None, history)
    loaded, how = load_or_fit(path, build_model("toy"), d["source"], d["target"], config)
    assert how == "loaded" and loaded.evals == history.evals
    _, how = load_or_fit(
        path, build_model("toy"), d["source"], d["target"], config.replace(seed=5), progress=False
    )
    assert how == "trained"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a saved run"):
        load_or_fit(path, build_model("toy"), d["source"], d["target"], config)
