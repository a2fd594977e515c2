"""Lesson 05: my_paired_gain(dann, source_only) -> (mean, standard error) and
my_curve_summary(history) -> {"late_domain_acc", "mid_target", "late_target"}."""

from __future__ import annotations

import math
import statistics

import numpy as np

# --- my_paired_gain -------------------------------------------------------------------------


def gain_population_std(dann, source_only):
    """Standard deviation with n (ddof=0) instead of n - 1."""
    d = np.asarray(dann, float) - np.asarray(source_only, float)
    return d.mean(), d.std() / np.sqrt(len(d))


def gain_std_not_sem(dann, source_only):
    """The standard deviation instead of the standard error (not divided by sqrt n)."""
    d = np.asarray(dann, float) - np.asarray(source_only, float)
    return d.mean(), d.std(ddof=1)


def gain_divided_by_n(dann, source_only):
    """Divided by n instead of sqrt n."""
    d = np.asarray(dann, float) - np.asarray(source_only, float)
    return d.mean(), d.std(ddof=1) / len(d)


def gain_unpaired(dann, source_only):
    """Unpaired standard error sqrt(s_a^2/n + s_b^2/n), as for independent samples."""
    a, b = np.asarray(dann, float), np.asarray(source_only, float)
    return a.mean() - b.mean(), math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))


def gain_reversed(dann, source_only):
    """source_only - dann: the sign reversed."""
    d = np.asarray(source_only, float) - np.asarray(dann, float)
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d))


def gain_swapped_order(dann, source_only):
    """Returns (standard error, mean): the pair in the wrong order."""
    d = np.asarray(dann, float) - np.asarray(source_only, float)
    return d.std(ddof=1) / np.sqrt(len(d)), d.mean()


def gain_list_subtraction(dann, source_only):
    """dann - source_only on Python lists: TypeError."""
    d = dann - source_only
    return np.mean(d), np.std(d, ddof=1) / np.sqrt(len(d))


def gain_sqrt_n_minus_one(dann, source_only):
    """Divided by sqrt(n - 1) instead of sqrt(n)."""
    d = np.asarray(dann, float) - np.asarray(source_only, float)
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d) - 1)


def gain_median(dann, source_only):
    """The median of the differences instead of the mean."""
    d = np.asarray(dann, float) - np.asarray(source_only, float)
    return float(np.median(d)), d.std(ddof=1) / np.sqrt(len(d))


def gain_sem_of_dann_only(dann, source_only):
    """The standard error of DANN's accuracies, not of the differences."""
    a = np.asarray(dann, float)
    return a.mean() - np.mean(source_only), a.std(ddof=1) / np.sqrt(len(a))


def gain_relative(dann, source_only):
    """Relative gain (dann - source_only) / source_only."""
    d = (np.asarray(dann, float) - np.asarray(source_only, float)) / np.asarray(source_only, float)
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d))


WRONG_PAIRED_GAIN = [
    ("std with ddof=0", gain_population_std),
    ("std, not standard error", gain_std_not_sem),
    ("divided by n", gain_divided_by_n),
    ("unpaired standard error", gain_unpaired),
    ("sign reversed", gain_reversed),
    ("(sem, mean) order", gain_swapped_order),
    ("list subtraction (crash)", gain_list_subtraction),
    ("sqrt(n-1)", gain_sqrt_n_minus_one),
    ("median", gain_median),
    ("sem of DANN only", gain_sem_of_dann_only),
    ("relative gain", gain_relative),
]


def gain_right_statistics(dann, source_only):
    """Right: the statistics module (stdev uses n - 1)."""
    d = [a - b for a, b in zip(dann, source_only)]
    return statistics.mean(d), statistics.stdev(d) / math.sqrt(len(d))


def gain_right_by_hand(dann, source_only):
    """Right: sums written out."""
    d = [float(a) - float(b) for a, b in zip(dann, source_only)]
    n = len(d)
    m = sum(d) / n
    return m, math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1) / n)


RIGHT_PAIRED_GAIN = [
    ("statistics.mean/stdev", gain_right_statistics),
    ("sums by hand", gain_right_by_hand),
]


# --- my_curve_summary -----------------------------------------------------------------------


def _evals(history):
    return np.asarray(history.evals["step"], float), np.asarray(history.evals["target_acc"], float)


def _total(history):
    return len(history.steps["domain_acc"])


def _summary(history, late_domain, mid, late):
    return {
        "late_domain_acc": float(late_domain),
        "mid_target": float(mid),
        "late_target": float(late),
    }


def _windows(history):
    step, acc = _evals(history)
    total = _total(history)
    mid = acc[(step > 0.25 * total) & (step <= 0.5 * total)].mean()
    late = acc[step > 0.75 * total].mean()
    return mid, late


def summary_last_ten_steps(history):
    """Domain accuracy over the last 10 steps instead of the last 10% of the steps."""
    return _summary(history, np.mean(history.steps["domain_acc"][-10:]), *_windows(history))


def summary_negative_zero_slice(history):
    """acc[-int(0.1 * n):]: with fewer than 10 steps the slice is [-0:], every step."""
    a = history.steps["domain_acc"]
    return _summary(history, np.mean(a[-int(0.1 * len(a)) :]), *_windows(history))


