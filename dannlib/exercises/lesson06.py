"""Lesson 06's exercises: reverse validation, choosing a candidate without target labels."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import torch
from scipy.stats import kendalltau, pearsonr, spearmanr

from dannlib.data.base import Domain
from dannlib.data.toy import moons
from dannlib.evaluation import evaluate
from dannlib.exercises import CheckFailed, call, checker, close
from dannlib.metrics import reverse_validation, self_label
from dannlib.recipes import get_recipe
from dannlib.train import fit

# What to do, step by step: the end of every message that cannot name one mistake.
STEPS = (
    "Steps: self-label the target with the candidate (model.class_logits(target.x).argmax(1)), "
    "seed torch with config.seed, build a fresh model, fit it on (self-labelled target, "
    "source_train inputs) with `config` unchanged, and return its accuracy on source_val"
)


@functools.cache
def _task() -> SimpleNamespace:
    """A small rotated-moons task, a candidate's settings, the candidate's trained weights
    and the score reverse_validation gives it (trained once per session)."""
    t = SimpleNamespace(recipe=get_recipe("moons"))
    # 9973 (prime) validation points, many near the boundary: scores of different mistakes
    # rarely coincide
    t.source_train, t.source_val = moons(120, 0.0, seed=21), moons(9973, 0.0, noise=0.2, seed=22)
    t.target = moons(120, 35.0, seed=23)
    # The candidate's settings differ from the recipe's (optimiser, lr, lambda_max), as a grid's
    # candidates do, and its lambda_max is large enough that a reverse model trained with DANN
    # scores apart from one trained without adaptation within 200 steps.
    t.config = t.recipe.config.replace(
        steps=200, lambda_max=4.0, optimizer="adam", lr=0.02, batch_size=32, seed=3
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        candidate = t.recipe.build_model()
        fit(candidate, t.source_train, t.target, t.config, progress=False)
        t.weights = {k: v.clone() for k, v in candidate.state_dict().items()}
        t.want = reverse_validation(
            candidate,
            t.target,
            t.source_train,
            t.source_val,
            build=t.recipe.build_model,
            **t.config.to_dict(),
        ).accuracy
    return t


def _candidate(t: SimpleNamespace):
    """A fresh copy of the task's trained candidate (a student's function may change it)."""
    with torch.random.fork_rng():
        model = t.recipe.build_model()
    model.load_state_dict(t.weights)
    return model


def _reverse_score(t, config, labelled, unlabelled, scored, init_seed=None) -> float:
    """Train a fresh reverse model as reverse_validation does and return its accuracy; its
    initial weights come from torch seeded with `init_seed` (default: config.seed)."""
    hidden = Domain(unlabelled.x, torch.zeros(len(unlabelled), dtype=torch.long), unlabelled.info)
    with torch.random.fork_rng():
        torch.manual_seed(config.seed if init_seed is None else init_seed)
        reverse = t.recipe.build_model()
        fit(reverse, labelled, hidden, config, progress=False)
    return evaluate(reverse, scored)["acc"]


@functools.cache
def _mistakes() -> list[tuple[str, float]]:
    """Each likely mistake on the task: (what to change, its score)."""
    t = _task()
    c, r = t.config, t.recipe.config
    candidate, pseudo = _candidate(t), self_label(_candidate(t), t.target)
    settings = (
        f"with the recipe's settings (lambda_max {r.lambda_max:g}, {r.optimizer} at lr {r.lr:g}), "
        f"not the candidate's (lambda_max {c.lambda_max:g}, {c.optimizer} at lr {c.lr:g}): the "
        "paper trains it with the candidate's own hyper-parameters (pass `config` to fit)"
    )
    mistakes = [
        (
            "the reverse model was trained on the target's TRUE labels, which unsupervised "
            "adaptation does not have: label the target with the candidate's predictions "
            "(self-labelling)",
            lambda: _reverse_score(t, c, t.target, t.source_train, t.source_val),
        ),
        (
            "the reverse model was trained without adaptation (mode='source_only'): reverse "
            "validation trains it with the candidate's own algorithm, here DANN, so pass "
            "`config` to fit unchanged",
            lambda: _reverse_score(
                t, c.replace(mode="source_only"), pseudo, t.source_train, t.source_val
            ),
        ),
        (
            f"torch was seeded with 0, not with the candidate's seed (config.seed = {c.seed}): "
            "call torch.manual_seed(config.seed) right before building the reverse model",
            lambda: _reverse_score(t, c, pseudo, t.source_train, t.source_val, init_seed=0),
        ),
        (
            "the reverse model was scored on the source data it was adapted to (source_train): "
            "score it on the held-out source_val",
            lambda: _reverse_score(t, c, pseudo, t.source_train, t.source_train),
        ),
        (
            "the reverse model was scored on the target with its true labels: it must be "
            "scored on the held-out labelled source (source_val)",
            lambda: _reverse_score(t, c, pseudo, t.source_train, t.target),
        ),
        (
            "the domains are swapped: the reverse model learns from the self-labelled TARGET "
            "(its labelled domain) and adapts to the source inputs (unlabelled)",
            lambda: _reverse_score(t, c, t.source_train, pseudo, t.source_val),
        ),
        (
            "this is the candidate's own accuracy on source_val; train a reverse model on the "
            "self-labelled target and score that one",
            lambda: evaluate(candidate, t.source_val)["acc"],
        ),
    ]
    # the recipe's settings, as a student might take them: with the candidate's steps and
    # seed, with its steps only, or whole
    for changes in (dict(steps=c.steps, seed=c.seed), dict(steps=c.steps), {}):
        config = r.replace(**changes)
        mistakes.append(
            (
                "the reverse model was trained " + settings,
                lambda config=config: _reverse_score(
                    t, config, pseudo, t.source_train, t.source_val, init_seed=c.seed
                ),
            )
        )
    return [(message, score()) for message, score in mistakes]


# Errors inside the student's function, by the text of "Type: message", and what to change.
HINTS = (
    (
        "give exactly one of steps",
        "`fit` got no settings (it says: give exactly one of steps=... or epochs=...): pass "
        "the candidate's `config` as its fourth argument, fit(reverse, self_labelled_target, "
        "source_inputs, config, progress=False): the reverse model trains with the "
        "candidate's own hyper-parameters",
    ),
    (
        "labels must be integers",
        "the self-labels must be class indices (integers), not logits or probabilities: "
        "model.class_logits(target.x).argmax(1)",
    ),
    (
        "1-D labels",
        "the self-labels must be class indices (integers), not logits or probabilities: "
        "model.class_logits(target.x).argmax(1)",
    ),
    (
        "rows but y has",
        "one self-label per target input: take the argmax over the classes, dimension 1 "
        "(model.class_logits(target.x).argmax(1)), not over the inputs",
    ),
    (
        "AttributeError: 'tuple'",
        "model(x) returns two outputs (class logits, domain logit): label the target with "
        "model.class_logits(target.x).argmax(1)",
    ),
)


def _call(fn: Callable, args: tuple, rng_seed: int):
    """fn(*args) with torch's global generator at `rng_seed` (restored afterwards); an error
    inside it becomes a CheckFailed that says what to change (the stub's NotImplementedError
    passes)."""
    with torch.random.fork_rng():
        torch.manual_seed(rng_seed)
        return call(fn, *args, hints=HINTS, usage=STEPS)


@checker(
    "my_reverse_validation",
    "self-label the target, train a reverse model with the candidate's settings, score it "
    "on held-out source",
)
def check_reverse_validation(fn: Callable) -> str:
    """Compare `fn(model, target, source_train, source_val, config)` with
    dannlib.metrics.reverse_validation on a small moons task; name the usual mistakes."""
    t = _task()
    candidate = _candidate(t)
    args = (candidate, t.target, t.source_train, t.source_val, t.config)
    got = _call(fn, args, rng_seed=1234)
    if any(not torch.equal(v, candidate.state_dict()[k]) for k, v in t.weights.items()):
        raise CheckFailed(
            "your function changed the candidate model: only predict with it (self-label the "
            "target), then train a fresh reverse model"
        )
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, (float, int, np.floating)) or not 0.0 <= float(got) <= 1.0:
        raise CheckFailed(f"return the reverse model's accuracy, a number in [0, 1]; got {got!r}")
    if close(got, t.want):
        return (
            "OK: your score is the one dannlib.metrics.reverse_validation computes (self-labels, "
            "the candidate's algorithm and settings, held-out source)"
        )
    if not close(got, _call(fn, args, rng_seed=4321)):
        raise CheckFailed(
            "your score changes with torch's random state before the call: the reverse model's "
            "initial weights are not seeded. Call torch.manual_seed(config.seed) right before "
            "building the reverse model"
        )
    for message, score in _mistakes():
        if close(got, score):
            raise CheckFailed(message)
    raise CheckFailed(
        f"your score is {float(got):.3f}, reverse_validation gives {t.want:.3f}. {STEPS}"
    )


SELECTION_HINTS = (
    (
        "has no attribute 'index'",
        "scores is a NumPy array, which has no .index: the pick is int(np.argmax(scores))",
    ),
)
SELECTION_USAGE = (
    "selection_report(scores, target_acc) gets two NumPy arrays (one entry per candidate) and "
    "returns (int(np.argmax(scores)), spearmanr(scores, target_acc).statistic, "
    "target_acc.max() - target_acc[pick])"
)


def _tie_free_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties broken by position (argsort of argsort), as a student may write."""
    return np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(float)


