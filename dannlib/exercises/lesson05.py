"""Lesson 05's exercises: a paired gain over seeds, and a noise-aware summary of a run's curves."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from dannlib.claims import paired_difference
from dannlib.exercises import CheckFailed, call, checker, close
from dannlib.metrics import curve_summary, window_mean
from dannlib.train import History

# the checker's per-seed accuracies: the gains vary in size and one seed goes the other way,
# so each wrong formula gives a number of its own
DANN = [0.62, 0.70, 0.55, 0.66]
SOURCE_ONLY = [0.55, 0.57, 0.56, 0.60]


def _numbers(answer, what: str, n: int) -> list[float]:
    """`answer` as n floats, or CheckFailed saying what shape to return."""
    if isinstance(answer, Mapping) or not isinstance(answer, (tuple, list, np.ndarray)):
        raise CheckFailed(f"return {what} as a tuple, e.g. `return mean, sem`")
    if len(answer) != n:
        raise CheckFailed(f"return {what}: {n} numbers, got {len(answer)}")
    try:
        return [float(v) for v in answer]
    except (TypeError, ValueError):
        raise CheckFailed(f"return {what} as plain numbers, got {answer!r}") from None


@checker("my_paired_gain", "the mean and standard error of the per-seed differences")
def check_paired_gain(fn: Callable[[Sequence[float], Sequence[float]], tuple]) -> str:
    """Check `fn(dann, source_only)` -> (mean, standard error) of the per-seed differences."""
    answer = call(
        fn,
        list(DANN),
        list(SOURCE_ONLY),
        who="my_paired_gain",
        hints=[
            (
                "'list'",
                "your function fails on lists: the accuracies come as lists, one number per "
                "seed; turn them into arrays first (np.asarray(dann, dtype=float))",
            )
        ],
        usage="my_paired_gain(dann, source_only) gets two lists of accuracies, one per seed, "
        "and returns (mean gain, standard error)",
    )
    mean, sem = _numbers(answer, "(mean gain, standard error)", 2)
    want = paired_difference(DANN, SOURCE_ONLY)
    diffs, n = want.diffs, want.n
    if close(mean, want.sem) and close(sem, want.mean):
        raise CheckFailed("the two numbers are swapped: return (mean gain, standard error)")
    if close(mean, -want.mean):
        raise CheckFailed("the sign is reversed: the gain is dann - source_only")
    if close(mean, float(np.abs(diffs).mean())):
        raise CheckFailed(
            "that averages the absolute differences; keep each difference's sign (a seed where "
            "DANN lost counts against it)"
        )
    if close(mean, 100 * want.mean):
        raise CheckFailed("give the gain as a fraction like the accuracies, not in percent")
    if close(mean, float(np.median(diffs))):
        raise CheckFailed("that is the median of the differences; take their mean")
    if close(mean, float(np.mean(diffs / np.asarray(SOURCE_ONLY)))):
        raise CheckFailed(
            "that is the relative gain (divided by source only's accuracy); the gain is the "
            "plain difference dann - source_only, in accuracy points"
        )
    if not close(mean, want.mean):
        raise CheckFailed(f"expected a mean gain of {want.mean:.4f}, got {mean:.4f}")
    wrong_spreads = {
        "use the sample standard deviation of the differences (ddof=1, divide by n - 1): "
        "with a few seeds the population formula underestimates the spread": np.std(diffs)
        / math.sqrt(n),
        "that is the standard deviation; the standard error divides it by sqrt(n)": np.std(
            diffs, ddof=1
        ),
        "that divides by sqrt(n - 1); the standard error is std(ddof=1) / sqrt(n)": np.std(
            diffs, ddof=1
        )
        / math.sqrt(n - 1),
        "that is the squared standard error (the variance of the mean); take its square root": (
            want.sem**2
        ),
        "that divides the standard deviation by n; the standard error divides it by sqrt(n)": (
            np.std(diffs, ddof=1) / n
        ),
        "that is the standard error of DANN's accuracies alone; take it of the per-seed "
        "differences dann - source_only": np.std(DANN, ddof=1) / math.sqrt(n),
        "that is the unpaired standard error of two means; the runs are paired by seed, "
        "so take the differences seed by seed first": math.sqrt(
            np.var(DANN, ddof=1) / n + np.var(SOURCE_ONLY, ddof=1) / n
        ),
    }
    for message, value in wrong_spreads.items():
        if close(sem, float(value)) and not close(sem, want.sem):
            raise CheckFailed(message)
    if not close(sem, want.sem):
        raise CheckFailed(f"expected a standard error of {want.sem:.4f}, got {sem:.4f}")
    return "OK: your mean gain and standard error match dannlib.claims.paired_difference"


def _example_history() -> History:
    """A run of 200 steps evaluated every 10: the domain accuracy falls from 1 towards 0.5 and
    the target accuracy rises, peaks near the middle and drifts down, with noise, so that every
    wrong window or statistic gives a number of its own."""
    history = History()
    for step in range(1, 201):
        history.log_step(step=step, domain_acc=1.0 - 0.0025 * step)
    rng = np.random.default_rng(5)
    for step in range(0, 201, 10):
        trend = 0.1 + 0.6 * min(step, 80) / 80 - 0.001 * max(step - 80, 0)
        acc = trend + (0.03 * rng.standard_normal() if step else 0.0)
        history.log_eval(step=step, target_acc=round(float(acc), 4))
    return history


@checker("my_curve_summary", "late domain accuracy, mid and late target accuracy (window means)")
def check_curve_summary(fn: Callable[[object], dict]) -> str:
    """Check `fn(history)`: late_domain_acc (mean of the last 10% of steps), mid_target and
    late_target (means of the target evaluations in the second and the last quarter)."""
    history = _example_history()
    got = call(
        fn,
        history,
        who="my_curve_summary",
        hints=[
            (
                "KeyError",
                f"the History has no such entry: per-step values are in history.steps "
                f"({', '.join(sorted(history.steps))}), evaluations in history.evals "
                f"({', '.join(sorted(history.evals))})",
            )
        ],
        usage="my_curve_summary(history) gets one run's History and returns a dict",
    )
    want = curve_summary(history)
    if not isinstance(got, Mapping) or set(got) != set(want):
        raise CheckFailed(f"return a dict with the keys {sorted(want)}")
    dom_steps, target = history.steps["domain_acc"], history.evals["target_acc"]
    step, acc = np.asarray(history.evals["step"]), np.asarray(target)
    total, n = step[-1], len(acc)
    dom = float(got["late_domain_acc"])
    if close(dom, float(np.mean(dom_steps[:20]))):
        raise CheckFailed("late_domain_acc: that is the first 10% of the steps; average the last")
    if close(dom, float(np.mean(dom_steps))):
        raise CheckFailed("late_domain_acc: that averages every step; average the last 10%")
    if close(dom, dom_steps[-1]):
        raise CheckFailed("late_domain_acc: that is the last step alone; average the last 10%")
    if close(dom, float(np.mean(dom_steps[-10:]))):
        raise CheckFailed(
            "late_domain_acc: that is the last 10 steps; average the last 10% of the steps "
            "(len(steps) // 10 of them)"
        )
    if not close(dom, want["late_domain_acc"]):
        raise CheckFailed(f"late_domain_acc: expected {want['late_domain_acc']:.4f}, got {dom:.4f}")
    late, mid = float(got["late_target"]), float(got["mid_target"])
    late_mistakes = {
        "late_target: that is the last evaluation alone; one evaluation moves by a few points "
        "from the next, so average the evaluations of the last quarter": target[-1],
        "late_target: that is the best evaluation; the best of several noisy evaluations is "
        "biased upwards (it is at least the last one for any run): average the last quarter's "
        "evaluations instead": max(target),
        "late_target: that is the best evaluation of the last quarter, biased upwards; "
        "average them": max(target[-5:]),
        "late_target: that averages the whole curve; average the last quarter's evaluations": (
            np.mean(target)
        ),
        "late_target: that averages the last half; average the last quarter's evaluations": (
            window_mean(history, "target_acc", 0.5, 1.0)
        ),
        "late_target: the window's boundaries are the wrong way round: the last quarter is "
        "step > 75% of the steps and step <= 100% (the last evaluation is in it)": acc[
            (step >= 0.75 * total) & (step < total)
        ].mean(),
        "late_target: those are the last quarter of the *list* of evaluations; take the "
        "evaluations whose step is in the last quarter of the steps (history.evals['step'])": acc[
            3 * n // 4 :
        ].mean(),
        "late_target: that takes the number of evaluations as the number of steps; the run's "
        "steps are history.evals['step'][-1] (or len(history.steps['domain_acc']))": acc[
            step > 0.75 * n
        ].mean(),
    }
    for message, value in late_mistakes.items():
        if close(late, float(value)) and not close(late, want["late_target"]):
            raise CheckFailed(message)
    if not close(late, want["late_target"]):
        raise CheckFailed(f"late_target: expected {want['late_target']:.4f}, got {late:.4f}")
    mid_mistakes = {
        "mid_target: that is the first quarter (with the untrained network's evaluation at "
        "step 0); take the second quarter, steps from 25% to 50% of the run": window_mean(
            history, "target_acc", -1.0, 0.25
        ),
        "mid_target: that includes the first quarter; take only the second quarter (25% to 50% "
        "of the steps)": window_mean(history, "target_acc", -1.0, 0.5),
        "mid_target: that is the best evaluation, biased upwards; average the second quarter's "
        "evaluations": max(target),
    }
    for message, value in mid_mistakes.items():
        if close(mid, float(value)) and not close(mid, want["mid_target"]):
            raise CheckFailed(message)
    if not close(mid, want["mid_target"]):
        raise CheckFailed(f"mid_target: expected {want['mid_target']:.4f}, got {mid:.4f}")
    return "OK: late domain accuracy and the mid and late target windows as expected"
