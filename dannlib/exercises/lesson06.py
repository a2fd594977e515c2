"""Lesson 06's exercises: reverse validation, choosing a candidate without target labels."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import kendalltau, pearsonr, spearmanr

from dannlib.data.base import Domain
from dannlib.data.toy import moons
from dannlib.evaluation import evaluate
from dannlib.exercises import CheckFailed, checker, close
from dannlib.metrics import reverse_validation, self_label
from dannlib.recipes import get_recipe
from dannlib.train import fit


def _reverse_validation_task():
    """A small rotated-moons task, a config and a candidate DANN trained with it (lesson 06)."""
    recipe = get_recipe("moons")
    # 1999 (prime) validation points: scores of different mistakes rarely coincide
    source_train, source_val = moons(120, 0.0, seed=21), moons(1999, 0.0, seed=22)
    target = moons(120, 35.0, seed=23)
    # the candidate's settings differ from the recipe's, as a grid's candidates do
    config = recipe.config.replace(steps=150, lambda_max=0.5, lr=0.05, batch_size=16, seed=3)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        candidate = recipe.build_model()
        fit(candidate, source_train, target, config, progress=False)
    return recipe, candidate, target, source_train, source_val, config


def _reverse_score(recipe, config, labelled, unlabelled, scored) -> float:
    """Train a fresh reverse model as reverse_validation does and return its accuracy."""
    hidden = Domain(unlabelled.x, torch.zeros(len(unlabelled), dtype=torch.long), unlabelled.info)
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        reverse = recipe.build_model()
        fit(reverse, labelled, hidden, config, progress=False)
    return evaluate(reverse, scored)["acc"]


@checker(
    "my_reverse_validation",
    "self-label the target, train a reverse model with the candidate's settings, score it "
    "on held-out source",
)
def check_reverse_validation(fn: Callable) -> str:
    """Compare `fn(model, target, source_train, source_val, config)` with
    dannlib.metrics.reverse_validation on a small moons task; name the usual mistakes."""
    recipe, candidate, target, source_train, source_val, config = _reverse_validation_task()
    state = {k: v.clone() for k, v in candidate.state_dict().items()}
    with torch.random.fork_rng():
        got = fn(candidate, target, source_train, source_val, config)
    if any(not torch.equal(v, candidate.state_dict()[k]) for k, v in state.items()):
        raise CheckFailed(
            "your function changed the candidate model: only predict with it (self-label the "
            "target), then train a fresh reverse model"
        )
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, (float, int, np.floating)) or not 0.0 <= float(got) <= 1.0:
        raise CheckFailed(f"return the reverse model's accuracy, a number in [0, 1]; got {got!r}")
    with torch.random.fork_rng():
        want = reverse_validation(
            candidate,
            target,
            source_train,
            source_val,
            build=recipe.build_model,
            **config.to_dict(),
        ).accuracy
    if close(got, want):
        return (
            f"OK: reverse-validation score {float(got):.3f}, as dannlib.metrics.reverse_validation "
            "computes it (self-labels, the candidate's settings, held-out source)"
        )
    pseudo = self_label(candidate, target)
    recipe_config = recipe.config.replace(steps=config.steps, seed=config.seed)
    mistakes = {
        "the reverse model was trained on the target's TRUE labels, which unsupervised "
        "adaptation does not have: label the target with the candidate's predictions "
        "(self-labelling)": lambda: _reverse_score(
            recipe, config, target, source_train, source_val
        ),
        "the reverse model was trained with the recipe's settings (lambda_max "
        f"{recipe.config.lambda_max:g}, lr {recipe.config.lr:g}), not the candidate's (lambda_max "
        f"{config.lambda_max:g}, lr {config.lr:g}): the paper trains it with the candidate's "
        "own hyper-parameters (pass `config` to fit)": lambda: _reverse_score(
            recipe, recipe_config, pseudo, source_train, source_val
        ),
        "the reverse model was scored on the source data it was adapted to (source_train): "
        "score it on the held-out source_val": lambda: _reverse_score(
            recipe, config, pseudo, source_train, source_train
        ),
        "the reverse model was scored on the target with its true labels: it must be scored "
        "on the held-out labelled source (source_val)": lambda: _reverse_score(
            recipe, config, pseudo, source_train, target
        ),
        "the domains are swapped: the reverse model learns from the self-labelled TARGET "
        "(its labelled domain) and adapts to the source inputs (unlabelled)": lambda: (
            _reverse_score(recipe, config, source_train, pseudo, source_val)
        ),
        "this is the candidate's own accuracy on source_val; train a reverse model on the "
        "self-labelled target and score that one": lambda: evaluate(candidate, source_val)["acc"],
    }
    for message, score in mistakes.items():
        if close(got, score()):
            raise CheckFailed(message)
    raise CheckFailed(
        f"your score is {float(got):.3f}, reverse_validation gives {want:.3f}. Steps: "
        "self-label the target with the candidate, seed torch with config.seed, build a fresh "
        "model, fit it on (self-labelled target, source_train inputs) with `config`, and "
        "return its accuracy on source_val"
    )


@checker("selection_report", "the pick by the score, Spearman's rho, the cost against the oracle")
def check_selection(fn: Callable) -> str:
    """Check `fn(scores, target_acc) -> (pick, rho, cost)`: the candidate a label-free score
    picks, the Spearman correlation of score and target accuracy, and the pick's cost
    (best target accuracy minus the pick's)."""
    cases = [
        (np.array([0.95, 0.80, 0.90, 0.70, 0.85]), np.array([0.70, 0.95, 0.72, 0.90, 0.93])),
        (np.array([0.60, 0.90, 0.80, 0.91]), np.array([0.50, 0.80, 0.97, 0.81])),
    ]
    for scores, acc in cases:
        out = fn(scores.copy(), acc.copy())
        if not isinstance(out, tuple) or len(out) != 3:
            raise CheckFailed(f"return a tuple (pick, rho, cost), got {out!r}")
        pick, rho, cost = out
        want_pick = int(np.argmax(scores))
        want_rho = float(spearmanr(scores, acc).statistic)
        want_cost = float(acc.max() - acc[want_pick])
        if int(pick) != want_pick:
            if int(pick) == int(np.argmax(acc)):
                raise CheckFailed(
                    "you picked the candidate with the best TARGET accuracy: that is the oracle, "
                    "which needs the labels we do not have. Pick by the label-free score"
                )
            if int(pick) == int(np.argmin(scores)):
                raise CheckFailed("you picked the LOWEST score: a higher score is better")
            raise CheckFailed(f"pick should be {want_pick}, the index of the highest score")
        if not close(rho, want_rho, 1e-4):
            if close(rho, pearsonr(scores, acc).statistic, 1e-4):
                raise CheckFailed(
                    "that is Pearson's (linear) correlation; a RANK correlation asks whether the "
                    "score orders the candidates as target accuracy does: scipy.stats.spearmanr"
                )
            if close(rho, kendalltau(scores, acc).statistic, 1e-4):
                raise CheckFailed("that is Kendall's tau; use Spearman's rho (spearmanr)")
            raise CheckFailed(f"rho should be {want_rho:.3f} (scipy.stats.spearmanr)")
        if not close(cost, want_cost, 1e-6):
            if close(cost, -want_cost, 1e-6):
                raise CheckFailed("the cost has the wrong sign: max(target_acc) - target_acc[pick]")
            if close(cost, acc[want_pick] - acc.mean(), 1e-6) or close(
                cost, acc.mean() - acc[want_pick], 1e-6
            ):
                raise CheckFailed(
                    "compare the pick with the BEST candidate (the oracle), not the average"
                )
            raise CheckFailed(f"cost should be {want_cost:.3f}: max(target_acc) - target_acc[pick]")
    return "OK: picks by the score, Spearman's rho, and the cost against the oracle"
