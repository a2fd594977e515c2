"""On-disk cache of generated datasets: atomic writes, checksum and metadata checked on read."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from dannlib.files import atomic_torch_save


def tensor_checksum(*tensors: torch.Tensor) -> str:
    """sha256 over the bytes of `tensors` (made contiguous, on the CPU)."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_cached(path: Path, meta: dict) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(x, y) from the cache at `path` if it is intact and was built from `meta`; else None."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        x, y = blob["x"], blob["y"]
        ok = blob["meta"] == meta and blob["sha256"] == tensor_checksum(x, y)
        problem = "its checksum or metadata does not match"
    except Exception as err:  # a truncated or corrupt file fails in many ways
        ok, problem = False, f"it cannot be read ({type(err).__name__}: {err})"
    if not ok:
        warnings.warn(f"cache {path} is unusable: {problem}; rebuilding it", stacklevel=3)
        return None
    return x, y


def cached(
    path: Path, meta: dict, build: Callable[[], tuple[torch.Tensor, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) from the cache at `path`, else `build()` them and cache them atomically."""
    hit = load_cached(path, meta)
    if hit is not None:
        return hit
    x, y = build()
    atomic_torch_save({"x": x, "y": y, "meta": meta, "sha256": tensor_checksum(x, y)}, path)
    return x, y
