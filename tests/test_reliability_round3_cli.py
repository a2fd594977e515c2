"""Reliability, round 3 (issue 25), the `dann` command's cases: two runs on one --out (1), a
resumed run's saved state (4), a full disk, an empty test set and one image for a batch-norm
model (9), and the small ones (10): a finished run in OUT.partial, the --resume hint, control
characters, and --out values that meant something else.

Each test names its case. A full disk is stood in for by a file-size limit (RLIMIT_FSIZE) in a
subprocess; a second run on the same folder is started while the first loads its data or
trains. User-fixable conditions are one line on stderr with exit code 1 (2 for the command
line); never a traceback or an "internal error".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.optim.optimizer import register_optimizer_step_pre_hook

from dannlib.checkpoint import read_checkpoint, save_checkpoint
from dannlib.cli import main
from dannlib.models import build_model

TRAIN = ["train", "--source", "mnist", "--target", "mnist_m", "--no-progress"]
SMALL = ["--steps", "6", "--limit", "64", "--test-limit", "20", "--batch-size", "32"]
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("DANNLIB_")},
    "OMP_NUM_THREADS": "1",
    "DANNLIB_OFFLINE": "1",
}
WEIRD = "new\nline\x1b[2Jescape"  # a name with a newline and a terminal escape


@pytest.fixture(scope="module", autouse=True)
def data_dir(tmp_path_factory):
    """A data folder with the course's MNIST-M already generated (nothing is written later),
    the data folder of every command here ($DANNLIB_DATA)."""
    from dannlib.data.registry import domain_pair

    folder = tmp_path_factory.mktemp("data")
    domain_pair("mnist->mnist_m", root=folder, download=False, limit=64, test_limit=20)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DANNLIB_DATA", str(folder))
        yield folder


def args_for(data_dir, out, *extra) -> list[str]:
    return [*TRAIN, *SMALL, "--out", str(out), *extra]


def one_error_line(capsys) -> str:
    """The single stderr line of the last command (asserting there was exactly one)."""
    err = capsys.readouterr().err.strip().splitlines()
    err = [line for line in err if ": warning: " not in line]
    assert len(err) == 1, err
    assert "Traceback" not in err[0] and "internal error" not in err[0], err[0]
    return err[0]


def _history(folder: Path) -> dict:
    return json.loads((folder / "history.json").read_text(encoding="utf-8"))["history"]


@pytest.fixture
def no_work(monkeypatch):
    """Records any data loading, so a test can assert none started."""
    loads = []
    monkeypatch.setattr("dannlib.data.registry.load_domain", lambda *a, **k: loads.append(a))
    return loads


def _interrupt_at_step(step: int):
    """A global optimiser hook that sends SIGINT during training step `step` (fit saves and
    stops after that step); returns the hook's handle (remove it after)."""
    calls = [0]

    def hook(optimizer, args, kwargs):
        calls[0] += 1
        if calls[0] == step:
            signal.raise_signal(signal.SIGINT)

    return register_optimizer_step_pre_hook(hook)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, data_dir):
    """OUT.partial of a 6-step run interrupted after step 3: (partial folder, its arguments)."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    handle = _interrupt_at_step(3)
    try:
        assert main(args_for(data_dir, out)) == 130
    finally:
        handle.remove()
    partial = out.with_name("run.partial")
    assert read_checkpoint(partial / "model.pt")["train_state"]["step"] == 3
    return partial


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir):
    """The folder of a finished 6-step run."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(args_for(data_dir, out)) == 0
    return out


def copy_partial(interrupted: Path, tmp_path: Path) -> Path:
    """A copy of the interrupted run's OUT.partial as tmp_path/run.partial; returns OUT."""
    shutil.copytree(interrupted, tmp_path / "run.partial")
    return tmp_path / "run"


# ---------------------------------------------------------------------------------------------
# 1. Two `dann train` runs with the same --out: the second is refused before it trains


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("moment", ["loading the data", "training"])
def test_1_a_second_run_on_the_same_out_is_refused_before_it_trains(
    tmp_path, data_dir, monkeypatch, capsys, moment, overwrite
):
    out = tmp_path / "run"
    second = args_for(data_dir, out, *(["--overwrite"] if overwrite else []))
    codes = []

    def start_second_run_once(real):
        def hooked(*args, **kwargs):
            if not codes:
                codes.append(None)  # mark: started
                codes[0] = main(second)  # as another process would, on the same folder
            return real(*args, **kwargs)

        return hooked

    if moment == "loading the data":
        target = "dannlib.data.registry.load_domain"
    else:  # the first checkpoint of the run
        target = "dannlib.checkpoint.atomic_torch_save"
    monkeypatch.setattr(target, start_second_run_once(_resolve(target)))
    assert main(args_for(data_dir, out)) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if ": warning: " not in line]
    assert codes == [1] and len(err) == 1, err
    assert "another dann train (process " in err[0] and f"is writing to --out {out}" in err[0]
    assert sorted(p.name for p in out.iterdir()) == [
        "curves.png",
        "history.csv",
        "history.json",
        "model.pt",
    ]
    assert _history(out)["steps"]["step"] == [1, 2, 3, 4, 5, 6]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no lock or partial left