def _check_rho(rho, scores: np.ndarray, acc: np.ndarray) -> None:
    """Raise a CheckFailed naming the mistake if `rho` is not Spearman's rho of scores, acc."""
    result = spearmanr(scores, acc)
    want = float(result.statistic)
    if not isinstance(rho, (int, float, np.floating, np.integer)):
        if isinstance(rho, torch.Tensor) and rho.numel() == 1:
            rho = rho.item()
        else:
            raise CheckFailed(
                f"rho must be a number, got {type(rho).__name__}: spearmanr(...) returns a "
                "result with two numbers, the correlation (.statistic) and the p-value "
                "(.pvalue); take spearmanr(scores, target_acc).statistic"
            )
    if close(rho, want, 1e-4):
        return
    if close(rho, result.pvalue, 1e-4):
        raise CheckFailed(
            "that is the p-value (spearmanr(...)[1], .pvalue); rho is the first number: "
            "spearmanr(scores, target_acc).statistic"
        )
    if close(rho, pearsonr(scores, acc).statistic, 1e-4):
        raise CheckFailed(
            "that is Pearson's (linear) correlation; a RANK correlation asks whether the "
            "score orders the candidates as target accuracy does: scipy.stats.spearmanr"
        )
    if close(rho, kendalltau(scores, acc).statistic, 1e-4):
        raise CheckFailed("that is Kendall's tau; use Spearman's rho (spearmanr)")
    ranks = np.corrcoef(_tie_free_ranks(scores), _tie_free_ranks(acc))[0, 1]
    if close(rho, ranks, 1e-4):
        raise CheckFailed(
            "your ranks break ties by position (argsort of argsort): Spearman's rho gives tied "
            "values the average of their ranks (scipy.stats.rankdata, or simply "
            f"scipy.stats.spearmanr). For scores {scores} it is {want:.3f}, you gave "
            f"{float(rho):.3f}"
        )
    raise CheckFailed(
        f"for scores {scores} and target accuracies {acc}, rho should be {want:.3f} "
        f"(scipy.stats.spearmanr), you gave {float(rho):.3f}"
    )


