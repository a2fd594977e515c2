"""Bad input, interruptions, offline failures and untrusted files: the API holds.

Neighbouring files cover the rest: offline SVHN/USPS errors (test_data_svhn_usps), a damaged
generated cache (test_data_mnistm), unsafe tar members (test_data_bsds), truncated, foreign and
mismatched checkpoints (test_checkpoint), invalid domain, task, mode and profile names
(test_data_registry, test_train, test_config_and_toy, test_models), and the `dann` command's
outputs, interrupts, hangs and memory bombs (test_reliability_round2).
"""

import ast
import gzip
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim.optimizer import register_optimizer_step_pre_hook

import dannlib
from dannlib import build_model, fit, set_seed
from dannlib.checkpoint import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from dannlib.data.base import Domain, to_float
from dannlib.data.bsds import UnsafeArchive, safe_extract
from dannlib.data.cache import tensor_checksum
from dannlib.data.digits import MNIST_REMOTES
from dannlib.data.download import DatasetUnavailable, host_reachable
from dannlib.data.registry import (
    balanced_subset,
    domain_pair,
    load_domain,
    resize_images,
    to_channels,
)
from dannlib.data.toy import moons_pair
from dannlib.lessons import get_profile
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

    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a background job
    handle = register_optimizer_step_pre_hook(ctrl_c)
    try:
        with pytest.warns(UserWarning, match="interrupted after 5 of 8"):
            model, history = _modern_run()
    finally:
        handle.remove()
    assert history.steps["step"] == [1, 2, 3, 4, 5] and _same_state(model, reference[5])
    assert signal.getsignal(signal.SIGINT) is before  # handler restored


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


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: load_domain("mnist", size=0), "size must be a positive whole number or None"),
        (lambda: load_domain("mnist", limit="10"), "limit must be a positive whole number"),
        (lambda: load_domain("mnist", channels=2), "channels must be 1 or 3, got 2"),
        (lambda: load_domain(None), "choose one of: mnist, mnist_m, syn_digits, svhn, usps"),
        (lambda: domain_pair("mnist->mnist_m", size=-1), "size must be a positive whole number"),
        (lambda: build_model("lenet"), "choose one of: mnist, svhn, modern, toy"),
        (lambda: get_profile("slow"), "choose one of: quick, default, paper"),
    ],
)
def test_bad_api_arguments_give_one_line_errors(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------------
# Data: no network, damaged downloads, unwritable roots, concurrent cache generation


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")


def test_no_network_fails_within_seconds_naming_the_file_and_folder(tmp_path, monkeypatch):
    """DANNLIB_OFFLINE unset: the real reachability check meets a failing DNS lookup."""
    monkeypatch.delenv("DANNLIB_OFFLINE", raising=False)

    def no_dns(*args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "create_connection", no_dns)
    start = time.monotonic()
    with pytest.raises(DatasetUnavailable) as err:
        load_domain("svhn", "test", data="real", root=tmp_path)
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert "test_32x32.mat not found in" in message and "no network" in message
    assert f"put it in {tmp_path / 'SVHN'}/" in message and "http://ufldl.stanford.edu" in message


def test_a_network_that_hangs_is_given_up_on_within_the_timeout(monkeypatch):
    monkeypatch.delenv("DANNLIB_OFFLINE", raising=False)
    release = threading.Event()

    def hang(*args, **kwargs):  # a black-holed network: the connection attempt never answers
        release.wait(30)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.monotonic()
    try:
        assert not host_reachable("https://example.org/file", timeout=0.5)
    finally:
        release.set()
    assert time.monotonic() - start < 3


def _fake_svhn_mat(path, n=10):
    path.parent.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(0).integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    scipy.io.savemat(path, {"X": images, "y": (np.arange(n) % 10 + 1).reshape(n, 1)})
    return path


def test_a_damaged_download_is_reported_offline(tmp_path, offline):
    path = _fake_svhn_mat(tmp_path / "SVHN" / "test_32x32.mat")
    path.write_bytes(path.read_bytes()[:300])  # a download cut short
    with pytest.raises(DatasetUnavailable, match="test_32x32.mat in .* is damaged .*md5"):
        load_domain("svhn", "test", data="real", root=tmp_path)


def test_a_damaged_download_is_fetched_again_when_online(tmp_path, monkeypatch):
    monkeypatch.delenv("DANNLIB_OFFLINE", raising=False)  # conftest sets it
    path = _fake_svhn_mat(tmp_path / "SVHN" / "test_32x32.mat")
    good = path.read_bytes()
    path.write_bytes(good[:300])
    fetched = []

    def fake_download(url, path, checksum, **limits):
        fetched.append(url)
        Path(path).write_bytes(good)
        return Path(path)

    monkeypatch.setattr("dannlib.data.download.host_reachable", lambda url: True)
    monkeypatch.setattr("dannlib.data.download.download_file", fake_download)
    domain = load_domain("svhn", "test", data="real", root=tmp_path)
    assert len(fetched) == 1 and fetched[0].endswith("test_32x32.mat") and len(domain) == 10


def test_a_download_that_breaks_off_leaves_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DANNLIB_OFFLINE", raising=False)  # conftest sets it

    def broken_response(url, timeout):
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr("dannlib.data.download.host_reachable", lambda url: True)
    monkeypatch.setattr("urllib.request.urlopen", broken_response)
    with pytest.raises(DatasetUnavailable, match="the download failed .*Connection reset"):
        load_domain("usps", "test", data="real", root=tmp_path)
    assert not (tmp_path / "USPS" / "usps.t.bz2").exists()


def test_damaged_mnist_files_are_reported_with_what_to_do(tmp_path, offline):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for remote in MNIST_REMOTES["train"]:  # right header, pixel data cut short
        magic = 0x803 if "images" in remote.filename else 0x801
        dims = (60000, 28, 28) if "images" in remote.filename else (60000,)
        head = struct.pack(f">{1 + len(dims)}i", magic, *dims)
        (raw / remote.filename).write_bytes(gzip.compress(head + b"\0" * 50))
    with pytest.raises(DatasetUnavailable, match="damaged or another file .*md5 checksum") as err:
        load_domain("mnist", data="real", root=tmp_path)
    assert f"put it in {raw}/" in str(err.value) and "DANNLIB_OFFLINE is set" in str(err.value)


def test_a_data_root_without_write_permission_gives_a_clear_error(tmp_path, monkeypatch, offline):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # as on a read-only shared folder
    with pytest.raises(PermissionError, match="Permission denied. Choose a writable folder"):
        load_domain("syn_digits", "test", root=tmp_path, limit=10)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to a read-only folder")
def test_a_read_only_data_root_gives_a_clear_error(tmp_path, offline):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="set DANNLIB_DATA or pass root="):
            load_domain("syn_digits", "test", root=tmp_path / "data", limit=10)
    finally:
        tmp_path.chmod(0o700)


