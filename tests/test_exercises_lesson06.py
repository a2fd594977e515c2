"""Lesson 06's checkers: reverse validation written by a student, and choosing without labels."""

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau, pearsonr, spearmanr

from dannlib.data.base import Domain
from dannlib.evaluation import evaluate
from dannlib.exercises import CheckFailed
from dannlib.exercises.lesson06 import check_reverse_validation, check_selection
from dannlib.recipes import get_recipe
from dannlib.train import fit

MOONS = get_recipe("moons")


def student_rv(mistake=None):
    """Reverse validation as a student writes it from the lesson's steps, optionally wrong."""

    def rv(model, target, source_train, source_val, config):
        with torch.no_grad():
            predicted = model.class_logits(target.x).argmax(1)
        labels = target.y if mistake == "true labels" else predicted
        pseudo = Domain(target.x, labels, target.info)
        hidden = Domain(source_train.x, torch.zeros(len(source_train), dtype=torch.long))
        if mistake == "recipe lambda":
            config = MOONS.config.replace(steps=config.steps, seed=config.seed)
        if mistake == "candidate accuracy":
            return evaluate(model, source_val)["acc"]
        if mistake == "changes the model":
            fit(model, source_train, target, config.replace(steps=5), progress=False)
        torch.manual_seed(config.seed)
        reverse = MOONS.build_model()
        if mistake == "swapped":
            fit(reverse, source_train, pseudo, config, progress=False)
        else:
            fit(reverse, pseudo, hidden, config, progress=False)
        scored = {"scored on train": source_train, "scored on target": target}
        return evaluate(reverse, scored.get(mistake, source_val))["acc"]

    return rv


def test_reverse_validation_accepts_a_correct_implementation():
    assert check_reverse_validation(student_rv()).startswith("OK")


@pytest.mark.parametrize(
    "mistake, match",
    [
        ("true labels", "TRUE labels"),
        ("recipe lambda", "candidate's own hyper-parameters"),
        ("scored on train", "held-out source_val"),
        ("scored on target", "scored on the target"),
        ("swapped", "domains are swapped"),
        ("candidate accuracy", "candidate's own accuracy"),
        ("changes the model", "changed the candidate"),
    ],
)
def test_reverse_validation_names_the_mistake(mistake, match):
    with pytest.raises(CheckFailed, match=match):
        check_reverse_validation(student_rv(mistake))


def test_reverse_validation_wants_a_number():
    with pytest.raises(CheckFailed, match="number in"):
        check_reverse_validation(lambda *args: "0.9")


def student_selection(mistake=None):
    def select(scores, acc):
        pick = {"oracle": np.argmax(acc), "argmin": np.argmin(scores)}.get(
            mistake, np.argmax(scores)
        )
        rho = {"pearson": pearsonr, "kendall": kendalltau}.get(mistake, spearmanr)(scores, acc)[0]
        cost = {"sign": acc[pick] - acc.max(), "mean": acc.mean() - acc[pick]}.get(
            mistake, acc.max() - acc[pick]
        )
        return int(pick), float(rho), float(cost)

    return select


def test_selection_accepts_a_correct_implementation():
    assert check_selection(student_selection()).startswith("OK")


@pytest.mark.parametrize(
    "mistake, match",
    [
        ("oracle", "that is the oracle"),
        ("argmin", "LOWEST"),
        ("pearson", "Pearson"),
        ("kendall", "Kendall"),
        ("sign", "wrong sign"),
        ("mean", "not the average"),
    ],
)
def test_selection_names_the_mistake(mistake, match):
    with pytest.raises(CheckFailed, match=match):
        check_selection(student_selection(mistake))


def test_selection_wants_three_values():
    with pytest.raises(CheckFailed, match="tuple"):
        check_selection(lambda scores, acc: int(np.argmax(scores)))
