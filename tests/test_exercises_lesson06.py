"""Lesson 06's checkers against answers a student might write: each wrong answer, written
independently of the checker, must get the message that names its mistake."""

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau, pearsonr, spearmanr
from wrong_answers import lesson06 as wrong06

from dannlib.data.base import Domain
from dannlib.evaluation import evaluate
from dannlib.exercises import CheckFailed
from dannlib.exercises.lesson06 import check_reverse_validation, check_selection
from dannlib.recipes import get_recipe
from dannlib.train import fit

MOONS = get_recipe("moons")


# Reverse validation, as the lesson asks for it, then wrong in one way each.


def rv_right(model, target, source_train, source_val, config):
    with torch.no_grad():
        labels = model.class_logits(target.x).argmax(1)
    pseudo = Domain(target.x, labels, target.info)
    hidden = Domain(source_train.x, torch.zeros(len(source_train), dtype=torch.long))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, hidden, config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_true_labels(model, target, source_train, source_val, config):
    hidden = Domain(source_train.x, torch.zeros(len(source_train), dtype=torch.long))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, target, hidden, config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_source_only(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).argmax(1).detach())
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, config, mode="source_only", progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_recipe_settings(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).argmax(1).detach())
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, MOONS.config, steps=config.steps, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_no_config(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).argmax(1).detach())
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_unseeded(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).argmax(1).detach())
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_seeded_after_building(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).argmax(1).detach())
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    reverse = MOONS.build_model()
    torch.manual_seed(config.seed)
    fit(reverse, pseudo, unlabelled, config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_seed_zero(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).argmax(1).detach())
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    torch.manual_seed(0)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_logits_as_labels(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).detach())
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_probabilities_as_labels(model, target, source_train, source_val, config):
    p = torch.softmax(model.class_logits(target.x), 1)[:, 1].detach()
    pseudo = Domain(target.x, p)
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_model_call(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model(target.x).argmax(1))
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_scored_on_train(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).argmax(1).detach())
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, config, progress=False)
    return evaluate(reverse, source_train)["acc"]


def rv_scored_on_target(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).argmax(1).detach())
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, config, progress=False)
    return evaluate(reverse, target)["acc"]


def rv_swapped(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).argmax(1).detach())
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, source_train, pseudo, config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_candidate_accuracy(model, target, source_train, source_val, config):
    return evaluate(model, source_val)["acc"]


def rv_trains_the_candidate(model, target, source_train, source_val, config):
    pseudo = Domain(target.x, model.class_logits(target.x).argmax(1).detach())
    unlabelled = Domain(source_train.x, torch.zeros_like(source_train.y))
    fit(model, pseudo, unlabelled, config, progress=False)
    return evaluate(model, source_val)["acc"]


def rv_returns_the_dict(model, target, source_train, source_val, config):
    return evaluate(model, source_val)


def test_reverse_validation_accepts_a_correct_implementation():
    verdict = check_reverse_validation(rv_right)
    assert verdict.ok and verdict.startswith("OK: your score is the one dannlib.metrics.reverse")


def test_reverse_validation_accepts_it_whatever_the_random_state_before():
    torch.manual_seed(99)
    assert check_reverse_validation(rv_right).ok


def test_reverse_validation_says_not_done_yet_for_the_stub():
    def stub(model, target, source_train, source_val, config):
        raise NotImplementedError("Student exercise: self-label, train the reverse model")

    verdict = check_reverse_validation(stub)
    assert not verdict.ok and verdict.startswith("not done yet: write `my_reverse_validation`")