CHILD = """
import sys, time
from pathlib import Path

import torch

import dannlib.data.syndigits as syn
from dannlib.data.cache import tensor_checksum
from dannlib.data.registry import load_domain

root, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
build = syn.make_syn_digits


def build_then_wait(*args):
    out = build(*args)
    (root / f"built-{me}").touch()
    while not (root / f"built-{other}").exists():  # both have built before either writes
        time.sleep(0.01)
    return out


syn.make_syn_digits = build_then_wait
domain = load_domain("syn_digits", "test", root=root / "data", limit=20)
print(tensor_checksum(domain.x, domain.y))
"""


def test_two_processes_generating_one_cache_leave_one_valid_file(tmp_path):
    env = {**os.environ, "DANNLIB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), me, other],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    checksums = {out.strip() for out, _ in results}
    assert len(checksums) == 1  # both processes got the same data
    files = sorted(p.relative_to(tmp_path / "data") for p in (tmp_path / "data").rglob("*"))
    assert files == [Path("syn_digits"), Path("syn_digits/test_seed0_n20.pt")]  # no temp files
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unusable cache would warn and rebuild
        again = load_domain("syn_digits", "test", root=tmp_path / "data", limit=20)
    assert checksums == {tensor_checksum(again.x, again.y)}


# ---------------------------------------------------------------------------------------------
# Checkpoints: untrusted files, interrupted saves


class _RunsCode:
    """Unpickling this calls Path.touch: what a booby-trapped checkpoint could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path):
    path, marker = tmp_path / "evil.pt", tmp_path / "code-ran"
    payload = {"format": FORMAT, "spec": build_model("toy").spec, "state_dict": _RunsCode(marker)}
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="not a readable dannlib checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the trap is real: an unsafe load runs it
    assert marker.exists()


def test_every_torch_load_in_dannlib_is_weights_only():
    calls = []
    for source in Path(dannlib.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                flags = {k.arg: ast.unparse(k.value) for k in node.keywords}
                calls.append((source.name, flags.get("weights_only")))
    assert calls and all(flag == "True" for _, flag in calls), calls


def test_ctrl_c_in_the_middle_of_a_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", build_model("toy"))
    before = path.read_bytes()
    real_save = torch.save

    def save_half_then_interrupt(obj, f):
        real_save(obj, f)
        Path(f).write_bytes(Path(f).read_bytes()[:100])  # half-written when Ctrl-C lands
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, build_model("toy", hidden=4))
    assert path.read_bytes() == before and load_checkpoint(path)[0].spec["kwargs"]["hidden"] == 15
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


# ---------------------------------------------------------------------------------------------
# Archives: special files are refused too (paths and links: test_data_bsds)


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_archive_special_files_are_refused(tmp_path, kind):
    archive = tmp_path / "a.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("photos/ok.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"fine"))
        special = tarfile.TarInfo("photos/device")
        special.type = kind
        tar.addfile(special)
    with pytest.raises(UnsafeArchive, match="not a file or folder"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# Fuzz: the public data transforms never fail with an unhandled exception

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None)
DTYPES = st.sampled_from([torch.uint8, torch.int64, torch.float32, torch.float64, torch.bool])
SHAPES = st.lists(st.integers(0, 5), min_size=0, max_size=5).map(tuple)


IMAGE_SHAPES = st.tuples(
    st.integers(0, 4), st.sampled_from([1, 2, 3, 4]), st.integers(1, 9), st.integers(1, 9)
)


@st.composite
def tensors(draw, dtypes=DTYPES, shapes=SHAPES):
    """Random tensors; half of them uint8 N x C x H x W images, the form the transforms take."""
    if draw(st.booleans()):
        dtypes, shapes = st.just(torch.uint8), IMAGE_SHAPES
    dtype, shape = draw(dtypes), draw(shapes)
    low, high = draw(st.sampled_from([(0, 1), (0, 255), (-1000, 1000)]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 1000)))
    return torch.randint(low, high + 1, shape, generator=g).to(dtype)


def _clear(err: Exception) -> bool:
    """A clear error: ValueError/TypeError whose one-line message says what was expected."""
    text = str(err)
    return isinstance(err, (ValueError, TypeError)) and 20 < len(text) and "\n" not in text


@FUZZ
@given(x=tensors(), size=st.one_of(st.integers(1, 12), st.sampled_from([0, -1, 2.5, None, "8"])))
def test_fuzz_resize_images(x, size):
    try:
        out = resize_images(x, size)
    except Exception as err:
        assert _clear(err), repr(err)
    else:
        assert out.dtype == torch.uint8 and out.shape == (*x.shape[:2], size, size)


@FUZZ
@given(x=tensors(), channels=st.sampled_from([1, 3, 1, 3, 0, 2, 4, "3"]))
def test_fuzz_to_channels(x, channels):
    try:
        out = to_channels(x, channels)
    except Exception as err:
        assert _clear(err), repr(err)
    else:
        assert out.dtype == torch.uint8 and out.shape == (x.shape[0], channels, *x.shape[2:])
        if x.shape[1] == 1:
            assert torch.equal(out[:, :1], x)


@FUZZ
@given(x=tensors())
def test_fuzz_to_float(x):
    try:
        out = to_float(x)
    except Exception as err:
        assert _clear(err), repr(err)
    else:
        assert out.dtype == torch.float32 and out.shape == x.shape
        if x.dtype == torch.uint8 and x.numel():
            assert torch.allclose(out * 255, x.float(), atol=1e-3) and float(out.max()) <= 1.0


@FUZZ
@given(x=tensors(), labels=tensors(shapes=st.lists(st.integers(0, 6), max_size=2).map(tuple)))
def test_fuzz_domain_construction(x, labels):
    # half the time one label per row of x (the usual case), else the random tensor as it is
    y = labels.flatten()[: len(x)] if x.dim() and labels.numel() >= len(x) else labels
    try:
        domain = Domain(x, y, {"name": "fuzz"})
    except Exception as err:
        assert _clear(err), repr(err)
    else:
        assert len(domain) == len(x) == len(y) and domain.y.dtype == torch.int64
        assert domain.info == {"name": "fuzz", "count": len(y)}
        assert len(domain) == 0 or domain.num_classes == int(y.max()) + 1


@FUZZ
@given(
    labels=st.lists(st.integers(0, 4), max_size=30),
    limit=st.one_of(st.integers(-3, 40), st.just(2.0), st.just(True)),
    seed=st.one_of(st.integers(0, 2**31), st.just(-1)),
)
def test_fuzz_balanced_subset(labels, limit, seed):
    y = torch.tensor(labels, dtype=torch.int64)
    domain = Domain(torch.arange(len(y)).view(-1, 1), y, {"name": "fuzz"})
    try:
        sub = balanced_subset(domain, limit, seed)
    except Exception as err:
        assert _clear(err), repr(err)
    else:
        assert len(sub) == min(limit, len(y))
        assert len(set(sub.x.view(-1).tolist())) == len(sub)  # no row twice
        assert torch.equal(sub.y, y[sub.x.view(-1)])  # rows keep their labels
        counts = torch.bincount(sub.y, minlength=5)
        available = torch.bincount(y, minlength=5)
        # balanced: a class is short of another only when it has run out of rows
        for a in range(5):
            for b in range(5):
                assert counts[a] <= counts[b] + 1 or counts[b] == available[b]
