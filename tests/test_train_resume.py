"""Resuming checks the saved state before it is used: one rule for which runs may continue, and a
clear refusal (never an internal error) for a step out of range, optimiser or random state that
does not fit, or a damaged History."""

import math

import pytest
import torch

from dannlib import build_model, set_seed
from dannlib.checkpoint import CheckpointError, read_checkpoint
from dannlib.data.toy import moons_pair
from dannlib.files import atomic_torch_save
from dannlib.history import History
from dannlib.recipes import get_recipe
from dannlib.train import fit

CONFIG = get_recipe("moons").config.replace(steps=12, eval_every=4)
DATA = moons_pair(100, angle=30, seed=0)


def _fit(**kw):
    set_seed(0)
    model = build_model("toy")
    return model, fit(model, DATA["source"], DATA["target"], CONFIG, progress=False, **kw)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A checkpoint of the first 4 steps of CONFIG's run (callback stops it there)."""
    path = tmp_path_factory.mktemp("ckpt") / "run.pt"
    _fit(checkpoint=path, callback=lambda m, h, step: step == 4)
    return read_checkpoint(path)


def _damaged(tmp_path, saved, change) -> str:
    payload = {**saved, "train_state": dict(saved["train_state"])}
    change(payload)
    path = tmp_path / "damaged.pt"
    atomic_torch_save(payload, path)
    return path


def test_a_resumed_run_ends_where_the_whole_run_ends(tmp_path, saved):
    whole_model, whole = _fit()
    path = _damaged(tmp_path, saved, lambda p: None)
    model, resumed = _fit(resume=path)
    assert resumed.steps == whole.steps and resumed.evals["step"] == whole.evals["step"]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), whole_model.parameters()))


def _set(key, value):
    return lambda p: p["train_state"].__setitem__(key, value)


def _optimizer_state(change):
    def apply(p):
        state = {k: dict(v) for k, v in p["train_state"]["optimizer"]["state"].items()}
        change(state)
        p["train_state"]["optimizer"] = {**p["train_state"]["optimizer"], "state": state}

    return apply


def _history(change):
    def apply(p):
        history = {k: v for k, v in p["history"].items()}
        change(history)
        p["history"] = history

    return apply


STRIDE_0 = torch.zeros(1, dtype=torch.uint8).expand(5056)  # one byte claiming 5,056

CASES = {
    "step past the end": (_set("step", 13), "step 13 is not a whole number from 0 to the run's 12"),
    "negative step": (_set("step", -1), "step -1 is not a whole number"),
    "step as a float": (_set("step", 4.0), "step 4.0 is not a whole number"),
    "step as a bool": (_set("step", True), "step True is not a whole number"),
    "step the History lacks": (_set("step", 8), "History does not end at its step 8"),
    "negative seconds": (_set("train_seconds", -1.0), "training time is -1.0"),
    "random state too short": (
        _set("rng", torch.zeros(10, dtype=torch.uint8)),
        "random state has shape (10,), expected (5056,)",
    ),
    "random state of floats": (
        _set("rng", torch.zeros(5056)),
        "random state holds torch.float32, expected torch.uint8",
    ),
    "random state not a tensor": (_set("rng", [0] * 5056), "random state is a list, not a tensor"),
    "stride-0 random state": (
        _set("rng", STRIDE_0),
        "is a strided view (5,056 values over 1 bytes",
    ),
    "optimiser state not a dict": (
        _set("optimizer", [1, 2]),
        "optimiser state is not a torch optimiser state",
    ),
    "momentum of the wrong shape": (
        _optimizer_state(lambda s: s[0].__setitem__("momentum_buffer", torch.zeros(3, 3))),
        "'momentum_buffer' of parameter 0 is torch.float32 (3, 3), the parameter is (15, 2)",
    ),
    "momentum as a string": (
        _optimizer_state(lambda s: s[0].__setitem__("momentum_buffer", "x")),
        "optimiser state has momentum_buffer = 'x'",
    ),
    "NaN momentum": (
        _optimizer_state(
            lambda s: s[0].__setitem__("momentum_buffer", torch.full((15, 2), math.nan))
        ),
        "NaN or infinite values",
    ),
    "state of a parameter the model lacks": (
        _optimizer_state(lambda s: s.__setitem__(99, {})),
        "names a parameter 99 the model lacks",
    ),
    "History not a dict": (lambda p: p.__setitem__("history", [1, 2]), "history is not a dict"),
    "History with NaN": (
        _history(lambda h: h.__setitem__("evals", {**h["evals"], "step": [0, math.nan]})),
        "evals['step'][1] is nan, not a finite number",
    ),
    "History with strings": (
        _history(lambda h: h.__setitem__("steps", {**h["steps"], "lr": ["a"] * 4})),
        "steps['lr'][0] is 'a', not a finite number",
    ),
    "History without evaluations": (
        _history(lambda h: h.__setitem__("evals", {})),
        "at least one evaluation",
    ),
    "History with ragged columns": (
        _history(lambda h: h.__setitem__("steps", {**h["steps"], "lr": [0.1]})),
        "columns of different lengths",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_damaged_resume_state_is_refused_with_what_to_do(tmp_path, saved, case):
    change, message = CASES[case]
    path = _damaged(tmp_path, saved, change)
    with pytest.raises(CheckpointError) as err:
        _fit(resume=path)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "changes, named",
    [
        (dict(batch_size=16), "batch_size"),
        (dict(lr=0.05), "lr"),
        (dict(method="dann_entropy"), "method"),
        (dict(steps=20), "steps"),
    ],
)
def test_a_run_resumes_only_with_the_settings_and_data_it_was_trained_with(
    tmp_path, saved, changes, named
):
    path = _damaged(tmp_path, saved, lambda p: None)
    set_seed(0)
    with pytest.raises(ValueError, match=f"cannot resume .*: {named} differ"):
        fit(build_model("toy"), DATA["source"], DATA["target"], CONFIG.replace(**changes),
            resume=path, progress=False)  # fmt: skip
    other = moons_pair(100, angle=45, seed=0)
    with pytest.raises(ValueError, match=": target differ"):  # the same source, another target
        fit(build_model("toy"), other["source"], other["target"], CONFIG, resume=path,
            progress=False)  # fmt: skip


def test_how_often_a_run_is_evaluated_may_change_on_resume(tmp_path, saved):
    path = _damaged(tmp_path, saved, lambda p: None)
    _, resumed = _fit(resume=path, eval_every=2)
    assert resumed.evals["step"] == [0, 4, 6, 8, 10, 12]


def test_history_round_trips_and_reads_older_files():
    h = History({"step": [1, 2], "lr": [0.1, 0.1]}, {"step": [0, 2], "acc": [0.5, 0.7]}, {"a": 1})
    assert History.from_dict(h.to_dict()) == h
    old = {**h.to_dict(), "meta": h.config}
    del old["config"]
    assert History.from_dict(old) == h and h.meta is h.config
    with pytest.raises(ValueError, match="config is a dict"):
        History.from_dict({**h.to_dict(), "config": ["a"]})
    with pytest.raises(ValueError, match="'interrupted' is True or False"):
        History.from_dict({**h.to_dict(), "interrupted": "yes"})