@checker("selection_report", "the pick by the score, Spearman's rho, the cost against the oracle")
def check_selection(fn: Callable) -> str:
    """Check `fn(scores, target_acc) -> (pick, rho, cost)`: the candidate a label-free score
    picks, the Spearman correlation of score and target accuracy, and the pick's cost
    (best target accuracy minus the pick's). The last case has ties (rho's average ranks)."""
    cases = [
        (np.array([0.95, 0.80, 0.90, 0.70, 0.85]), np.array([0.70, 0.95, 0.72, 0.90, 0.93])),
        (np.array([0.60, 0.90, 0.80, 0.91]), np.array([0.50, 0.80, 0.97, 0.81])),
        (
            np.array([0.90, 0.80, 0.80, 0.95, 0.70, 0.80]),
            np.array([0.70, 0.90, 0.90, 0.85, 0.60, 0.88]),
        ),
    ]
    for scores, acc in cases:
        out = call(fn, scores.copy(), acc.copy(), hints=SELECTION_HINTS, usage=SELECTION_USAGE)
        if not isinstance(out, tuple) or len(out) != 3:
            raise CheckFailed(f"return a tuple (pick, rho, cost), got {out!r}")
        pick, rho, cost = out
        want_pick = int(np.argmax(scores))
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
        _check_rho(rho, scores, acc)
        if not close(cost, want_cost, 1e-6):
            if close(cost, -want_cost, 1e-6):
                raise CheckFailed("the cost has the wrong sign: max(target_acc) - target_acc[pick]")
            if close(cost, 100 * want_cost, 1e-6):
                raise CheckFailed(
                    "that is the cost in percentage points: keep it a fraction, like the "
                    "accuracies (max(target_acc) - target_acc[pick])"
                )
            if close(cost, acc.max() - acc.min(), 1e-6):
                raise CheckFailed(
                    "that is the range of the target accuracies (best - worst); the cost is the "
                    "best minus the PICK's: max(target_acc) - target_acc[pick]"
                )
            if close(cost, acc[want_pick] - acc.mean(), 1e-6) or close(
                cost, acc.mean() - acc[want_pick], 1e-6
            ):
                raise CheckFailed(
                    "compare the pick with the BEST candidate (the oracle), not the average"
                )
            raise CheckFailed(f"cost should be {want_cost:.3f}: max(target_acc) - target_acc[pick]")
    return "OK: picks by the score, Spearman's rho, and the cost against the oracle"