def summary_first_ten_percent(history):
    """acc[:n // 10]: the first 10% of the steps instead of the last."""
    a = history.steps["domain_acc"]
    return _summary(history, np.mean(a[: len(a) // 10]), *_windows(history))


def summary_boundaries_flipped(history):
    """Windows [25%, 50%) and [75%, 100%): the boundary steps in the wrong window."""
    step, acc = _evals(history)
    total = _total(history)
    a = history.steps["domain_acc"]
    mid = acc[(step >= 0.25 * total) & (step < 0.5 * total)].mean()
    late = acc[(step >= 0.75 * total) & (step < total)].mean()
    return _summary(history, np.mean(a[-(len(a) // 10) :]), mid, late)


def summary_by_evaluation_index(history):
    """Quarters of the list of evaluations (by position), not of the steps."""
    _, acc = _evals(history)
    a = history.steps["domain_acc"]
    n = len(acc)
    return _summary(
        history,
        np.mean(a[-(len(a) // 10) :]),
        acc[n // 4 : n // 2].mean(),
        acc[3 * n // 4 :].mean(),
    )


def summary_last_eval_only(history):
    """late_target is the last evaluation, not the mean of the last quarter."""
    mid, _ = _windows(history)
    a = history.steps["domain_acc"]
    return _summary(history, np.mean(a[-(len(a) // 10) :]), mid, history.evals["target_acc"][-1])


def summary_first_half(history):
    """mid_target over the whole first half (0-50%), not the second quarter."""
    step, acc = _evals(history)
    total = _total(history)
    a = history.steps["domain_acc"]
    mid = acc[step <= 0.5 * total].mean()
    late = acc[step > 0.75 * total].mean()
    return _summary(history, np.mean(a[-(len(a) // 10) :]), mid, late)


def summary_domain_acc_from_evals(history):
    """Reads history.evals['domain_acc'] (it is a per-step record): KeyError."""
    a = history.evals["domain_acc"]
    return _summary(history, np.mean(a[-(len(a) // 10) :]), *_windows(history))


def summary_wrong_keys(history):
    """Keys named after the notebook's prose ('late_domain', 'mid', 'late')."""
    a = history.steps["domain_acc"]
    mid, late = _windows(history)
    return {"late_domain": float(np.mean(a[-(len(a) // 10) :])), "mid": mid, "late": late}


def summary_max_not_mean(history):
    """The best evaluation of each window instead of its mean (what the task warns against)."""
    step, acc = _evals(history)
    total = _total(history)
    a = history.steps["domain_acc"]
    mid = acc[(step > 0.25 * total) & (step <= 0.5 * total)].max()
    late = acc[step > 0.75 * total].max()
    return _summary(history, np.mean(a[-(len(a) // 10) :]), mid, late)


def summary_total_from_eval_count(history):
    """The number of evaluations taken as the number of steps."""
    step, acc = _evals(history)
    total = len(step)
    a = history.steps["domain_acc"]
    mid = acc[(step > 0.25 * total) & (step <= 0.5 * total)]
    late = acc[step > 0.75 * total]
    return _summary(history, np.mean(a[-(len(a) // 10) :]), np.mean(mid), np.mean(late))


WRONG_CURVE_SUMMARY = [
    ("last 10 steps", summary_last_ten_steps),
    ("[-int(0.1 n):] slice", summary_negative_zero_slice),
    ("first 10% of steps", summary_first_ten_percent),
    ("window boundaries flipped", summary_boundaries_flipped),
    ("quarters by evaluation index", summary_by_evaluation_index),
    ("late_target = last evaluation", summary_last_eval_only),
    ("mid over first half", summary_first_half),
    ("domain_acc from evals (crash)", summary_domain_acc_from_evals),
    ("wrong key names", summary_wrong_keys),
    ("max instead of mean", summary_max_not_mean),
    ("total = number of evaluations", summary_total_from_eval_count),
]


def summary_right_step_values(history):
    """Right: windows by step value, total = the last evaluation's step; last 10% by step number."""
    steps = np.asarray(history.evals["step"])
    acc = np.asarray(history.evals["target_acc"], dtype=float)
    total = steps[-1]
    dom = np.asarray(history.steps["domain_acc"], dtype=float)
    step_no = np.arange(1, len(dom) + 1)
    return {
        "late_domain_acc": float(dom[step_no > 0.9 * len(dom)].mean()),
        "mid_target": float(acc[(steps > total / 4) & (steps <= total / 2)].mean()),
        "late_target": float(acc[steps > 3 * total / 4].mean()),
    }


def summary_right_loops(history):
    """Right: plain Python loops, total from the per-step record, last 10% by ceil."""
    dom = history.steps["domain_acc"]
    n = len(dom)
    k = max(1, math.ceil(n / 10))
    mid, late = [], []
    for s, a in zip(history.evals["step"], history.evals["target_acc"]):
        if n / 4 < s <= n / 2:
            mid.append(a)
        elif s > 3 * n / 4:
            late.append(a)
    return {
        "late_domain_acc": sum(dom[-k:]) / k,
        "mid_target": sum(mid) / len(mid),
        "late_target": sum(late) / len(late),
    }


RIGHT_CURVE_SUMMARY = [
    ("by step value, NumPy", summary_right_step_values),
    ("Python loops", summary_right_loops),
]
