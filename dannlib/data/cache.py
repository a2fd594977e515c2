"""On-disk cache of generated datasets: atomic writes; checked on read against what it must hold.

A cache is read only if its metadata is the one asked for, its tensors are plain ones of the
expected dtype and shape (checked before any value is read, `dannlib.tensors`), its labels are
the labels the data must have (a relabelled cache with a recomputed checksum is refused), and
its checksum matches. Anything else is rebuilt, with a warning that says why.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from dannlib.files import atomic_torch_save, one_line, printable
from dannlib.tensors import check_tensor


def tensor_checksum(*tensors: torch.Tensor) -> str:
    """sha256 over the bytes of `tensors` (made contiguous, on the CPU); check tensors read
    from a file with `dannlib.tensors.check_tensor` first."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _check(blob, meta: dict, shape: tuple[int, ...], labels: torch.Tensor) -> None:
    """ValueError saying why `blob` is not the cache of `meta` with images `shape`, `labels`."""
    if not isinstance(blob, dict) or not {"x", "y", "meta", "sha256"} <= blob.keys():
        raise ValueError("it is not a dannlib data cache")
    if blob["meta"] != meta:
        raise ValueError("it was built from other settings")
    check_tensor(blob["x"], "its images", dtype=torch.uint8, shape=shape)
    check_tensor(blob["y"], "its labels", dtype=torch.int64, shape=(len(labels),))
    if not torch.equal(blob["y"], labels):
        raise ValueError("its labels are not the data's")
    if blob["sha256"] != tensor_checksum(blob["x"], blob["y"]):
        raise ValueError("its checksum does not match")


def load_cached(
    path: Path, meta: dict, shape: tuple[int, ...], labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(x, y) from the cache at `path` if it is intact, was built from `meta` and holds images
    of `shape` with exactly `labels`; else None (with a warning if a file was there)."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        _check(blob, meta, shape, labels)
    except Exception as err:  # a truncated or corrupt file fails in many ways
        what = (
            one_line(err, 200)
            if isinstance(err, ValueError)
            else f"{type(err).__name__}: {one_line(err, 200)}"
        )
        warnings.warn(f"cache {printable(path)} is unusable ({what}); rebuilding it", stacklevel=3)
        return None
    return blob["x"], blob["y"]


def cached(
    path: Path,
    meta: dict,
    build: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    shape: tuple[int, ...],
    labels: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) from the cache at `path`, else `build()` them and cache them atomically.

    `shape` and `labels` are what the data must be (images N x C x H x W, int64 labels).
    """
    hit = load_cached(path, meta, shape, labels)
    if hit is not None:
        return hit
    x, y = build()
    atomic_torch_save({"x": x, "y": y, "meta": meta, "sha256": tensor_checksum(x, y)}, path)
    return x, y
