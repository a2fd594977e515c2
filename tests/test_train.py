import statistics

import pytest
import torch

from dannlib import build_model, fit, set_seed
from dannlib.data.base import Domain, to_float
from dannlib.data.loaders import IndexStream, steps_per_epoch
from dannlib.data.toy import moons_pair
from dannlib.evaluation import domain_batchnorm, evaluate
from dannlib.train import History, TrainingDiverged

MOONS = dict(steps=1500, batch_size=32, lr=0.1, lr_schedule="constant", lambda_max=2.0)


def _moons_run(mode, seed, angle=35.0, **kw):
    d = moons_pair(300, angle, seed=seed)
    set_seed(seed)
    model = build_model("toy")
    evals = {"source": d["source_test"], "target": d["target_test"]}
    h = fit(
        model,
        d["source"],
        d["target"],
        mode=mode,
        eval_sets=evals,
        progress=False,
        seed=seed,
        **{**MOONS, **kw},
    )
    return model, h


def test_dann_beats_source_only_on_rotated_moons():
    src, dann = [], []
    for seed in range(3):
        src.append(_moons_run("source_only", seed)[1])
        dann.append(_moons_run("dann", seed)[1])
    src_target = statistics.mean(h.last("target_acc") for h in src)
    dann_target = statistics.mean(h.last("target_acc") for h in dann)
    assert dann_target > src_target + 0.08, (src_target, dann_target)
    assert min(h.last("source_acc") for h in dann) > 0.9
    # DANN's domain classifier ends near chance; source-only's can still tell the domains apart
    dann_domain = statistics.mean(statistics.mean(h.steps["domain_acc"][-200:]) for h in dann)
    src_domain = statistics.mean(statistics.mean(h.steps["domain_acc"][-200:]) for h in src)
    assert dann_domain < 0.65 < src_domain


def test_same_seed_gives_the_same_history():
    _, a = _moons_run("dann", 0, steps=200)
    _, b = _moons_run("dann", 0, steps=200)
    assert a.to_dict() == b.to_dict() | {
        "evals": {
            **b.evals,
            "train_seconds": a.evals["train_seconds"],
            "eval_seconds": a.evals["eval_seconds"],
        }
    }
    assert a.steps == b.steps


def test_history_records_schedules_and_evaluations():
    _, h = _moons_run("dann", 0, steps=100, eval_every=50, lr_schedule="paper", lr=0.01)
    assert h.steps["step"] == list(range(1, 101))
    assert h.steps["lambda"][0] == 0.0 and 0.99 < h.steps["lambda"][-1] / 2.0 <= 1.0
    assert h.steps["lr"][0] == pytest.approx(0.01) and h.steps["lr"][-1] < 0.0017
    assert h.evals["step"] == [0, 50, 100]
    for key in ("source_acc", "target_acc", "source_loss", "train_seconds", "eval_seconds"):
        assert len(h.evals[key]) == 3
    assert History.from_dict(h.to_dict()) == h


def test_source_only_has_zero_lambda_and_target_only_learns_the_target():
    _, h = _moons_run("source_only", 0, steps=100)
    assert set(h.steps["lambda"]) == {0.0}
    _, h = _moons_run("target_only", 0, angle=90, steps=600)
    assert h.last("target_acc") > 0.85


def test_callback_sees_every_evaluation():
    seen = []
    _moons_run("dann", 0, steps=60, eval_every=20, callback=lambda m, h, s: seen.append(s))
    assert seen == [0, 20, 40, 60]


def test_evaluate_restores_training_mode_and_counts_correctly():
    model = build_model("toy")
    data = Domain(torch.randn(50, 2), torch.randint(0, 2, (50,)))
    model.train()
    result = evaluate(model, data, batch_size=7)
    assert model.training
    with torch.no_grad():
        expected = (model(data.x)[0].argmax(1) == data.y).float().mean().item()
    assert result["acc"] == pytest.approx(expected)


def test_bad_arguments_give_clear_errors():
    d = moons_pair(50, 30)
    model = build_model("toy")
    with pytest.raises(ValueError, match="source_only, dann, target_only"):
        fit(model, d["source"], d["target"], mode="adversarial", steps=1)
    with pytest.raises(ValueError, match="exactly one of"):
        fit(model, d["source"], d["target"], progress=False)
    with pytest.raises(ValueError, match="sgd, adam"):
        fit(model, d["source"], d["target"], steps=1, optimizer="rmsprop")


def test_divergence_stops_with_a_message_naming_the_cause():
    d = moons_pair(100, 30)
    d["source"].x[5] = float("inf")
    model = build_model("toy")
    with pytest.raises(TrainingDiverged, match="lower the learning rate or lambda_max") as err:
        fit(model, d["source"], d["target"], steps=50, batch_size=32, progress=False)
    assert len(err.value.history.steps.get("step", [])) < 50


def test_keyboard_interrupt_returns_the_history_so_far():
    def interrupt(model, history, step):
        if step == 40:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted"):
        _, h = _moons_run("dann", 0, steps=100, eval_every=20, callback=interrupt)
    assert h.interrupted and h.steps["step"][-1] == 40


def test_resume_matches_an_uninterrupted_run(tmp_path):
    full_model, full = _moons_run("dann", 0, steps=120, eval_every=40)
    ckpt = tmp_path / "run.pt"

    def stop_at_80(model, history, step):
        if step == 80:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning):
        _moons_run("dann", 0, steps=120, eval_every=40, checkpoint=ckpt, callback=stop_at_80)
    model, resumed = _moons_run("dann", 0, steps=120, eval_every=40, resume=ckpt)
    assert resumed.steps == full.steps
    for a, b in zip(model.state_dict().values(), full_model.state_dict().values()):
        assert torch.equal(a, b)


def test_index_stream_cycles_and_is_deterministic():
    s = IndexStream(10, seed=3)
    batches = [s.batch(i, 4) for i in range(5)]  # 20 indices = two passes
    flat = torch.cat(batches)
    assert sorted(flat[:10].tolist()) == list(range(10))
    assert sorted(flat[10:].tolist()) == list(range(10))
    assert torch.equal(IndexStream(10, seed=3).batch(3, 4), batches[3])
    assert steps_per_epoch(100, 30, 32) == 4


def test_domain_batchnorm_uses_the_data_statistics_then_restores_the_model():
    torch.manual_seed(0)
    model = build_model("modern")
    x = torch.randint(0, 256, (40, 3, 28, 28), dtype=torch.uint8)
    data = Domain(x, torch.zeros(40, dtype=torch.long))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with domain_batchnorm(model, x, batch_size=20):  # two equal batches, averaged
        first_bn = model.features[1]
        with torch.no_grad():
            conv_out = model.features[0](to_float(x))
        assert torch.allclose(first_bn.running_mean, conv_out.mean((0, 2, 3)), atol=1e-4)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert first_bn.momentum == 0.1 and model.training
    with domain_batchnorm(model, x):
        adapted = evaluate(model, data)
    assert evaluate(model, data, adapt_bn=True) == adapted != evaluate(model, data)
