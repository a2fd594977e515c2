"""Issue 8: bad input, interruptions, offline failures and untrusted files.

Cases already covered elsewhere are not repeated here (see the table in the issue's report):
offline SVHN/USPS errors (test_data_svhn_usps), a damaged generated cache (test_data_mnistm),
unsafe tar members (test_data_bsds), truncated / foreign / mismatched checkpoints
(test_checkpoint) and invalid domain, task, mode and profile names (test_data_registry,
test_train, test_config_and_toy, test_models).
"""

import signal
import warnings

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from dannlib import build_model, fit, set_seed
from dannlib.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from dannlib.data.base import Domain
from dannlib.data.toy import moons_pair
from dannlib.train import TrainingDiverged

# ---------------------------------------------------------------------------------------------
# Training: Ctrl-C, resume, divergence


def _images(n: int, seed: int, name: str) -> Domain:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 28, 28), dtype=torch.uint8, generator=g)
    return Domain(x, torch.arange(n) % 10, {"name": name, "source": "random"})


SOURCE, TARGET = _images(24, 1, "src"), _images(24, 2, "tgt")
MODERN = dict(steps=8, batch_size=8, optimizer="adam", lr=1e-3, progress=False, seed=0)


def _modern_run(**kw):
    """A BN + dropout net trained with Adam on random images; returns (model, history)."""
    set_seed(0)
    model = build_model("modern")
    return model, fit(model, SOURCE, TARGET, **{**MODERN, **kw})


def _states_by_step():
    """The model's full state (weights and batch-norm buffers) after every step of MODERN."""
    states = {}

    def keep(model, history, step):
        states[step] = {k: v.clone() for k, v in model.state_dict().items()}

    _modern_run(eval_every=1, callback=keep)
    return states


@pytest.fixture(scope="module")
def reference():
    return _states_by_step()


def _same_state(model, state) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def _interrupt_on_call(module, call: int):
    """Make `module`'s forward raise KeyboardInterrupt on its `call`-th call (1-based)."""
    calls = [0]

    def hook(mod, args):
        calls[0] += 1
        if calls[0] == call:
            raise KeyboardInterrupt

    return module.register_forward_pre_hook(hook)


def test_interrupt_inside_a_forward_pass_keeps_the_last_completed_step(reference):
    set_seed(0)
    model = build_model("modern")
    # the net sees source then target (one batch-norm pass per domain): call 2k+2 is the target
    # pass of step k+1, after that step's source pass has already moved the BN statistics
    _interrupt_on_call(model.features, call=2 * 3 + 2)
    with pytest.warns(UserWarning, match="interrupted after 3 of 8 steps"):
        history = fit(model, SOURCE, TARGET, **MODERN)
    assert history.interrupted and history.steps["step"] == [1, 2, 3]
    assert _same_state(model, reference[3])  # weights and BN running statistics
    assert model.training


def test_interrupt_between_backward_and_optimiser_step_updates_nothing(reference):
    steps = [0]

    def interrupt(optimizer, args, kwargs):
        steps[0] += 1
        if steps[0] == 5:  # step 5's gradients exist, its update has not happened
            raise KeyboardInterrupt

    handle = register_optimizer_step_pre_hook(interrupt)
    try:
        with pytest.warns(UserWarning, match="interrupted after 4 of 8"):
            model, history = _modern_run()
    finally:
        handle.remove()
    assert history.steps["step"] == [1, 2, 3, 4] and _same_state(model, reference[4])


