"""The benchmark script: its summaries, and one tiny end-to-end run (seconds, not minutes)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore:MNIST. no network")  # the offline fallback

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
run = pytest.importorskip("run")


def test_summarise_reads_thresholds_and_checkpoints_off_the_curve():
    curve = [(0.0, 0.1), (30.0, 0.5), (59.0, 0.82), (119.0, 0.91), (150.0, 0.90)]
    s = run.summarise(curve)
    assert s["seconds_to_0.80"] == 59.0 and s["seconds_to_0.90"] == 119.0
    assert s["acc_at_60s"] == 0.82 and s["acc_at_120s"] == 0.91
    assert s["acc_at_300s"] is None  # the run was shorter than 300 s
    assert s["final_acc"] == 0.90
    assert math.isinf(run.summarise([(0.0, 0.1), (10.0, 0.5)])["seconds_to_0.80"])


def test_one_tiny_benchmark_run_writes_json_markdown_and_plot(tmp_path):
    run.main(
        ["--seeds", "1", "--seconds", "2", "--evals", "2", "--repeats", "3", "--out", str(tmp_path)]
    )
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["time_to_accuracy"]) == {*run.RECIPES, run.REFERENCE}
    for t in results["throughput"].values():
        assert t["train_ratio"] > 0 and t["eval_ratio"] > 0
    table = (tmp_path / "results.md").read_text()
    assert run.REFERENCE in table and "| mnist |" in table
    assert (tmp_path / "accuracy_vs_time.png").stat().st_size > 1000
