"""Reliability, round 2: nothing the user points at is clobbered, no interrupt loses work, no
checkpoint spec is a memory bomb, no hang, and every failure of `dann` is one line.

Each test names the case of the hostile-user report it covers (1-13). Memory bombs run in a
subprocess under an address-space limit, so that a regression fails the test, not the machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from PIL import Image

import dannlib.run_state
import dannlib.steps
from dannlib.checkpoint import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from dannlib.cli import build_parser, main
from dannlib.course import DEFAULT_TIMEOUT, run_course
from dannlib.files import STALE_SECONDS, atomic_write_text, check_output, remove_stale_temps
from dannlib.metrics import proxy_a_distance
from dannlib.models import build_model
from dannlib.predict import find_files, predict_folder, predictions_csv
from dannlib.reweighting import clip_weights, importance_weights

TRAIN = ["train", "--source", "mnist", "--target", "mnist_m", "--no-download", "--no-progress"]
SMALL = ["--steps", "6", "--limit", "64", "--test-limit", "20", "--batch-size", "32"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "DANNLIB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt", build_model("mnist"))


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(pixels, "L").save(folder / "a.png")
    return folder


def one_error_line(capsys) -> str:
    """The single stderr line of the last command (asserting there was exactly one)."""
    err = capsys.readouterr().err.strip().splitlines()
    err = [line for line in err if ": warning: " not in line]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


# ---------------------------------------------------------------------------------------------
# 1. `dann predict --out` never replaces what it must not, and keeps an existing file's mode


def _predict(checkpoint, images, out) -> int:
    return main(["predict", "--checkpoint", str(checkpoint), "--images", str(images), "--out", out])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t, c, i: str(c), "is the input file itself"),
        (lambda t, c, i: str(i / "a.png"), "is inside the input folder"),
        (lambda t, c, i: str(i / "new.csv"), "is inside the input folder"),
        (lambda t, c, i: _symlink(t / "link.csv", t / "real.csv"), "is a symbolic link"),
        (lambda t, c, i: _fifo(t / "pipe.csv"), "is a FIFO"),
        (lambda t, c, i: _symlink(t / "null.csv", "/dev/null"), "is a symbolic link"),
        (lambda t, c, i: "/dev/null", "is a character device, not a regular file"),
        (lambda t, c, i: str(t), "is a folder, not a regular file"),
        (lambda t, c, i: str(t / "real.csv" / "x.csv"), "is a file, not a folder"),
    ],
)
def test_1_predict_out_refuses_what_it_must_not_replace(
    tmp_path, checkpoint, images, capsys, make, message
):
    (tmp_path / "real.csv").write_text("keep me")
    out = make(tmp_path, checkpoint, images)
    before = {p: p.lstat() for p in [checkpoint, *images.iterdir(), *tmp_path.iterdir()]}
    assert _predict(checkpoint, images, out) == 1
    assert message in one_error_line(capsys)
    after = {p: p.lstat() for p in [checkpoint, *images.iterdir(), *tmp_path.iterdir()]}
    assert after == before  # nothing replaced, nothing added
    assert (tmp_path / "real.csv").read_text() == "keep me"


def _symlink(link: Path, target) -> str:
    os.symlink(target, link)
    return str(link)


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return str(path)


def test_1_an_existing_output_keeps_its_mode(tmp_path, checkpoint, images, capsys):
    out = tmp_path / "private.csv"
    out.write_text("old")
    out.chmod(0o600)
    assert _predict(checkpoint, images, str(out)) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and "a.png" in out.read_text()
    capsys.readouterr()


# ---------------------------------------------------------------------------------------------
# 2. `dann train --out` is checked before any data is loaded; a run folder needs --overwrite


@pytest.fixture
def no_work(monkeypatch):
    """Records any data loading, so a test can assert none started."""
    loads = []
    monkeypatch.setattr("dannlib.data.registry.load_domain", lambda *a, **k: loads.append(a))
    return loads


@pytest.mark.parametrize(
    ("setup", "out", "code", "message"),
    [
        (lambda t: (t / "afile").write_text("hi"), "afile", 1, "is a regular file, not a folder"),
        (lambda t: (t / "afile").write_text("hi"), "afile/run", 1, "is a file, not a folder"),
        (lambda t: _run_folder(t / "run"), "run", 2, "already holds a run; pass --overwrite"),
        (lambda t: _run_folder(t / "run.partial"), "run", 2, "continue it with --resume"),
        (
            lambda t: (t / "home").mkdir() or (t / "home/thesis.tex").write_text("x"),
            "home",
            2,
            "files that dann train did not write (thesis.tex)",
        ),  # fmt: skip
        (lambda t: None, "fresh", 2, "--resume: no interrupted run to continue"),
    ],
)
def test_2_train_out_is_checked_before_any_work(
    tmp_path, no_work, capsys, monkeypatch, setup, out, code, message
):
    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    resume = ["--resume"] if out == "fresh" else []
    assert main([*TRAIN, *SMALL, "--out", out, *resume]) == code
    assert message in one_error_line(capsys) and no_work == []
    assert not (tmp_path / "fresh").exists() and not (tmp_path / "fresh.partial").exists()


def test_2_an_unwritable_working_directory_is_refused_before_work(
    tmp_path, no_work, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # as a read-only folder (even root)
    assert main(TRAIN) == 1  # the default --out runs/mnist-mnist_m-dann
    assert "is not writable (read-only or no permission)" in one_error_line(capsys)
    assert no_work == []


def _run_folder(folder: Path) -> None:
    folder.mkdir()
    for name in ("model.pt", "history.json"):
        (folder / name).write_text("old run")


# ---------------------------------------------------------------------------------------------
# 3. A non-UTF-8 locale: the CSV is written as UTF-8 and names print


def test_3_a_c_locale_writes_the_csv_as_utf8(tmp_path, checkpoint, images):
    (images / "a.png").rename(images / "grün.png")
    env = {**ENV, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    out = tmp_path / "ü.csv"
    args = ["predict", "--checkpoint", str(checkpoint), "--images", str(images), "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "dannlib", *args],
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes().decode("utf-8").splitlines()[1].startswith("grün.png,")
    assert b"classified 1 of 1 files" in result.stdout


# ---------------------------------------------------------------------------------------------
# 4. Interrupting `dann train`: saved, resumable, exit 130 / 143, the run folder a unit


def _signal_at_step(monkeypatch, signum: int, step: int) -> None:
    """Deliver a real `signum` during training step `step` (fit stops after that step)."""
    real, calls = dannlib.steps.dann_step, [0]

    def step_then_signal(*args, **kwargs):
        calls[0] += 1
        if calls[0] == step:
            signal.raise_signal(signum)
        return real(*args, **kwargs)

    monkeypatch.setitem(dannlib.steps.STEPS, "dann", step_then_signal)


def _history(folder: Path) -> dict:
    return json.loads((folder / "history.json").read_text(encoding="utf-8"))["history"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("full") / "run"
    assert main([*TRAIN, *SMALL, "--data", str(data_dir), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_4_an_interrupted_run_saves_exits_and_resumes_to_the_same_result(
    tmp_path, data_dir, uninterrupted, monkeypatch, capsys, signum, code
):
    args = [*TRAIN, *SMALL, "--data", str(data_dir), "--out", str(tmp_path / "run")]
    previous = signal.getsignal(signal.SIGTERM)
    with monkeypatch.context() as patch:
        _signal_at_step(patch, signum, 3)
        assert main(args) == code
    assert signal.getsignal(signal.SIGTERM) is previous  # the CLI's handler is gone again
    message = one_error_line(capsys)
    assert "model.pt. To continue: dann train --source mnist" in message
    assert message.endswith("--resume") and not (tmp_path / "run").exists()
    state = read_checkpoint(tmp_path / "run.partial" / "model.pt")["train_state"]
    assert state["step"] == 3
    assert main([*args, "--resume"]) == 0
    assert not (tmp_path / "run.partial").exists()
    assert _history(tmp_path / "run")["steps"] == _history(uninterrupted)["steps"]
    resumed, _ = load_checkpoint(tmp_path / "run" / "model.pt")
    full, _ = load_checkpoint(uninterrupted / "model.pt")
    full = full.state_dict()
    assert all(torch.equal(v, full[k]) for k, v in resumed.state_dict().items())
    capsys.readouterr()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_4_a_real_signal_to_a_running_dann_train(tmp_path, data_dir, signum, code):
    """As `timeout -s INT` or a cluster's time limit would stop it: saved, and not exit 0."""
    out, partial = tmp_path / "run", tmp_path / "run.partial" / "model.pt"
    args = [*TRAIN, "--steps", "1000000", *SMALL[2:], "--data", str(data_dir), "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dannlib", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    deadline = time.monotonic() + 300
    while not partial.exists():  # the first periodic checkpoint: training is under way
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-1000:]
    assert "To continue: dann train" in err and err.strip().endswith("--resume")
    assert read_checkpoint(partial)["train_state"]["step"] >= 1 and not out.exists()