def test_ctrl_c_during_the_optimiser_step_finishes_that_step_then_stops(reference):
    steps = [0]

    def ctrl_c(optimizer, args, kwargs):
        steps[0] += 1
        if steps[0] == 5:
            signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, delivered mid-update

    handle = register_optimizer_step_pre_hook(ctrl_c)
    try:
        with pytest.warns(UserWarning, match="interrupted after 5 of 8"):
            model, history = _modern_run()
    finally:
        handle.remove()
    assert history.steps["step"] == [1, 2, 3, 4, 5] and _same_state(model, reference[5])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(tmp_path, reference):
    """BN + dropout + Adam: weights, BN statistics, optimiser and dropout RNG all restored."""
    full_model, full = _modern_run(eval_every=3)
    ckpt = tmp_path / "run.pt"
    set_seed(0)
    model = build_model("modern")
    _interrupt_on_call(model.features, call=2 * 5 + 2)  # step 6, after its dropout draws
    with pytest.warns(UserWarning, match=r"resume with fit\(\.\.\., resume="):
        fit(model, SOURCE, TARGET, eval_every=3, checkpoint=ckpt, **MODERN)
    assert read_checkpoint(ckpt)["train_state"]["step"] == 5  # the interrupt saved step 5
    resumed_model, resumed = _modern_run(eval_every=3, resume=ckpt)
    assert resumed.steps == full.steps and resumed.evals["step"] == full.evals["step"] == [
        0,
        3,
        6,
        8,
    ]
    assert _same_state(resumed_model, full_model.state_dict())
    assert _same_state(full_model, reference[8])


def test_resume_refuses_files_it_cannot_continue_from(tmp_path):
    weights_only = save_checkpoint(tmp_path / "final.pt", build_model("modern"))
    with pytest.raises(CheckpointError, match="no training state.*load_checkpoint"):
        _modern_run(resume=weights_only)
    ckpt = tmp_path / "run.pt"
    _modern_run(steps=2, eval_every=1, checkpoint=ckpt)
    toy = moons_pair(40, 30)
    with pytest.raises(CheckpointError, match="'modern' network .* but the model is a 'toy'"):
        fit(build_model("toy"), toy["source"], toy["target"], steps=2, resume=ckpt, progress=False)
    with pytest.raises(ValueError, match="batch_size differ"):
        _modern_run(steps=2, batch_size=4, resume=ckpt)


def test_a_learning_rate_that_blows_up_stops_training_with_the_cause():
    d = moons_pair(100, 30)
    set_seed(0)
    model = build_model("toy", activation="relu")
    with pytest.raises(TrainingDiverged, match=r"lr=1e\+03, lambda=.*lower the learning") as err:
        fit(model, d["source"], d["target"], steps=200, lr=1e3,
            lr_schedule="constant", progress=False)  # fmt: skip
    logged = err.value.history.steps["label_loss"]
    assert 0 < len(logged) < 200 and all(torch.isfinite(torch.tensor(logged)))


# ---------------------------------------------------------------------------------------------
# Arguments


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(epochs=0), "epochs must be a positive whole number, got 0"),
        (dict(epochs=-2), "epochs must be a positive whole number, got -2"),
        (dict(epochs=1.5), "epochs must be a positive whole number, got 1.5"),
        (dict(epochs="3"), "epochs must be a positive whole number, got '3'"),
        (dict(steps=True), "steps must be a positive whole number, got True"),
        (dict(steps=5, batch_size=0), "batch_size must be a positive whole number, got 0"),
        (dict(steps=5, eval_every=-1), "eval_every must be a positive whole number, got -1"),
        (dict(steps=5, lr_schedule="cosine"), "choose one of: paper, constant"),
    ],
)
def test_bad_fit_arguments_give_one_line_errors(kwargs, message):
    d = moons_pair(40, 30)
    with pytest.raises(ValueError) as err:
        fit(build_model("toy"), d["source"], d["target"], progress=False, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_data_that_does_not_fit_the_task_is_refused_before_training():
    small = Domain(torch.zeros(8, 1, 32, 32, dtype=torch.uint8), torch.arange(8))
    with pytest.raises(ValueError, match=r"\(3, 28, 28\) but target inputs are \(1, 32, 32\)"):
        fit(build_model("modern"), SOURCE, small, steps=1, progress=False)
    with pytest.raises(ValueError, match="labels go up to 9 .* num_classes=10"):
        fit(build_model("modern", num_classes=5), SOURCE, TARGET, steps=1, progress=False)


def test_no_warning_when_training_is_not_interrupted():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, history = _modern_run(steps=2)
    assert not history.interrupted and history.steps["step"] == [1, 2]
