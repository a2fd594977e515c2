"""SVHN and USPS: not course data; with data="real" a clear, fast error offline, and parsing of
the real on-disk formats."""

import bz2
import socket
import threading
import time

import numpy as np
import pytest
import scipy.io
import torch

from dannlib.data import download
from dannlib.data.digits import USPS_MAX_TEXT_BYTES, read_svhn_mat, read_usps_bz2
from dannlib.data.download import DatasetUnavailable, host_reachable
from dannlib.data.registry import load_domain


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test here may reach the network."""
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")


@pytest.mark.parametrize(
    ("name", "split", "expected"),
    [("svhn", "train", "train_32x32.mat"), ("svhn", "test", "test_32x32.mat"),
     ("usps", "train", "usps.bz2"), ("usps", "test", "usps.t.bz2")],
)  # fmt: skip
def test_offline_error_is_clear_and_fast(tmp_path, name, split, expected):
    start = time.monotonic()
    with pytest.raises(DatasetUnavailable) as err:
        load_domain(name, split, data="real", root=tmp_path)
    assert time.monotonic() - start < 15
    message = str(err.value)
    assert expected in message and str(tmp_path / name.upper()) in message
    assert name.upper() in message and "http" in message
    assert isinstance(err.value, FileNotFoundError)


@pytest.mark.parametrize("name", ["svhn", "usps"])
def test_the_course_data_says_how_to_get_the_published_files(tmp_path, monkeypatch, name):
    monkeypatch.delenv("DANNLIB_OFFLINE")  # online or not: the course data never downloads
    monkeypatch.setattr(download, "host_reachable", lambda *a: pytest.fail("network asked"))
    with pytest.raises(DatasetUnavailable) as err:
        load_domain(name, root=tmp_path)
    message = str(err.value)
    assert f"{name.upper()} is not part of the course data" in message
    assert 'DATA = "real"' in message and "data='real'" in message
    assert str(tmp_path / name.upper()) in message and err.value.reason == (
        "not part of the course data"
    )
    assert not (tmp_path / name.upper()).exists()


def test_unreachable_host_is_detected_quickly(monkeypatch):
    monkeypatch.delenv("DANNLIB_OFFLINE")
    start = time.monotonic()
    assert not host_reachable("https://no-such-host.invalid/file", timeout=2)
    assert time.monotonic() - start < 15


def _fake_svhn(path, n=12):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)  # SVHN's H x W x C x N
    labels = (np.arange(n) % 10 + 1).reshape(n, 1)  # 1..10, where 10 means the digit 0
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"X": images, "y": labels})
    return images, labels


def test_svhn_mat_parsing(tmp_path):
    images, labels = _fake_svhn(tmp_path / "SVHN" / "test_32x32.mat")
    x, y = read_svhn_mat(tmp_path / "SVHN" / "test_32x32.mat")
    assert x.shape == (12, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(x[3], torch.from_numpy(images[..., 3].transpose(2, 0, 1)))
    assert y.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    scipy.io.savemat(tmp_path / "other.mat", {"X": images[:16], "y": labels})
    with pytest.raises(ValueError, match="holds no 32 x 32 x 3 x N uint8 images"):
        read_svhn_mat(tmp_path / "other.mat")


def test_usps_bz2_parsing(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.uniform(-1, 1, (5, 256))
    labels = [1, 2, 10, 5, 7]  # libsvm USPS labels are 1..10 for digits 0..9
    lines = [
        f"{label} " + " ".join(f"{j + 1}:{v:.6f}" for j, v in enumerate(row))
        for label, row in zip(labels, pixels, strict=True)
    ]
    with bz2.open(tmp_path / "usps.bz2", "wt") as f:
        f.write("\n".join(lines) + "\n")
    x, y = read_usps_bz2(tmp_path / "usps.bz2")
    assert x.shape == (5, 1, 16, 16) and y.tolist() == [0, 1, 9, 4, 6]
    expected = (pixels.reshape(5, 16, 16) + 1) / 2 * 255  # [-1, 1] mapped to [0, 255]
    assert np.abs(x[:, 0].numpy() - expected).max() < 1.01  # truncated, as torchvision does
    (tmp_path / "bomb.bz2").write_bytes(bz2.compress(b"1 " * (USPS_MAX_TEXT_BYTES // 2 + 1)))
    with pytest.raises(ValueError, match="decompresses to over"):
        read_usps_bz2(tmp_path / "bomb.bz2")


def test_a_black_holed_network_costs_one_timeout_per_host(monkeypatch, tmp_path):
    """Connections that never answer: each host is waited for once, then remembered."""
    monkeypatch.delenv("DANNLIB_OFFLINE")
    monkeypatch.setattr(download, "CONNECT_TIMEOUT_S", 0.2)
    monkeypatch.setattr(download, "_unreachable", {})
    release, attempts = threading.Event(), []

    def hang(address, timeout=None):
        attempts.append(address[0])
        release.wait(5)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.monotonic()
    try:
        for name, split in [("svhn", "train"), ("svhn", "test"), ("usps", "test")]:
            with pytest.raises(DatasetUnavailable, match="no network"):
                load_domain(name, split, data="real", root=tmp_path)
    finally:
        release.set()
    assert sorted(attempts) == ["ufldl.stanford.edu", "www.csie.ntu.edu.tw"]
    assert time.monotonic() - start < 3
