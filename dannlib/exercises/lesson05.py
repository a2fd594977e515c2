"""Lesson 05's exercises: a paired gain over seeds, a training curve's summary."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from dannlib.claims import paired_difference
from dannlib.exercises import CheckFailed, checker, close
from dannlib.train import History


@checker("paired_gain", "the mean and standard error of the per-seed differences")
def check_paired_gain(fn: Callable[[Sequence[float], Sequence[float]], tuple]) -> str:
    """Check `fn(dann, source_only)` -> (mean, standard error) of the per-seed differences."""
    dann, source_only = [0.62, 0.70, 0.58, 0.66], [0.55, 0.57, 0.56, 0.60]
    mean, sem = (float(v) for v in fn(list(dann), list(source_only)))
    want = paired_difference(dann, source_only)
    diffs = want.diffs
    if close(mean, -want.mean) and close(abs(sem), want.sem):
        raise CheckFailed("the sign is reversed: the gain is dann - source_only")
    if not close(mean, want.mean):
        raise CheckFailed(f"expected a mean gain of {want.mean:.4f}, got {mean:.4f}")
    if close(sem, float(np.std(diffs) / math.sqrt(len(diffs)))):
        raise CheckFailed(
            "use the sample standard deviation of the differences (ddof=1, divide by n - 1): "
            "with a few seeds the population formula underestimates the spread"
        )
    if close(sem, float(np.std(diffs, ddof=1))):
        raise CheckFailed(
            "that is the standard deviation; the standard error divides it by sqrt(n)"
        )
    unpaired = math.sqrt(np.var(dann, ddof=1) / len(dann) + np.var(source_only, ddof=1) / 4)
    if close(sem, unpaired):
        raise CheckFailed(
            "that is the unpaired standard error of two means; the runs are paired by seed, "
            "so take the differences seed by seed first"
        )
    if not close(sem, want.sem):
        raise CheckFailed(f"expected a standard error of {want.sem:.4f}, got {sem:.4f}")
    return "OK: your mean gain and standard error match dannlib.claims.paired_difference"


@checker("curve_summary", "late domain accuracy, peak and final target accuracy")
def check_curve_summary(fn: Callable[[object], dict]) -> str:
    """Check `fn(history)`: late_domain_acc (last 10% of steps), peak_target, final_target."""
    history = History()
    for step in range(1, 101):  # domain accuracy falls from 1.0 to 0.505; the last 10% average
        history.log_step(step=step, domain_acc=1.0 - 0.005 * step)
    for step, acc in zip(range(0, 101, 20), (0.1, 0.5, 0.72, 0.68, 0.61, 0.63)):
        history.log_eval(step=step, target_acc=acc)
    got = fn(history)
    want = {"late_domain_acc": float(np.mean(history.steps["domain_acc"][-10:]))}
    want.update(peak_target=0.72, final_target=0.63)
    if not isinstance(got, Mapping) or set(got) != set(want):
        raise CheckFailed(f"return a dict with the keys {sorted(want)}")
    dom = float(got["late_domain_acc"])
    if close(dom, float(np.mean(history.steps["domain_acc"][:10]))):
        raise CheckFailed("that is the first 10% of the steps; average the last 10%")
    if close(dom, float(np.mean(history.steps["domain_acc"]))):
        raise CheckFailed("that averages every step; average the last 10% (the end of training)")
    if not close(dom, want["late_domain_acc"]):
        raise CheckFailed(f"late_domain_acc: expected {want['late_domain_acc']:.4f}, got {dom:.4f}")
    if close(float(got["peak_target"]), 0.63):
        raise CheckFailed("peak_target is the best evaluation, not the last one")
    for key in ("peak_target", "final_target"):
        if not close(float(got[key]), want[key]):
            raise CheckFailed(f"{key}: expected {want[key]:.4f}, got {float(got[key]):.4f}")
    return "OK: late domain accuracy, peak and final target accuracy as expected"