def test_4_a_finished_run_folder_holds_a_resumable_checkpoint(uninterrupted):
    payload = read_checkpoint(uninterrupted / "model.pt")
    assert payload["train_state"]["step"] == 6 and payload["config"]["recipe"] == "paper"
    assert {"optimizer", "rng"} <= payload["train_state"].keys()


def test_4_periodic_checkpoints_are_written_while_training(tmp_path, data_dir, monkeypatch):
    steps = []
    real_save = dannlib.run_state.save_checkpoint

    def record(path, model, **kwargs):
        steps.append((Path(path).parent.name, kwargs["train_state"]["step"]))
        return real_save(path, model, **kwargs)

    monkeypatch.setattr(dannlib.run_state, "save_checkpoint", record)
    out = tmp_path / "run"
    assert main([*TRAIN, *SMALL, "--data", str(data_dir), "--out", str(out)]) == 0
    assert steps == [("run.partial", s) for s in (0, 2, 4, 6)]  # every evaluation (2 steps)


def test_4_an_interrupt_while_saving_keeps_the_old_run_whole(
    tmp_path, data_dir, uninterrupted, monkeypatch, capsys
):
    out = tmp_path / "run"
    out.mkdir()
    old = {}
    for path in uninterrupted.iterdir():
        (out / path.name).write_bytes(path.read_bytes())
        old[path.name] = path.read_bytes()

    def interrupted_while_plotting(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("dannlib.cli._plot", interrupted_while_plotting)
    args = [*TRAIN, *SMALL, "--seed", "1", "--data", str(data_dir), "--out", str(out)]
    assert main([*args, "--overwrite"]) == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old  # all old, none new
    assert (tmp_path / "run.partial" / "model.pt").is_file()  # the new run can still finish
    capsys.readouterr()


def test_4_stale_temp_files_of_killed_writers_are_removed(tmp_path):
    target = tmp_path / "model.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = tmp_path / f".model.pt.{dead}-abc123.tmp"  # left by a SIGKILL during a save
    live = tmp_path / f".model.pt.{os.getpid()}-def456.tmp"  # another save in progress
    recent = tmp_path / f".model.pt.{dead}-ghi789.tmp"  # too recent to judge
    other = tmp_path / ".notes.txt.12-x.tmp"  # not this target's
    for path in (stale, live, recent, other):
        path.write_bytes(b"x" * 100)
    old = time.time() - 2 * STALE_SECONDS
    for path in (stale, live, other):
        os.utime(path, (old, old))
    atomic_write_text("new", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [target.name, live.name, recent.name, other.name]
    )
    assert remove_stale_temps(target) == []


# ---------------------------------------------------------------------------------------------
# 5, 7, 13. `dann course`: never writes into the notebooks, a cell timeout, no kernel noise


@pytest.fixture
def course(tmp_path, monkeypatch):
    folder = tmp_path / "nbs"
    folder.mkdir()
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": kernel})
    nb.cells = [nbformat.v4.new_code_cell("import time\nwhile True:\n    time.sleep(0.05)")]
    nbformat.write(nb, folder / "01_loop.ipynb")
    monkeypatch.chdir(tmp_path)
    return folder


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("nbs", "is inside the input folder"),
        ("nbs/build", "is inside the input folder"),
        ("nbs/01_loop.ipynb", "is a regular file, not a folder"),
        ("afile", "is a regular file, not a folder"),
    ],
)
def test_5_course_out_never_in_the_notebooks_folder(course, capsys, out, message):
    before = (course / "01_loop.ipynb").read_bytes()
    (course.parent / "afile").write_text("keep me")
    assert main(["course", "--notebooks", "nbs", "--out", out, "--no-progress"]) == 1
    assert (course.parent / "afile").read_text() == "keep me"
    assert message in one_error_line(capsys)
    assert (course / "01_loop.ipynb").read_bytes() == before
    assert sorted(p.name for p in course.iterdir()) == ["01_loop.ipynb"]


