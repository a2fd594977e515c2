"""Lesson 06: my_reverse_validation(model, target, source_train, source_val, config) and
selection_report(scores, target_acc) -> (pick, rho, cost)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import kendalltau, pearsonr, rankdata, spearmanr

from dannlib.data.base import Domain
from dannlib.evaluation import evaluate
from dannlib.metrics import self_label
from dannlib.recipes import get_recipe
from dannlib.train import fit

MOONS = get_recipe("moons")

# --- my_reverse_validation ------------------------------------------------------------------


def _pseudo(model, target):
    with torch.no_grad():
        pred = model.class_logits(target.x).argmax(1)
    return Domain(target.x, pred, {"name": "pseudo"})


def _unlabelled(source_train):
    return Domain(source_train.x, torch.zeros(len(source_train), dtype=torch.long), {})


def _reverse(pseudo, unlabelled, config):
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, unlabelled, config, progress=False)
    return reverse


def rv_source_only(model, target, source_train, source_val, config):
    """Reverse model trained with mode='source_only' instead of the candidate's mode."""
    reverse = _reverse(
        _pseudo(model, target), _unlabelled(source_train), config.replace(mode="source_only")
    )
    return evaluate(reverse, source_val)["acc"]


def rv_domains_swapped(model, target, source_train, source_val, config):
    """fit(reverse, source_train, pseudo): trained on the true source labels."""
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, source_train, _pseudo(model, target), config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_true_target_labels(model, target, source_train, source_val, config):
    """The target's true labels used instead of the candidate's predictions."""
    reverse = _reverse(target, _unlabelled(source_train), config)
    return evaluate(reverse, source_val)["acc"]


def rv_scored_on_source_train(model, target, source_train, source_val, config):
    """Scored on source_train (seen as unlabelled inputs) instead of source_val."""
    reverse = _reverse(_pseudo(model, target), _unlabelled(source_train), config)
    return evaluate(reverse, source_train)["acc"]


def rv_scores_candidate(model, target, source_train, source_val, config):
    """Trains the reverse model, then scores the candidate on source_val."""
    _reverse(_pseudo(model, target), _unlabelled(source_train), config)
    return evaluate(model, source_val)["acc"]


