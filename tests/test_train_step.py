"""dann_step is the step fit runs; TrainConfig checks itself; signals stop fit between steps."""

import signal

import pytest
import torch

from dannlib import build_model, set_seed
from dannlib.checkpoint import read_checkpoint
from dannlib.data.base import Domain, to_float
from dannlib.data.loaders import IndexStream
from dannlib.data.toy import moons_pair
from dannlib.evaluation import evaluate
from dannlib.recipes import RECIPES, get_recipe
from dannlib.schedules import dann_lambda
from dannlib.train import TrainConfig, dann_step, fit


def _moons():
    return moons_pair(200, angle=35, seed=0)


def test_dann_step_is_the_step_fit_runs():
    d = _moons()
    config = get_recipe("moons").config.replace(steps=5, seed=3)
    set_seed(0)
    by_fit = build_model("toy")
    fit(by_fit, d["source"], d["target"], config, progress=False)

    set_seed(0)
    by_hand = build_model("toy")
    opt = torch.optim.SGD(by_hand.parameters(), lr=config.lr, momentum=config.momentum)
    src, tgt = IndexStream(len(d["source"]), 6), IndexStream(len(d["target"]), 7)
    torch.manual_seed(3)
    for step in range(5):
        xs, ys = d["source"][src.batch(step, 32)]
        xt, _ = d["target"][tgt.batch(step, 32)]
        lam = config.lambda_max * dann_lambda(step / 5, config.gamma)
        dann_step(by_hand, opt, (to_float(xs), ys, to_float(xt)), lam, config.lr)
    for (name, a), b in zip(by_fit.named_parameters(), by_hand.parameters(), strict=True):
        assert torch.equal(a, b), name  # bit for bit: fit adds nothing to the maths


def test_dann_step_returns_the_losses_and_trains_the_domain_head_even_at_lambda_zero():
    set_seed(0)
    model = build_model("toy")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.features.parameters()]
    head = [p.detach().clone() for p in model.domain_head.parameters()]
    x = torch.randn(8, 2)
    stats = dann_step(model, opt, (x, torch.tensor([0, 1] * 4), x + 3), lam=0.0, lr=0.1)
    assert set(stats) == {"label_loss", "domain_loss", "domain_acc", "lambda", "lr"}
    assert not stats["label_loss"].requires_grad and stats["label_loss"].dim() == 0
    assert stats["lambda"] == 0.0 and 0.0 <= stats["domain_acc"] <= 1.0
    assert any(not torch.equal(a, b) for a, b in zip(head, model.domain_head.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.features.parameters()))


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(lambda_max=-1.0), "lambda_max"),
        (dict(momentum=1.5), "momentum"),
        (dict(lr=0.0), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(batch_size=10**7), "batch_size"),
        (dict(steps=10, epochs=2), "not both"),
        (dict(mode="adapt"), "mode"),
        (dict(method="cdan"), "dann, dann_entropy"),
        (dict(lambda_schedule="step"), "lambda_schedule"),
        (dict(ramp_steps=0), "ramp_steps"),
        (dict(seed=-1), "seed"),
    ],
)
def test_train_config_refuses_bad_settings(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig().replace(**changes)


def test_unknown_settings_name_the_valid_ones():
    with pytest.raises(TypeError, match="lambda_max"):
        TrainConfig().replace(lamda_max=1.0)


def test_recipes_hold_their_settings_and_build_their_network():
    course = get_recipe("course")
    assert course.config.adapt_bn and course.config.optimizer == "adam"
    assert course.build_model().has_batchnorm and not RECIPES["paper"].build_model().has_batchnorm
    for name, recipe in RECIPES.items():  # the name is written once, and recorded
        assert recipe.name == name == recipe.config.recipe
    # the paper recipe is TrainConfig's defaults (the paper's settings) at 32 + 32 a step
    assert get_recipe("paper").config == TrainConfig(batch_size=32, recipe="paper")
    entropy = get_recipe("entropy")
    assert entropy.config == course.config.replace(method="dann_entropy", recipe="entropy")
    with pytest.raises(ValueError, match="course"):
        get_recipe("modern")


def test_fit_refuses_float_images_on_a_0_255_scale():
    x = torch.rand(20, 3, 28, 28) * 255
    d = Domain(x, torch.zeros(20, dtype=torch.long), {"name": "scaled"})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit(build_model("mnist"), d, d, steps=1, progress=False)


def test_evaluate_refuses_labels_the_model_does_not_have():
    d = Domain(torch.randn(6, 2), torch.tensor([0, 1, 2, 3, 4, 5]), {"name": "six"})
    with pytest.raises(ValueError, match="classes"):
        evaluate(build_model("toy"), d)


def test_sigterm_saves_the_checkpoint_then_reaches_the_previous_handler(tmp_path):
    class Terminated(Exception):
        pass

    def previous(signum, frame):
        raise Terminated

    def terminate_at_step_3(model, history, step):
        if step == 3:
            signal.raise_signal(signal.SIGTERM)

    d = _moons()
    old = signal.signal(signal.SIGTERM, previous)
    try:
        with pytest.raises(Terminated):
            fit(
                build_model("toy"),
                d["source"],
                d["target"],
                get_recipe("moons").config.replace(steps=50, eval_every=1),
                callback=terminate_at_step_3,
                checkpoint=tmp_path / "run.pt",
                progress=False,
            )
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, old)
    assert read_checkpoint(tmp_path / "run.pt")["train_state"]["step"] == 3


def test_ctrl_c_stops_between_steps_whatever_handler_was_installed():
    def other_handler(signum, frame):
        raise AssertionError("fit should have taken Ctrl-C itself")

    def ctrl_c_at_step_4(model, history, step):
        if step == 4:
            signal.raise_signal(signal.SIGINT)

    d = _moons()
    old = signal.signal(signal.SIGINT, other_handler)
    try:
        with pytest.warns(UserWarning, match="interrupted after 4 of 50"):
            h = fit(
                build_model("toy"),
                d["source"],
                d["target"],
                get_recipe("moons").config.replace(steps=50, eval_every=1),
                callback=ctrl_c_at_step_4,
                progress=False,
            )
        assert signal.getsignal(signal.SIGINT) is other_handler
    finally:
        signal.signal(signal.SIGINT, old)
    assert h.interrupted and h.steps["step"][-1] == 4