def test_7_course_has_a_default_cell_timeout():
    course = build_parser()._subparsers._group_actions[0].choices["course"]
    assert course.parse_args([]).timeout == DEFAULT_TIMEOUT == 1800
    assert run_course.__kwdefaults__["timeout"] == DEFAULT_TIMEOUT


def test_7_13_a_looping_notebook_fails_at_the_timeout_without_kernel_noise(course, capfd):
    code = main(["course", "--notebooks", "nbs", "--out", "out", "--timeout", "2", "--no-progress"])
    captured = capfd.readouterr()
    assert code == 1
    assert (
        "01_loop.ipynb failed: CellTimeoutError: a cell ran past the limit of 2 s" in captured.err
    )
    assert "Traceback" not in captured.err + captured.out and "ZMQ" not in captured.err
    assert (course.parent / "out" / "01_loop.kernel.log").is_file()  # kept for a failed run


# ---------------------------------------------------------------------------------------------
# 6. `dann predict` never blocks on a FIFO or a device and names what it skipped


def test_6_fifos_and_devices_are_skipped_and_named(tmp_path, images, checkpoint):
    os.mkfifo(images / "x.png")
    os.symlink("/dev/zero", images / "zero.png")
    model, _ = load_checkpoint(checkpoint)
    done = []
    worker = threading.Thread(target=lambda: done.append(predict_folder(model, images)))
    worker.daemon = True  # a regression blocks in open(); the test fails instead of hanging
    worker.start()
    worker.join(60)
    assert done, "predict_folder blocked"
    errors = {p.path: p.error for p in done[0]}
    assert errors["a.png"] is None
    assert errors["x.png"] == "not a regular file (a FIFO (named pipe)); skipped"
    assert errors["zero.png"] == "not a regular file (a character device); skipped"
    assert [kind for _, kind in find_files(images) if kind] == [errors["x.png"], errors["zero.png"]]


