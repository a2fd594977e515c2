"""The lesson-05 checkers accept right answers and name each likely mistake.

The wrong solutions below are written out one by one, as a student might, not derived from the
checker's own formulas.
"""

import math

import numpy as np
import pytest
from wrong_answers import lesson05 as wrong05

from dannlib.exercises import CheckFailed
from dannlib.exercises.lesson05 import check_curve_summary, check_paired_gain
from dannlib.metrics import curve_summary, window_mean
from dannlib.train import History


def gain_right(dann, source_only):
    d = np.asarray(dann, dtype=float) - np.asarray(source_only, dtype=float)
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d))


def gain_loop(dann, source_only):  # another right answer: plain Python
    d = [a - b for a, b in zip(dann, source_only)]
    m = sum(d) / len(d)
    var = sum((x - m) ** 2 for x in d) / (len(d) - 1)
    return m, math.sqrt(var / len(d))


def gain_population_std(dann, source_only):
    d = np.asarray(dann) - np.asarray(source_only)
    return d.mean(), d.std() / np.sqrt(len(d))


def gain_reversed(dann, source_only):
    d = np.asarray(source_only) - np.asarray(dann)
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d))


def gain_std_not_sem(dann, source_only):
    d = np.asarray(dann) - np.asarray(source_only)
    return d.mean(), d.std(ddof=1)


def gain_sqrt_n_minus_1(dann, source_only):
    d = np.asarray(dann) - np.asarray(source_only)
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d) - 1)


def gain_variance_of_mean(dann, source_only):
    d = np.asarray(dann) - np.asarray(source_only)
    return d.mean(), d.var(ddof=1) / len(d)


def gain_unpaired(dann, source_only):
    a, b = np.asarray(dann), np.asarray(source_only)
    return a.mean() - b.mean(), np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))


def gain_swapped(dann, source_only):
    mean, sem = gain_right(dann, source_only)
    return sem, mean


def gain_absolute(dann, source_only):
    d = np.abs(np.asarray(dann) - np.asarray(source_only))
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d))


def gain_percent(dann, source_only):
    mean, sem = gain_right(dann, source_only)
    return 100 * mean, 100 * sem


def gain_on_lists(dann, source_only):  # subtracts the lists as they come
    d = dann - source_only
    return np.mean(d), np.std(d, ddof=1) / np.sqrt(len(d))


def gain_dict(dann, source_only):
    mean, sem = gain_right(dann, source_only)
    return {"mean": mean, "sem": sem}


def gain_mean_only(dann, source_only):
    return (gain_right(dann, source_only)[0],)


@pytest.mark.parametrize("fn", [gain_right, gain_loop])
def test_paired_gain_accepts_right_answers(fn):
    verdict = check_paired_gain(fn)
    assert verdict.ok and verdict.startswith("OK")