@pytest.mark.parametrize(
    "wrong, message",
    [
        (rv_true_labels, "trained on the target's TRUE labels"),
        (rv_source_only, r"without adaptation \(mode='source_only'\)"),
        (rv_recipe_settings, "the recipe's settings"),
        (rv_no_config, "`fit` got no settings"),
        (rv_unseeded, "initial weights are not seeded"),
        (rv_seeded_after_building, "initial weights are not seeded"),
        (rv_seed_zero, "seeded with 0, not with the candidate's seed"),
        (rv_logits_as_labels, "self-labels must be class indices"),
        (rv_probabilities_as_labels, "self-labels must be class indices"),
        (rv_model_call, r"model\(x\) returns two outputs"),
        (rv_scored_on_train, "scored on the source data it was adapted to"),
        (rv_scored_on_target, "scored on the target with its true labels"),
        (rv_swapped, "the domains are swapped"),
        (rv_candidate_accuracy, "the candidate's own accuracy"),
        (rv_trains_the_candidate, "changed the candidate model"),
        (rv_returns_the_dict, r"a number in \[0, 1\]"),
    ],
    ids=lambda v: v.__name__ if callable(v) else None,
)
def test_reverse_validation_names_the_mistake(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_reverse_validation(wrong)


def test_reverse_validation_turns_other_errors_into_what_to_do():
    def typo(model, target, source_train, source_val, config):
        return evaluate(model, source_vall)["acc"]  # noqa: F821

    with pytest.raises(CheckFailed, match="(?s)your function raised NameError.*Steps: self-label"):
        check_reverse_validation(typo)


# Choosing by a score: the pick, Spearman's rho and the cost, then wrong in one way each.


def select_right(scores, acc):
    pick = int(np.argmax(scores))
    return pick, float(spearmanr(scores, acc).statistic), float(acc.max() - acc[pick])


def select_oracle(scores, acc):
    pick = int(np.argmax(acc))
    return pick, float(spearmanr(scores, acc).statistic), 0.0


def select_lowest(scores, acc):
    pick = int(np.argmin(scores))
    return pick, float(spearmanr(scores, acc).statistic), float(acc.max() - acc[pick])


def select_pearson(scores, acc):
    pick = int(np.argmax(scores))
    return pick, float(pearsonr(scores, acc)[0]), float(acc.max() - acc[pick])


def select_kendall(scores, acc):
    pick = int(np.argmax(scores))
    return pick, float(kendalltau(scores, acc)[0]), float(acc.max() - acc[pick])


def select_cost_sign(scores, acc):
    pick = int(np.argmax(scores))
    return pick, float(spearmanr(scores, acc).statistic), float(acc[pick] - acc.max())


def select_cost_vs_mean(scores, acc):
    pick = int(np.argmax(scores))
    return pick, float(spearmanr(scores, acc).statistic), float(acc.mean() - acc[pick])


def select_pick_only(scores, acc):
    return int(np.argmax(scores))


def test_selection_accepts_a_correct_implementation():
    assert check_selection(select_right).ok


@pytest.mark.parametrize(
    "wrong, message",
    [
        (select_oracle, "that is the oracle"),
        (select_lowest, "LOWEST"),
        (select_pearson, "Pearson"),
        (select_kendall, "Kendall"),
        (select_cost_sign, "wrong sign"),
        (select_cost_vs_mean, "not the average"),
        (select_pick_only, "tuple"),
    ],
    ids=lambda v: v.__name__ if callable(v) else None,
)
def test_selection_names_the_mistake(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_selection(wrong)


# Wrong answers written independently of the checkers (tests/wrong_answers), each with the
# mistake its message must name.
REVERSE_VALIDATION_MESSAGES = {
    "reverse model source_only": r"without adaptation \(mode='source_only'\)",
    "labelled/unlabelled swapped": "the domains are swapped",
    "true target labels": "target's TRUE labels",
    "scored on source_train": "scored on the source data it was adapted to",
    "scores the candidate": "the candidate's own accuracy",
    "not seeded": "initial weights are not seeded",
    "seeded after build": "initial weights are not seeded",
    "default TrainConfig": r"reverse_validation gives .*with `config` unchanged",
    "continues the candidate": "changed the candidate model",
    "argmax(0) (crash)": r"(?s)ValueError.*argmax over the classes, dimension 1",
    "soft labels (crash)": "self-labels must be class indices",
    "returns the dict": r"a number in \[0, 1\]",
    "a tenth of the steps": r"reverse_validation gives .*with `config` unchanged",
}
SELECTION_MESSAGES = {
    "argmin": "LOWEST",
    "Pearson": "Pearson",
    "cost sign": "wrong sign",
    "cost = range": "range of the target accuracies",
    "p-value as rho": "p-value",
    "rho = result object": r"rho must be a number.*\.statistic",
    "oracle pick": "that is the oracle",
    "Kendall's tau": "Kendall",
    "list .index (crash)": r"(?s)AttributeError at `pick = scores.index.*np.argmax",
    "returns a dict": "return a tuple",
    "cost in percent": "percentage points",
    "ranks without tie averaging": "average of their ranks",
}


@pytest.mark.parametrize("label, answer", wrong06.WRONG_REVERSE_VALIDATION)
def test_reverse_validation_wrong_answers_are_named(label, answer):
    with pytest.raises(CheckFailed, match=REVERSE_VALIDATION_MESSAGES[label]):
        check_reverse_validation(answer)


@pytest.mark.parametrize("label, answer", wrong06.WRONG_SELECTION)
def test_selection_wrong_answers_are_named(label, answer):
    with pytest.raises(CheckFailed, match=SELECTION_MESSAGES[label]):
        check_selection(answer)


@pytest.mark.parametrize(
    "label, answer",
    wrong06.RIGHT_REVERSE_VALIDATION + wrong06.RIGHT_SELECTION,
    ids=lambda x: str(x),
)
def test_right_answers_written_differently_pass(label, answer):
    check = check_reverse_validation if answer.__code__.co_argcount == 5 else check_selection
    assert check(answer).ok, label
