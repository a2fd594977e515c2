"""The benchmark script: its summaries, the published recipe's port, one tiny end-to-end run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from dannlib.schedules import dann_lambda

pytestmark = pytest.mark.filterwarnings("ignore:MNIST")  # the offline fallback notices

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
run = pytest.importorskip("run")
published = pytest.importorskip("published_dann")
levers = pytest.importorskip("levers")


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


def test_lambda_ramp_has_the_same_length_whatever_the_budget():
    for steps in (1000, 3000, 6000):
        gamma = run.ramp_gamma(10.0, steps, ramp_steps=1500)
        for k in (0, 300, 1500, 1000):
            assert dann_lambda(k / steps, gamma) == pytest.approx(dann_lambda(k / 1500, 10.0))


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
    methods = ["course", "course-32", "paper", "published"]
    run.main(
        ["--seeds", "1", "--seconds", "2", "--evals", "2", "--repeats", "1", "--threads", "1"]
        + ["--methods", *methods, "--out", str(tmp_path)]
    )
    text = (tmp_path / "results.json").read_text()
    results = json.loads(text, parse_constant=pytest.fail)  # strict JSON: no NaN or Infinity
    group = results["threads"]["1"]
    assert list(group["runs"]) == methods
    for runs in group["runs"].values():
        (only,) = runs
        assert only["curve"][0][1] == 0 and only["curve"][-1][0] > 0  # from step 0, trained
        assert 0 < only["cpu_share"] and only["load_before"] >= 0
    assert set(group["ratios"]) == {"course", "course-32", "paper"}
    assert all(ms > 0 for ms in group["step_ms"].values())
    assert results["machine"]["cores"] >= 1 and results["machine"]["cpu"]
    table = (tmp_path / "results.md").read_text()
    assert "| published recipe (reference, ported) |" in table
    assert "| time ratio, method / reference (per seed) |" in table
    assert "Load during the 1-thread runs" in table and results["machine"]["cpu"] in table
    assert (tmp_path / "accuracy_vs_time.png").stat().st_size > 1000


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