@pytest.mark.parametrize(
    "fn, message",
    [
        (gain_population_std, "ddof=1"),
        (gain_reversed, "sign is reversed"),
        (gain_std_not_sem, "that is the standard deviation"),
        (gain_sqrt_n_minus_1, "sqrt\\(n - 1\\)"),
        (gain_variance_of_mean, "square root"),
        (gain_unpaired, "unpaired"),
        (gain_swapped, "swapped"),
        (gain_absolute, "absolute differences"),
        (gain_percent, "percent"),
        (gain_on_lists, "fails on lists"),
        (gain_dict, "as a tuple"),
        (gain_mean_only, "2 numbers"),
    ],
)
def test_paired_gain_names_the_mistake(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_paired_gain(fn)


def test_paired_gain_stub_is_not_done_yet():
    def stub(dann, source_only):
        raise NotImplementedError("Student exercise: the mean paired gain and its standard error")

    verdict = check_paired_gain(stub)
    assert not verdict.ok and verdict.startswith("not done yet")


def _evals(history):
    return np.asarray(history.evals["step"], float), np.asarray(history.evals["target_acc"], float)


def summary_right(history):
    dom = np.asarray(history.steps["domain_acc"])
    steps, acc = _evals(history)
    total = steps[-1]
    mid = acc[(steps > total / 4) & (steps <= total / 2)]
    late = acc[steps > 3 * total / 4]
    return {
        "late_domain_acc": dom[-len(dom) // 10 :].mean(),
        "mid_target": mid.mean(),
        "late_target": late.mean(),
    }


def _with(**changes):
    """summary_right with some entries computed the wrong way."""

    def fn(history):
        out = summary_right(history)
        dom = np.asarray(history.steps["domain_acc"])
        steps, acc = _evals(history)
        total = steps[-1]
        wrong = {
            "first_tenth": dom[: len(dom) // 10].mean(),
            "every_step": dom.mean(),
            "last_step": dom[-1],
            "last_eval": acc[-1],
            "best_eval": acc.max(),
            "best_late": acc[steps > 3 * total / 4].max(),
            "whole_curve": acc.mean(),
            "last_half": acc[steps > total / 2].mean(),
            "first_quarter": acc[steps <= total / 4].mean(),
            "first_half": acc[steps <= total / 2].mean(),
        }
        out.update({key: wrong[how] for key, how in changes.items()})
        return out

    return fn


def test_curve_summary_accepts_the_right_answer():
    verdict = check_curve_summary(summary_right)
    assert verdict.ok and verdict.startswith("OK")


@pytest.mark.parametrize(
    "fn, message",
    [
        (_with(late_domain_acc="first_tenth"), "first 10%"),
        (_with(late_domain_acc="every_step"), "every step"),
        (_with(late_domain_acc="last_step"), "last step alone"),
        (_with(late_target="last_eval"), "last evaluation alone"),
        (_with(late_target="best_eval"), "biased upwards"),
        (_with(late_target="best_late"), "best evaluation of the last quarter"),
        (_with(late_target="whole_curve"), "whole curve"),
        (_with(late_target="last_half"), "last half"),
        (_with(mid_target="first_quarter"), "first quarter"),
        (_with(mid_target="first_half"), "includes the first quarter"),
        (_with(mid_target="best_eval"), "mid_target: that is the best"),
        (lambda h: (0.5, 0.7, 0.6), "keys"),
        (lambda h: {"late_domain_acc": 0.5, "peak_target": 0.7, "final_target": 0.6}, "keys"),
        (lambda h: {"late_target": np.mean(h.steps["target_acc"])}, "history.evals"),
    ],
)
def test_curve_summary_names_the_mistake(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_curve_summary(fn)


def test_window_mean_and_curve_summary():
    h = History()
    for step in range(1, 11):
        h.log_step(step=step, domain_acc=step / 10)
    for step, acc in zip(range(0, 101, 10), [0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]):
        h.log_eval(step=step, target_acc=acc)
    assert window_mean(h, "target_acc", 0.75, 1.0) == pytest.approx(np.mean([8, 9, 10]))
    assert window_mean(h, "target_acc", 0.25, 0.5) == pytest.approx(np.mean([3, 4, 5]))
    assert curve_summary(h) == pytest.approx(
        {"late_domain_acc": 1.0, "mid_target": 4.0, "late_target": 9.0}
    )
    with pytest.raises(ValueError, match="no evaluation"):
        window_mean(h, "target_acc", 0.91, 0.95)


# The independently written answers of tests/wrong_answers: each wrong one -> the message that
# must name its mistake.
PAIRED_GAIN_MESSAGES = {
    "std with ddof=0": "ddof=1",
    "std, not standard error": "that is the standard deviation",
    "divided by n": "divides the standard deviation by n",
    "unpaired standard error": "unpaired",
    "sign reversed": "sign is reversed",
    "(sem, mean) order": "swapped",
    "list subtraction (crash)": r"TypeError at `d = dann - source_only`(.|\n)*fails on lists",
    "sqrt(n-1)": r"sqrt\(n - 1\)",
    "median": "median",
    "sem of DANN only": "DANN's accuracies alone",
    "relative gain": "relative gain",
}
CURVE_SUMMARY_MESSAGES = {
    "last 10 steps": "last 10 steps",
    "first 10% of steps": "first 10%",
    "window boundaries flipped": "boundaries are the wrong way round",
    "quarters by evaluation index": r"\*list\* of evaluations",
    "late_target = last evaluation": "last evaluation alone",
    "mid over first half": "includes the first quarter",
    "domain_acc from evals (crash)": r"KeyError(.|\n)*history.steps \(domain_acc",
    "wrong key names": "keys",
    "max instead of mean": "best evaluation of the last quarter",
    "total = number of evaluations": "number of evaluations as the number of steps",
}
# acc[-int(0.1 * n):] is the last 10% of the steps whenever a run has 10 steps or more (every
# run of the lesson): the same answer, accepted
ACCEPTED_CURVE_SUMMARY = {"[-int(0.1 n):] slice"}


def _cases(wrong, messages):
    return [pytest.param(fn, messages[label], id=label) for label, fn in wrong if label in messages]


def test_every_independent_wrong_answer_is_in_a_table():
    assert {label for label, _ in wrong05.WRONG_PAIRED_GAIN} == set(PAIRED_GAIN_MESSAGES)
    assert {label for label, _ in wrong05.WRONG_CURVE_SUMMARY} == set(
        CURVE_SUMMARY_MESSAGES
    ) | ACCEPTED_CURVE_SUMMARY


@pytest.mark.parametrize("fn, message", _cases(wrong05.WRONG_PAIRED_GAIN, PAIRED_GAIN_MESSAGES))
def test_paired_gain_names_each_independent_wrong_answer(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_paired_gain(fn)


@pytest.mark.parametrize("fn, message", _cases(wrong05.WRONG_CURVE_SUMMARY, CURVE_SUMMARY_MESSAGES))
def test_curve_summary_names_each_independent_wrong_answer(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_curve_summary(fn)


@pytest.mark.parametrize(
    "check, fn",
    [(check_paired_gain, fn) for _, fn in wrong05.RIGHT_PAIRED_GAIN]
    + [(check_curve_summary, fn) for _, fn in wrong05.RIGHT_CURVE_SUMMARY]
    + [
        (check_curve_summary, fn)
        for label, fn in wrong05.WRONG_CURVE_SUMMARY
        if label in ACCEPTED_CURVE_SUMMARY
    ],
)
def test_independent_right_answers_pass(check, fn):
    assert check(fn).ok