# ---------------------------------------------------------------------------------------------
# 8, 11, 13. Checkpoints: the spec is checked before anything is built; weights are checked


def _payload(spec=None, state=None) -> dict:
    model = build_model("mnist")
    return {
        "format": FORMAT,
        "spec": model.spec if spec is None else spec,
        "state_dict": model.state_dict() if state is None else state,
    }


def _weights(**changes) -> dict:
    state = dict(build_model("mnist").state_dict())
    for key, value in changes.items():
        if value is None:
            del state[key.replace("__", ".")]
        else:
            state[key.replace("__", ".")] = value
    return state


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_payload(spec={"arch": "lenet", "kwargs": {}}), "unknown architecture 'lenet'"),
        (_payload(spec={"arch": "mnist"}), "holds a 'mnist' network () but the model is"),
        (_payload(spec=["mnist"]), "a model spec is {'arch': name"),
        (_payload(spec={"arch": "mnist", "kwargs": []}), "a model spec is {'arch': name"),
        (_payload(spec={"arch": "mnist", "kwargs": {"depth": 3}}), "has no argument 'depth'"),
        (_payload(spec={"arch": "mnist", "kwargs": {"size": "28"}}), "size must be a whole"),
        (_payload(spec={"arch": "mnist", "kwargs": {"size": 28.0}}), "size must be a whole"),
        (_payload(spec={"arch": "mnist", "kwargs": {"size": 10}}), "cannot take 10 x 10 images"),
        (_payload(spec={"arch": "mnist", "kwargs": {"size": 100_000}}), "from 1 to 128"),
        (_payload(spec={"arch": "mnist", "kwargs": {"num_classes": 10**9}}), "from 1 to 10,000"),
        (_payload(spec={"arch": "mnist", "kwargs": {"num_classes": 0}}), "from 1 to 10,000"),
        (_payload(spec={"arch": "svhn", "kwargs": {"size": 128}}), "over the limit of 200,000,000"),
        (_payload(spec={"arch": "toy", "kwargs": {"activation": 3}}), "must be a string"),
        (_payload(state=[1, 2]), "not a mapping of tensors"),
        (_payload(state={"features.0.weight": [1.0]}), "not a mapping of tensors"),
        (_payload(state=_weights(features__0__weight=None)), "missing weights features.0.weight"),
        (_payload(state=_weights(extra=torch.zeros(1))), "unexpected weights extra"),
        (_payload(state=_weights(features__0__bias=torch.zeros(5))), "features.0.bias is"),
        (_payload(state=_weights(features__0__bias=torch.zeros(32, dtype=torch.long))), "int64"),
        (_payload(state=_weights(features__0__bias=torch.full((32,), float("nan")))), "NaN"),
        (_payload(state=_weights(features__0__bias=torch.full((32,), float("inf")))), "NaN"),
        ({"format": FORMAT, "spec": {}, "state_dict": {}, "config": [1]}, "config is not a dict"),
    ],
)
def test_8_11_a_bad_spec_or_bad_weights_are_a_clear_checkpoint_error(tmp_path, payload, message):
    path = tmp_path / "m.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert message in str(err.value) and "\n" not in str(err.value)


