"""The lesson-05 checkers accept right answers and name the likely mistakes."""

import numpy as np
import pytest

from dannlib.exercises import CheckFailed
from dannlib.exercises.lesson05 import check_curve_summary, check_paired_gain


def _gain(ddof=1, sign=1, sqrt_n=True, paired=True):
    def fn(dann, source_only):
        a, b = np.asarray(dann), np.asarray(source_only)
        d = sign * (a - b)
        if not paired:
            return d.mean(), np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        return d.mean(), d.std(ddof=ddof) / (np.sqrt(len(d)) if sqrt_n else 1)

    return fn


def test_paired_gain_right_and_wrong():
    assert check_paired_gain(_gain()).startswith("OK")
    for kw, message in [
        (dict(ddof=0), "ddof=1"),
        (dict(sign=-1), "reversed"),
        (dict(sqrt_n=False), "sqrt"),
        (dict(paired=False), "paired"),
    ]:
        with pytest.raises(CheckFailed, match=message):
            check_paired_gain(_gain(**kw))


def _summary(first=False, every=False, last_peak=False):
    def fn(h):
        dom = h.steps["domain_acc"]
        part = dom[:10] if first else dom if every else dom[-10:]
        target = h.evals["target_acc"]
        peak = target[-1] if last_peak else max(target)
        return {"late_domain_acc": np.mean(part), "peak_target": peak, "final_target": target[-1]}

    return fn


def test_curve_summary_right_and_wrong():
    assert check_curve_summary(_summary()).startswith("OK")
    for kw, message in [(dict(first=True), "first 10%"), (dict(every=True), "every step")]:
        with pytest.raises(CheckFailed, match=message):
            check_curve_summary(_summary(**kw))
    with pytest.raises(CheckFailed, match="best evaluation"):
        check_curve_summary(_summary(last_peak=True))
    with pytest.raises(CheckFailed, match="keys"):
        check_curve_summary(lambda h: (0.5, 0.7, 0.6))
