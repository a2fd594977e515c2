"""The benchmark script: its summaries, the published recipe's port, one tiny end-to-end run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import dannlib.steps
from dannlib.data.base import to_float
from dannlib.models import eval_mode
from dannlib.recipes import get_recipe
from dannlib.schedules import dann_lambda
from dannlib.train import dann_step

pytestmark = pytest.mark.filterwarnings("ignore:MNIST")  # the offline fallback notices

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
run = pytest.importorskip("run")
published = pytest.importorskip("published_dann")
levers = pytest.importorskip("levers")
step_cost = pytest.importorskip("step_cost")
compiled_step = pytest.importorskip("compiled_step")
loop_overhead = pytest.importorskip("loop_overhead")


def test_summarise_reads_thresholds_steps_and_checkpoints_off_the_curve():
    curve = [(0.0, 0, 0.1), (30.0, 100, 0.5), (59.0, 200, 0.82), (119.0, 400, 0.91)]
    s = run.summarise(curve + [(150.0, 500, 0.90)])
    assert (s["seconds_to_0.80"], s["steps_to_0.80"]) == (59.0, 200)
    assert (s["seconds_to_0.90"], s["steps_to_0.90"]) == (119.0, 400)
    assert s["seconds_to_0.93"] is None and s["steps_to_0.93"] is None  # never reached
    assert s["acc_at_60s"] == 0.82 and s["acc_at_120s"] == 0.91
    assert s["acc_at_300s"] is None  # the run was shorter than 300 s
    assert s["final_acc"] == 0.90


def test_ratios_pair_seeds_and_bound_what_the_reference_missed():
    def runs(*curves):
        return [{"curve": c, "summary": run.summarise(c)} for c in curves]

    fast = [(0.0, 0, 0.1), (20.0, 10, 0.85), (50.0, 20, 0.91), (100.0, 30, 0.92)]
    slow = [(0.0, 0, 0.1), (80.0, 10, 0.85), (200.0, 20, 0.88)]
    r = run.ratios({"course": runs(fast, fast), "published": runs(slow, fast)})["course"]
    assert r["seconds_to_0.80"] == [[20.0 / 80.0, ""], [1.0, ""]]
    assert r["seconds_to_0.90"] == [[50.0 / 200.0, "<="], [1.0, ""]]  # 200 s: all it trained
    assert r["seconds_to_0.93"] == [[None, ""], [None, ""]]
    assert run._fmt_ratio(r["seconds_to_0.90"]).startswith("<= 0.62 ± ")
    assert run._fmt_ratio(r["seconds_to_0.93"]) == "not reached"


def test_fmt_gives_mean_spread_and_what_is_missing():
    assert run._fmt([1.0, 3.0]) == "2.000 ± 1.414"
    assert run._fmt([10.0, None], 0, "not reached") == "10 (1 not reached)"
    assert run._fmt([None]) == "n/a"


def test_lambda_ramps_over_the_same_steps_whatever_the_budget(monkeypatch):
    seen = []

    def spy(model, optimizer, batch, lam, lr):
        seen.append(lam)
        return dann_step(model, optimizer, batch, lam, lr)

    monkeypatch.setitem(dannlib.steps.STEPS, "dann", spy)
    pair = run.domain_pair("mnist->mnist_m", test_limit=8, limit=32)
    for steps in (3, 6):
        run.fit_timed(run.METHODS["course"], pair, steps, 0, steps, ramp_steps=100)
    assert seen[:3] == seen[3:6] == pytest.approx([dann_lambda(k / 100, 10.0) for k in range(3)])


def test_published_networks_have_the_published_shapes_and_sizes():
    def conv(i, o, k=5):
        return i * o * k * k + o

    def linear(i, o):
        return i * o + o

    def bn(c):
        return 2 * c

    model = published.PublishedDANN().eval()
    x = torch.rand(4, 3, 28, 28)
    assert model.feature(x).shape == (4, 800)
    class_out, domain_out = model(x, 1.0)
    assert class_out.shape == (4, 10) and domain_out.shape == (4, 2)  # a 2-way domain head
    assert torch.allclose(domain_out.exp().sum(1), torch.ones(4))  # log-softmax outputs

    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert count(model.feature) == conv(3, 64) + bn(64) + conv(64, 50) + bn(50)
    assert count(model.class_classifier) == (
        linear(800, 100) + bn(100) + linear(100, 100) + bn(100) + linear(100, 10)
    )
    assert count(model.domain_classifier) == linear(800, 100) + bn(100) + linear(100, 2)


def test_published_gradient_reversal_flips_and_scales_the_gradient():
    f = torch.ones(3, requires_grad=True)
    published.ReverseGradient.apply(f, 0.25).sum().backward()
    assert torch.equal(f.grad, torch.full((3,), -0.25))


def test_brackets_hold_the_crossing_between_two_evaluations():
    curve = [(0.0, 0, 0.1), (10.0, 100, 0.85), (20.0, 200, 0.91), (30.0, 300, 0.95)]
    assert run.bracket(curve, 0.90) == (10.0, 20.0) and run.bracket(curve, 0.99) is None
    ref = [(0.0, 0, 0.1), (50.0, 10, 0.8), (100.0, 20, 0.9)]
    runs = {"course": [{"curve": curve}], "published": [{"curve": ref}]}
    assert run.ratio_brackets(runs, 0.90) == {"course": [(10.0 / 100.0, 20.0 / 50.0)]}


def test_published_normalisation_uses_each_domains_mean_and_std():
    images = torch.tensor([0, 255], dtype=torch.uint8)
    assert published.normalise(images, (0.5, 0.5)).tolist() == [-1.0, 1.0]


def test_one_tiny_benchmark_run_writes_json_markdown_and_plot(tmp_path):
    methods = ["course", "course-bf16-1-thread", "published"]
    run.main(
        ["--seeds", "1", "--seconds", "1", "--evals", "2", "--repeats", "1", "--threads", "1"]
        + ["--methods", *methods, "--out", str(tmp_path)]
    )
    text = (tmp_path / "results.json").read_text()
    results = json.loads(text, parse_constant=pytest.fail)  # strict JSON: no NaN or Infinity
    group = results["threads"]["1"]
    assert list(group["runs"]) == methods
    for runs in group["runs"].values():
        (only,) = runs
        assert only["curve"][0][1] == 0 and only["curve"][-1][0] > 0  # from step 0, trained
        assert 0 <= only["curve"][-1][2] <= 1  # evaluated: an accuracy, not NaN
        assert 0 < only["cpu_share"] and only["load_before"] >= 0 and only["threads_used"] == 1
    assert set(group["ratios"]) == {"course", "course-bf16-1-thread"}
    assert all(ms > 0 for ms in group["step_ms"].values())
    assert results["machine"]["cores"] >= 1 and results["machine"]["cpu"]
    assert results["machine"]["device"] == "cpu"
    table = (tmp_path / "results.md").read_text()
    assert "| published recipe (reference, ported) |" in table
    b = get_recipe("course").config.batch_size  # the course row follows the recipe
    assert f"| dannlib DANN, course recipe ({b} + {b} a step) |" in table
    assert "| time ratio, method / reference (per seed) |" in table
    assert "Load during the 1-thread runs" in table and results["machine"]["cpu"] in table
    assert (tmp_path / "accuracy_vs_time.png").stat().st_size > 1000


def test_a_method_with_a_thread_cap_runs_with_at_most_that_many():
    assert run.threads_for("course-1-thread", 2) == 1
    assert run.threads_for("course-bf16-1-thread", 1) == 1
    assert run.threads_for("course", 2) == 2 and run.threads_for("published", 2) == 2


def test_a_capped_method_that_would_repeat_an_uncapped_one_is_left_out():
    names = ["course", "course-1-thread", "course-16-1-thread", "published"]
    assert run.methods_for(names, 2) == names
    assert run.methods_for(names, 1) == ["course", "course-16-1-thread", "published"]
    assert run.methods_for(["course-1-thread", "published"], 1) == ["course-1-thread", "published"]


def test_bf16_autocast_trains_each_step_in_bfloat16_with_its_current_weights(monkeypatch):
    seen = []

    def spy(model, optimizer, batch, lam, lr):
        with eval_mode(model):  # no dropout: two forward passes comparable
            out = model.features(batch[0])
            with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
                fresh = model.features(batch[0])  # weights cast now, not cached earlier
        seen.append((out.dtype, torch.equal(out, fresh)))
        return dann_step(model, optimizer, batch, lam, lr)

    monkeypatch.setitem(dannlib.steps.STEPS, "dann", spy)
    pair = run.domain_pair("mnist->mnist_m", test_limit=50, limit=64)
    method = run.METHODS["course-bf16"]
    curve, _ = run.fit_timed(method, pair, 2, 0, 2, 100, test=pair.target_test)
    assert seen == [(torch.bfloat16, True)] * 2  # step 2 computes with step 1's update
    assert [k for _, k, _ in curve] == [0, 2] and all(0 <= a <= 1 for _, _, a in curve)
    seen.clear()
    run.fit_timed(run.METHODS["course"], pair, 1, 0, 1, 100)
    assert seen == [(torch.float32, False)]  # float32, unlike a bf16 pass


def test_the_command_line_refuses_a_non_positive_budget():
    with pytest.raises(SystemExit):
        run.main(["--seconds", "0"])


def test_levers_counts_steps_to_each_threshold_for_a_variant(capsys):
    levers.main(
        ["--variant", '{"batch_size": 8, "max_steps": 4}', "--seeds", "1"] + ["--eval-every", "2"]
    )
    header, rule, row = capsys.readouterr().out.strip().splitlines()
    assert header.startswith("| variant | steps to 0.80 |") and rule.startswith("|---")
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == '`{"batch_size": 8, "max_steps": 4}`'
    assert cells[1:4] == ["-", "-", "-"]  # 4 steps reach none of the thresholds
    assert 0.0 <= float(cells[4]) < 0.8  # best accuracy seen


def test_step_cost_variants_fill_in_the_recipe_and_refuse_unknown_settings():
    v = step_cost.parse_variant('{"threads": 2}')
    assert v["batch"] == get_recipe("course").config.batch_size and v["threads"] == 2
    assert v["memory"] == "channels_last" and not v["compile"] and v["side_by_side"] == 1
    assert step_cost.name(step_cost.parse_variant('{"batch": 8, "bf16": true}')) == (
        "8+8, 1 thread(s), bf16 autocast"
    )
    for bad in ('{"thread": 2}', '{"batch": 0}', '{"memory": "nhwc"}'):
        with pytest.raises(ValueError):
            step_cost.parse_variant(bad)


def test_step_cost_times_interleaved_blocks_of_side_by_side_workers():
    data = {"xs": torch.randint(0, 256, (16, 3, 28, 28), dtype=torch.uint8)}
    data |= {"ys": torch.randint(0, 10, (16,)), "xt": data["xs"].flip(0)}
    variants = [step_cost.parse_variant('{"batch": 4, "side_by_side": 2}')]
    (row,) = step_cost.measure(variants, rounds=2, steps=1, data=data)
    assert row["blocks"] == 2 and 0 < row["ms_min"] <= row["ms_median"]
    assert row["cpu_ms_median"] > 0 and row["name"] == "4+4, 1 thread(s), 2 side by side"
    assert "| 4+4, 1 thread(s), 2 side by side |" in step_cost.markdown([row], 1)


def test_the_compiled_step_makes_dann_steps_update_and_statistics():
    pair = run.domain_pair("mnist->mnist_m", test_limit=8, limit=32)
    batch = (to_float(pair.source.x[:8]), pair.source.y[:8], to_float(pair.target.x[:8]))
    params, stats = [], []
    # dynamo's graph run by eager PyTorch: the wiring, without the compiler's minutes
    for step in (dann_step, compiled_step.compiled_dann_step(backend="eager")):
        torch.manual_seed(0)
        model = get_recipe("course").build_model().train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        stats.append(step(model, optimizer, batch, 0.7, 1e-3))
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(params[0], params[1])
    assert stats[0].keys() == stats[1].keys()
    assert all(
        torch.equal(torch.as_tensor(stats[0][k]), torch.as_tensor(stats[1][k])) for k in stats[0]
    )


def test_loop_overhead_times_every_loop_and_each_piece(tmp_path):
    out = tmp_path / "overhead.json"
    result = loop_overhead.main(
        ["--rounds", "1", "--steps", "2", "--warmup", "2", "--repeats", "2", "--no-compile"]
        + ["--json", str(out)]
    )
    assert list(result["ms_per_step"]) == [n for n in loop_overhead.LOOPS if "compiled" not in n]
    for m in result["ms_per_step"].values():
        assert 0 < m["wall_min"] <= m["wall_median"] and m["cpu_median"] > 0
    assert all(us > 0 for us in result["pieces_us"].values())
    assert json.loads(out.read_text())["device"] == "cpu"
    assert "| dann_step loop |" in loop_overhead.markdown(result)


def test_loop_overhead_refuses_blocks_that_are_not_whole_warm_ups():
    with pytest.raises(SystemExit):
        loop_overhead.main(["--steps", "5", "--warmup", "2"])