def _resolve(dotted: str):
    module, name = dotted.rsplit(".", 1)
    return getattr(sys.modules[module], name)


def test_1_a_run_killed_while_holding_the_lock_does_not_block_the_next(tmp_path, data_dir):
    """The lock goes with the process: after a SIGKILL the folder can be used (--overwrite)."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dannlib", *args_for(data_dir, out, "--steps", "1000000")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**ENV, "DANNLIB_DATA": str(data_dir)},
    )
    try:
        deadline = time.monotonic() + 300
        while not (out.with_name("run.partial") / "model.pt").exists():  # training under way
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait(60)
    assert main(args_for(data_dir, out, "--overwrite")) == 0


# ---------------------------------------------------------------------------------------------
# 4. --resume checks the saved state instead of trusting it


def _set_step(payload, step):
    payload["train_state"]["step"] = step


def _set_rng(payload, rng):
    payload["train_state"]["rng"] = rng


def _misshape_optimiser(payload):
    state = payload["train_state"]["optimizer"]["state"]
    first = next(iter(state.values()))
    for key in first:
        first[key] = torch.zeros(2, 2)


def _history_steps(payload, value):
    payload["history"]["steps"] = value


DAMAGE = [
    (lambda p: _set_step(p, 43), "step", "past the run's 6 steps"),
    (lambda p: _set_step(p, -3), "step", "a negative step"),
    (lambda p: _set_step(p, 6), "step", "the last step, the History at step 3"),
    (lambda p: _set_step(p, "3"), "step", "a step that is text"),
    (lambda p: _set_rng(p, torch.zeros(10, dtype=torch.uint8)), "random state", "short RNG"),
    (lambda p: _set_rng(p, torch.zeros(5056)), "random state", "float RNG"),
    (lambda p: _set_rng(p, "not a state"), "random state", "RNG that is text"),
    (_misshape_optimiser, "optimiser state", "optimiser state of another shape"),
    (lambda p: _history_steps(p, [1, 2, 3]), "History", "History steps a list"),
    (lambda p: _history_steps(p, {"step": 3}), "History", "History column a number"),
]


@pytest.mark.parametrize(("damage", "named", "case"), DAMAGE, ids=[d[2] for d in DAMAGE])
def test_4_resume_refuses_a_saved_state_that_does_not_fit_the_run(
    tmp_path, data_dir, interrupted, capsys, damage, named, case
):
    out = copy_partial(interrupted, tmp_path)
    checkpoint = tmp_path / "run.partial" / "model.pt"
    payload = read_checkpoint(checkpoint)
    damage(payload)
    torch.save(payload, checkpoint)
    assert main(args_for(data_dir, out, "--resume")) == 1
    line = one_error_line(capsys)
    assert "damaged" in line and named in line and "--overwrite" in line, line
    assert not out.exists()  # nothing published


def test_4_an_undamaged_state_still_resumes(tmp_path, data_dir, interrupted, finished, capsys):
    out = copy_partial(interrupted, tmp_path)
    assert main(args_for(data_dir, out, "--resume")) == 0
    assert _history(out)["steps"] == _history(finished)["steps"]
    capsys.readouterr()


# ---------------------------------------------------------------------------------------------
# 9. A full disk, an empty test set, one image for a batch-norm model


FILE_LIMIT = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from dannlib.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_9_a_full_disk_is_one_line_exit_1(tmp_path, data_dir):
    """Every file is limited to 100 KB, as on a full disk: the first checkpoint fails."""
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", FILE_LIMIT, "100000", *args_for(data_dir, out)],
        capture_output=True,
        text=True,
        env={**ENV, "DANNLIB_DATA": str(data_dir)},
        timeout=300,
        check=False,
    )
    err = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(err) == 1, result.stderr[-2000:]
    assert "Traceback" not in err[0] and "internal error" not in err[0]
    assert "could not be written (is the disk full" in err[0]
    assert not out.exists()


def _empty_test_sets(monkeypatch):
    import dannlib.data.registry as registry

    real = registry.load_domain

    def load(name, split="train", **kwargs):
        domain = real(name, split, **kwargs)
        return domain if split == "train" else domain.subset(slice(0, 0))

    monkeypatch.setattr(registry, "load_domain", load)


def test_9_an_empty_test_set_is_refused_by_evaluate(monkeypatch, finished, capsys):
    _empty_test_sets(monkeypatch)
    args = ["evaluate", "--checkpoint", str(finished / "model.pt"), "--domain", "mnist_m"]
    assert main(args) == 1
    assert "mnist_m test holds no images: nothing to evaluate" in one_error_line(capsys)


def test_9_an_empty_test_set_is_refused_before_training(tmp_path, data_dir, monkeypatch, capsys):
    _empty_test_sets(monkeypatch)
    assert main(args_for(data_dir, tmp_path / "run")) == 1
    assert "mnist test holds no images: nothing to train or test on" in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no run folder started


def test_9_predict_one_image_with_a_batch_norm_checkpoint(tmp_path, capsys):
    torch.manual_seed(0)
    model = build_model("modern")
    checkpoint = save_checkpoint(tmp_path / "course.pt", model, config={"adapt_bn": True})
    (tmp_path / "one").mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "one" / "a.png")
    out = tmp_path / "p.csv"
    args = ["predict", "--checkpoint", str(checkpoint), "--images", str(tmp_path / "one")]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "warning: one image: batch-norm statistics need at least two" in captured.err
    assert "classified 1 of 1 files" in captured.out
    row = out.read_text(encoding="utf-8").splitlines()[1].split(",")
    assert row[0] == "a.png" and row[1] in list("0123456789") and row[3] == ""


# ---------------------------------------------------------------------------------------------
# 10. A finished run in OUT.partial, the --resume hint, control characters, --out values


def _finished_partial(tmp_path: Path, finished: Path) -> None:
    shutil.copytree(finished, tmp_path / "run.partial")


@pytest.mark.parametrize(
    ("setup", "out", "extra", "code", "message"),
    [
        (None, "run.partial", [], 2, "names ending in .partial are where dann train keeps"),
        (None, "/", [], 2, "--out /: the root folder cannot hold a run"),
        (None, "", [], 2, "--out: an empty path; name a file or folder"),
        (_finished_partial, "run", ["--overwrite"], 2, "holds a finished run, not an interrupted"),
        (_finished_partial, "run", ["--resume"], 2, "holds a finished run, not an interrupted"),
        (_finished_partial, "run", [], 2, "holds a finished run, not an interrupted"),
    ],
    ids=["out-partial", "out-root", "out-empty", "overwrite", "resume", "plain"],
)
def test_10_out_values_that_meant_something_else_are_refused_before_work(
    tmp_path, finished, no_work, capsys, monkeypatch, setup, out, extra, code, message
):
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        setup(tmp_path, finished)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    try:
        result = main([*TRAIN, *SMALL, "--out", out, *extra])
    except SystemExit as exit_:  # argparse's errors
        result = exit_.code
    assert result == code
    assert message in one_error_line(capsys) and no_work == []
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing made or removed


def _rewrite_run_json(partial: Path, change) -> None:
    record = partial / "run.json"
    saved = json.loads(record.read_text(encoding="utf-8"))
    record.write_text(change(saved), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: json.dumps({}), "continue it with the options it was"),
        (lambda r: json.dumps({**r, "command": None}), "continue it with the options it was"),
        (lambda r: "{not json", "continue it with the options it was"),
        (lambda r: json.dumps([1, 2]), "continue it with the options it was"),
    ],
    ids=["no-command", "command-null", "not-json", "not-a-dict"],
)
def test_10_the_resume_hint_never_shows_a_question_mark(
    tmp_path, data_dir, interrupted, capsys, change, message
):
    out = copy_partial(interrupted, tmp_path)
    _rewrite_run_json(tmp_path / "run.partial", change)
    assert main(args_for(data_dir, out, "--resume", "--lr", "0.02")) == 2
    line = one_error_line(capsys)
    assert message in line and "start again with --overwrite" in line and "?" not in line


def _no_raw_controls(text: str) -> None:
    assert "\x1b" not in text and "\\x1b" in text, text
    assert len(text.strip().splitlines()) == 1 and "\\n" in text, text


def test_10_control_characters_in_out_and_run_json_are_escaped(tmp_path, data_dir, capsys):
    out = tmp_path / WEIRD
    handle = _interrupt_at_step(3)
    try:
        assert main(args_for(data_dir, out)) == 130
    finally:
        handle.remove()
    _no_raw_controls(one_error_line(capsys))  # the interrupted message: path and command
    assert main(args_for(data_dir, out, "--resume", "--lr", "0.02")) == 2
    line = one_error_line(capsys)
    _no_raw_controls(line)  # the saved command from run.json
    assert "continue it with its own command: dann train" in line


def test_10_control_characters_in_file_names_are_escaped(tmp_path, no_work, capsys):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / WEIRD).write_text("x")
    assert main([*TRAIN, *SMALL, "--out", str(tmp_path / "home")]) == 2
    line = one_error_line(capsys)
    _no_raw_controls(line)
    assert "holds files that dann train did not write" in line and no_work == []


def test_10_a_long_error_is_not_cut(tmp_path, capsys):
    deep = tmp_path / ("d" * 200) / ("e" * 200)
    args = ["evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--domain", "svhn"]
    save_checkpoint(tmp_path / "none.pt", build_model("svhn"))
    assert main([*args, "--data", "real", "--no-download", "--data-dir", str(deep)]) == 1
    line = one_error_line(capsys)
    assert str(deep / "SVHN") in line and not line.endswith("...")