def rv_not_seeded(model, target, source_train, source_val, config):
    """Forgot to seed torch before building the reverse model."""
    reverse = MOONS.build_model()
    fit(reverse, _pseudo(model, target), _unlabelled(source_train), config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_seeded_after_build(model, target, source_train, source_val, config):
    """Seeds torch after building the reverse model (its initial weights are not seeded)."""
    reverse = MOONS.build_model()
    torch.manual_seed(config.seed)
    fit(reverse, _pseudo(model, target), _unlabelled(source_train), config, progress=False)
    return evaluate(reverse, source_val)["acc"]


def rv_default_config(model, target, source_train, source_val, config):
    """fit without the candidate's config (TrainConfig defaults), only its steps."""
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(
        reverse,
        _pseudo(model, target),
        _unlabelled(source_train),
        steps=config.steps or 100,
        progress=False,
    )
    return evaluate(reverse, source_val)["acc"]


def rv_continues_candidate(model, target, source_train, source_val, config):
    """Trains the candidate itself on the reverse task (no fresh model; the candidate changes)."""
    fit(model, _pseudo(model, target), _unlabelled(source_train), config, progress=False)
    return evaluate(model, source_val)["acc"]


def rv_argmax_dim0(model, target, source_train, source_val, config):
    """argmax(0) of the logits: one label per class, Domain raises a length error."""
    with torch.no_grad():
        pred = model.class_logits(target.x).argmax(0)
    reverse = _reverse(Domain(target.x, pred, {}), _unlabelled(source_train), config)
    return evaluate(reverse, source_val)["acc"]


def rv_soft_labels(model, target, source_train, source_val, config):
    """Softmax probabilities as labels: Domain raises (float labels)."""
    with torch.no_grad():
        pred = model.class_logits(target.x).softmax(1)[:, 1]
    reverse = _reverse(Domain(target.x, pred, {}), _unlabelled(source_train), config)
    return evaluate(reverse, source_val)["acc"]


def rv_returns_dict(model, target, source_train, source_val, config):
    """Returns evaluate's dict, not the accuracy."""
    reverse = _reverse(_pseudo(model, target), _unlabelled(source_train), config)
    return evaluate(reverse, source_val)


def rv_fewer_steps(model, target, source_train, source_val, config):
    """A tenth of the candidate's steps 'to save time'."""
    steps = max(1, (config.steps or 100) // 10)
    reverse = _reverse(
        _pseudo(model, target), _unlabelled(source_train), config.replace(steps=steps, epochs=None)
    )
    return evaluate(reverse, source_val)["acc"]


WRONG_REVERSE_VALIDATION = [
    ("reverse model source_only", rv_source_only),
    ("labelled/unlabelled swapped", rv_domains_swapped),
    ("true target labels", rv_true_target_labels),
    ("scored on source_train", rv_scored_on_source_train),
    ("scores the candidate", rv_scores_candidate),
    ("not seeded", rv_not_seeded),
    ("seeded after build", rv_seeded_after_build),
    ("default TrainConfig", rv_default_config),
    ("continues the candidate", rv_continues_candidate),
    ("argmax(0) (crash)", rv_argmax_dim0),
    ("soft labels (crash)", rv_soft_labels),
    ("returns the dict", rv_returns_dict),
    ("a tenth of the steps", rv_fewer_steps),
]


def rv_right_self_label(model, target, source_train, source_val, config):
    """Right: dannlib.metrics.self_label, source_train passed as the unlabelled domain as is."""
    pseudo = self_label(model, target)
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, source_train, config, progress=False)
    return float(evaluate(reverse, source_val)["acc"])


def rv_right_by_hand(model, target, source_train, source_val, config):
    """Right: labels by hand under inference_mode, accuracy computed by hand."""
    with torch.inference_mode():
        labels = model(target.x)[0].argmax(dim=1)
    pseudo = Domain(target.x.clone(), labels.clone(), dict(target.info))
    hidden = Domain(source_train.x, torch.zeros_like(source_train.y), dict(source_train.info))
    torch.manual_seed(config.seed)
    reverse = MOONS.build_model()
    fit(reverse, pseudo, hidden, config, progress=False)
    reverse.eval()
    with torch.inference_mode():
        pred = reverse.class_logits(source_val.x).argmax(1)
    return (pred == source_val.y).float().mean().item()


RIGHT_REVERSE_VALIDATION = [
    ("self_label, source_train as is", rv_right_self_label),
    ("by hand", rv_right_by_hand),
]


# --- selection_report -----------------------------------------------------------------------


def _cost(target_acc, pick):
    return float(np.max(target_acc) - target_acc[pick])


def sel_argmin(scores, target_acc):
    """argmin of the scores (treated as a loss)."""
    pick = int(np.argmin(scores))
    return pick, float(spearmanr(scores, target_acc)[0]), _cost(target_acc, pick)


def sel_pearson(scores, target_acc):
    """Pearson's r instead of Spearman's rank correlation."""
    pick = int(np.argmax(scores))
    return pick, float(pearsonr(scores, target_acc)[0]), _cost(target_acc, pick)


def sel_cost_sign(scores, target_acc):
    """cost = pick's accuracy - best (negative)."""
    pick = int(np.argmax(scores))
    return pick, float(spearmanr(scores, target_acc)[0]), float(target_acc[pick] - target_acc.max())


def sel_cost_range(scores, target_acc):
    """cost = best - worst target accuracy (the range, not the pick's loss)."""
    pick = int(np.argmax(scores))
    return pick, float(spearmanr(scores, target_acc)[0]), float(target_acc.max() - target_acc.min())


def sel_p_value(scores, target_acc):
    """spearmanr(...)[1]: the p-value returned as rho."""
    pick = int(np.argmax(scores))
    return pick, float(spearmanr(scores, target_acc)[1]), _cost(target_acc, pick)


def sel_result_object(scores, target_acc):
    """rho = spearmanr(...): the whole result object, not the number."""
    pick = int(np.argmax(scores))
    return pick, spearmanr(scores, target_acc), _cost(target_acc, pick)


def sel_oracle_pick(scores, target_acc):
    """Picks by target accuracy (the oracle), so the cost is always 0."""
    pick = int(np.argmax(target_acc))
    return pick, float(spearmanr(scores, target_acc)[0]), _cost(target_acc, pick)


def sel_kendall(scores, target_acc):
    """Kendall's tau instead of Spearman's rho."""
    pick = int(np.argmax(scores))
    return pick, float(kendalltau(scores, target_acc)[0]), _cost(target_acc, pick)


def sel_list_index(scores, target_acc):
    """scores.index(max(scores)): a list method on a NumPy array, AttributeError."""
    pick = scores.index(max(scores))
    return pick, float(spearmanr(scores, target_acc)[0]), _cost(target_acc, pick)


def sel_dict(scores, target_acc):
    """Returns a dict instead of the (pick, rho, cost) tuple."""
    pick = int(np.argmax(scores))
    return {
        "pick": pick,
        "rho": float(spearmanr(scores, target_acc)[0]),
        "cost": _cost(target_acc, pick),
    }


def sel_percent(scores, target_acc):
    """cost in percentage points (times 100)."""
    pick = int(np.argmax(scores))
    return pick, float(spearmanr(scores, target_acc)[0]), 100 * _cost(target_acc, pick)


def sel_ranks_without_ties(scores, target_acc):
    """Ranks by argsort().argsort() (ties not averaged), then Pearson of the ranks."""
    pick = int(np.argmax(scores))
    rs = np.argsort(np.argsort(scores))
    ra = np.argsort(np.argsort(target_acc))
    return pick, float(np.corrcoef(rs, ra)[0, 1]), _cost(target_acc, pick)


WRONG_SELECTION = [
    ("argmin", sel_argmin),
    ("Pearson", sel_pearson),
    ("cost sign", sel_cost_sign),
    ("cost = range", sel_cost_range),
    ("p-value as rho", sel_p_value),
    ("rho = result object", sel_result_object),
    ("oracle pick", sel_oracle_pick),
    ("Kendall's tau", sel_kendall),
    ("list .index (crash)", sel_list_index),
    ("returns a dict", sel_dict),
    ("cost in percent", sel_percent),
    ("ranks without tie averaging", sel_ranks_without_ties),
]


def sel_right_rankdata(scores, target_acc):
    """Right: Pearson correlation of rankdata ranks (Spearman by definition)."""
    scores, target_acc = np.asarray(scores, float), np.asarray(target_acc, float)
    pick = int(np.flatnonzero(scores == scores.max())[0])
    rho = float(np.corrcoef(rankdata(scores), rankdata(target_acc))[0, 1])
    return pick, rho, float(target_acc.max() - target_acc[pick])


def sel_right_statistic(scores, target_acc):
    """Right: spearmanr(...).statistic, pick as a NumPy integer, cost via sorted copy."""
    pick = np.argmax(scores)
    rho = spearmanr(scores, target_acc).statistic
    return pick, rho, sorted(target_acc)[-1] - target_acc[pick]


RIGHT_SELECTION = [
    ("rankdata + corrcoef", sel_right_rankdata),
    ("spearmanr().statistic", sel_right_statistic),
]