BOMB = """
import json, resource, sys
import torch
from dannlib.checkpoint import FORMAT, CheckpointError, load_checkpoint
from dannlib.models import build_model

size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
limit = size + 2**30  # 1 GB more than the interpreter with torch loaded
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
path, outcomes = sys.argv[1], []
for arch, name, value in json.loads(sys.argv[2]):
    spec = {"arch": arch, "kwargs": {name: value}}
    torch.save({"format": FORMAT, "spec": spec, "state_dict": {}}, path)
    try:
        load_checkpoint(path)
        outcomes.append("loaded")
    except CheckpointError as err:
        outcomes.append(f"refused: {err}")
try:  # the limit is real: building the first spec (what a regression would do) fails
    build_model("mnist", size=100_000)
except (MemoryError, RuntimeError) as err:
    outcomes.append(f"limit: {type(err).__name__}")
print(json.dumps(outcomes))
"""
BOMBS = [
    ("mnist", "size", 100_000),  # 120 GB if built
    ("mnist", "num_classes", 10**9),  # 400 GB if built
    ("svhn", "size", 128),  # 2 GB of weights, under every per-argument bound
    ("modern", "in_channels", 999_999),  # 800 M weights in the first convolution
]


@pytest.fixture(scope="module")
def bomb_outcomes(tmp_path_factory):
    """Load every BOMBS spec in one subprocess under an address-space limit."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.pt"
    result = subprocess.run(
        [sys.executable, "-c", BOMB, str(path), json.dumps(BOMBS)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-1000:]
    *outcomes, limit = json.loads(result.stdout)
    assert limit in ("limit: MemoryError", "limit: RuntimeError")  # a regression would fail
    return dict(zip(BOMBS, outcomes, strict=True)), path


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmSize from /proc")
@pytest.mark.parametrize("bomb", BOMBS, ids=lambda b: f"{b[0]}-{b[1]}")
def test_8_memory_bomb_specs_are_refused_under_a_memory_limit(bomb_outcomes, bomb):
    outcomes, path = bomb_outcomes
    assert outcomes[bomb].startswith(f"refused: {path} holds an unusable model spec: ")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a folder, not a checkpoint; pass the model.pt inside it"),
        (lambda p: os.mkfifo(p), "is a FIFO (named pipe), not a checkpoint file"),
        (lambda p: os.symlink(p, p), "is a symbolic link loop, not a checkpoint file"),
        (lambda p: os.symlink("/dev/null", p), "is a character device, not a checkpoint file"),
        (lambda p: p.write_bytes(b""), "is empty (0 bytes), not a checkpoint"),
    ],
)
def test_13_checkpoint_paths_that_are_not_files_get_clear_messages(tmp_path, make, message):
    path = tmp_path / "model.pt"
    make(path)
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_checkpoint(path)


# ---------------------------------------------------------------------------------------------
# 9, 10. The command line: bounded batch sizes, one line for every error, --debug tracebacks


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        ([*TRAIN, "--batch-size", "1000000000"], 2, "at most 4096 images per batch"),
        (
            ["predict", "--checkpoint", "m.pt", "--images", ".", "--batch-size", "10000"],
            2,
            "at most 4096 images per batch",
        ),  # fmt: skip
        ([*TRAIN, "--device", "foo"], 2, "--device 'foo': unknown device"),
        ([*TRAIN, "--device", "meta"], 2, "dann trains on cpu, cuda or mps"),
        ([*TRAIN, "--size", "1"], 2, "--size 1: 'mnist' network cannot take 1 x 1 images"),
        ([*TRAIN, "--size", "5000"], 2, "--size 5000: 'mnist' network: size must be"),
        ([*TRAIN, "--recipe", "course", "--size", "8"], 2, "'modern' network cannot take 8"),
        (["course", "--notebooks", "nowhere"], 1, "no course notebooks"),
        (["evaluate", "--checkpoint", "nowhere.pt", "--domain", "mnist"], 1, "no checkpoint at"),
        (["predict", "--checkpoint", "m.pt", "--images", "nowhere"], 2, "not a folder"),
    ],
)
def test_9_10_command_line_errors_are_one_line(
    tmp_path, no_work, capsys, monkeypatch, argv, code, message
):
    monkeypatch.chdir(tmp_path)
    try:
        result = main(argv)
    except SystemExit as exit_:  # argparse's errors
        result = exit_.code
    assert result == code
    assert message in one_error_line(capsys) and no_work == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_10_cuda_without_cuda_is_one_line_exit_1(tmp_path, no_work, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*TRAIN, "--device", "cuda"]) == 1
    assert "no such CUDA device here (0 found" in one_error_line(capsys) and no_work == []


def test_9_a_batch_larger_than_the_data_or_the_memory_is_refused(
    tmp_path, data_dir, capsys, monkeypatch
):
    args = [*TRAIN, "--steps", "1", "--limit", "40", "--data", str(data_dir)]
    assert main([*args, "--batch-size", "64", "--out", str(tmp_path / "a")]) == 2
    assert "--batch-size 64 is more than the 40 training images" in one_error_line(capsys)
    monkeypatch.setattr("dannlib.cli._device_bytes", lambda device: 40_000_000)  # 40 MB
    assert main([*args, "--batch-size", "40", "--out", str(tmp_path / "b")]) == 2
    line = one_error_line(capsys)
    assert re.search(
        r"would need about \d+ MB of memory for one step, more than half of the 40 MB", line
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no run folder was started


OS_ERRORS = [
    IsADirectoryError(21, "Is a directory"),
    FileExistsError(17, "File exists"),
    NotADirectoryError(20, "Not a directory"),
    OSError(30, "Read-only file system"),
    RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 GB"),
    ValueError("the labels of mnist go up to 9 but the model predicts 5 classes"),
]


@pytest.mark.parametrize("error", OS_ERRORS, ids=lambda e: type(e).__name__)
def test_10_os_device_and_value_errors_are_one_line_exit_1(
    tmp_path, checkpoint, images, capsys, monkeypatch, error
):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("dannlib.predict.predict_folder", fail)
    out = str(tmp_path / "p.csv")
    assert _predict(checkpoint, images, out) == 1
    line = one_error_line(capsys)
    assert line.startswith("dann predict: error: ") and "internal error" not in line
    with pytest.raises(type(error)):  # --debug: the traceback
        main(["predict", "--checkpoint", str(checkpoint), "--images", str(images), "--out", out,
              "--debug"])  # fmt: skip


def test_10_a_bug_is_not_disguised_as_a_usage_error(
    tmp_path, checkpoint, images, capsys, monkeypatch
):
    def bug(*args, **kwargs):
        return {}["missing"]

    monkeypatch.setattr("dannlib.predict.predict_folder", bug)
    assert _predict(checkpoint, images, str(tmp_path / "p.csv")) == 1
    line = one_error_line(capsys)
    assert "internal error: KeyError: 'missing' (a bug in dannlib: rerun with --debug" in line


def test_10_evaluate_with_fewer_classes_than_the_data_is_one_line(tmp_path, data_dir, capsys):
    five = save_checkpoint(tmp_path / "five.pt", build_model("mnist", num_classes=5))
    args = ["evaluate", "--checkpoint", str(five), "--domain", "mnist", "--limit", "50"]
    assert main([*args, "--data", str(data_dir), "--no-download"]) == 1
    assert "go up to 9 but the model predicts 5 classes" in one_error_line(capsys)


def test_11_nan_weights_are_refused_by_predict_and_evaluate(tmp_path, images, capsys):
    model = build_model("mnist")
    with torch.no_grad():
        model.label_head[0].weight[0, 0] = float("nan")
    path = save_checkpoint(tmp_path / "nan.pt", model)
    assert _predict(path, images, str(tmp_path / "p.csv")) == 1
    assert "holds NaN or infinite weights (label_head.0.weight)" in one_error_line(capsys)
    assert main(["evaluate", "--checkpoint", str(path), "--domain", "mnist"]) == 1
    assert "holds NaN or infinite weights" in one_error_line(capsys)
    assert not (tmp_path / "p.csv").exists()


# ---------------------------------------------------------------------------------------------
# 12, 13. Numbers in the API, the CSV and messages


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: importance_weights(x, x, clip=float("nan")), "clip must be a finite number"),
        (lambda x: importance_weights(x, x, clip=float("inf")), "clip must be a finite number"),
        (lambda x: importance_weights(x, x, clip=-1), "clip must be a finite number > 0"),
        (lambda x: importance_weights(x, x, clip="10"), "clip must be a finite number > 0"),
        (lambda x: importance_weights(x, x, eps=0), "eps must be a number with 0 < eps < 0.5"),
        (lambda x: importance_weights(x, x, eps=0.5), "eps must be a number with 0 < eps < 0.5"),
        (lambda x: importance_weights(x, x, eps=-1e-3), "eps must be a number with 0 < eps"),
        (lambda x: importance_weights(x, x, eps=float("nan")), "eps must be a number with 0"),
        (lambda x: clip_weights([1.0, 2.0], float("nan")), "max_weight must be a finite number"),
        (lambda x: proxy_a_distance(x, x, max_points=0), "max_points must be a whole number >= 4"),
        (lambda x: proxy_a_distance(x, x, max_points=2.5), "max_points must be a whole number"),
    ],
)
def test_12_13_unchecked_numbers_are_refused(call, message):
    x = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError) as err:
        call(x)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_13_csv_formulas_are_text_and_names_stay_on_one_line(tmp_path, checkpoint, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ["=1+1.png", "+cmd.png", "-2.png", "@sum.png", "two\nlines.png"]:
        (folder / name).write_bytes(b"not an image")
    assert _predict(checkpoint, folder, str(tmp_path / "p.csv")) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 5 and "dann predict: skipped two\\nlines.png: not an image" in err[-1]
    rows = (tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["'+cmd.png", "'-2.png", "'=1+1.png", "'@sum.png",
                                               "two\\nlines.png"]  # fmt: skip
    assert predictions_csv([]).splitlines() == ["path,label,confidence,error"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height; its pixel data is a stub."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 9))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


def test_13_max_pixels_above_pillows_limit_takes_effect(tmp_path, checkpoint, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "big.png").write_bytes(_png_header(10_000, 10_000))  # 100 MP > Pillow's 89.5
    args = ["--max-pixels", "200000000"]
    assert main(["predict", "--checkpoint", str(checkpoint), "--images", str(folder),
                 "--out", str(tmp_path / "p.csv"), *args]) == 1  # fmt: skip
    line = one_error_line(capsys)
    assert "big.png: unreadable or corrupt image" in line and "too large" not in line


def test_13_an_output_write_error_does_not_mention_the_data_folder(tmp_path, monkeypatch):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError) as err:
        atomic_write_text("x", tmp_path / "p.csv", hint="Choose another --out.")
    assert "Choose another --out." in str(err.value) and "DANNLIB_DATA" not in str(err.value)
    assert check_output(tmp_path / "p.csv") == (tmp_path / "p.csv").resolve()
