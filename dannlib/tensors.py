"""Checks of tensors read from files, made before anything touches their values.

`torch.load(weights_only=True)` runs no code, but a tiny file can still describe a tensor of
billions of values: a stride-0 view of one stored number (`torch.zeros(1).expand(6e9)`) is a
few bytes on disk, and the first operation that reads it whole (`.contiguous()`, a checksum,
`isfinite`, a copy) allocates gigabytes. A sparse tensor in place of a weight breaks later
code in other ways. `check_tensor` looks only at the metadata (layout, shape, strides, the
storage's size) and refuses such tensors; `check_tensors` applies it to every tensor inside a
loaded object (a checkpoint, a cache, a History). Use them on anything read from a file.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

MAX_DEPTH = 64  # nesting of dicts and lists in a loaded object (checkpoints use about 6)


def check_tensor(
    t,
    what: str = "tensor",
    *,
    dtype: torch.dtype | None = None,
    shape: tuple[int, ...] | None = None,
    max_bytes: int | None = None,
) -> torch.Tensor:
    """`t` if it is a plain dense tensor whose storage holds all of its values; ValueError
    saying what is wrong otherwise. Optionally also its `dtype`, `shape` and size in bytes.

    Dense means every value has its own place in the storage (any order of dimensions, so
    channels-last tensors pass); views that repeat values (stride 0) or skip them are refused.
    """
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{what} is a {type(t).__name__}, not a tensor")
    if t.layout != torch.strided or t.is_nested or t.is_quantized:
        kind = "nested" if t.is_nested else "quantized" if t.is_quantized else str(t.layout)
        raise ValueError(
            f"{what} is a {kind.removeprefix('torch.')} tensor; only dense ones are read"
        )
    storage = t.untyped_storage().nbytes()
    needed = (t.storage_offset() + t.numel()) * t.element_size()
    if not _dense(t) or (t.numel() and needed > storage):
        raise ValueError(
            f"{what} is a strided view ({t.numel():,} values over {storage:,} bytes of "
            "storage); only plain tensors are read"
        )
    if dtype is not None and t.dtype != dtype:
        raise ValueError(f"{what} holds {t.dtype}, expected {dtype}")
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise ValueError(f"{what} has shape {tuple(t.shape)}, expected {tuple(shape)}")
    if max_bytes is not None and t.numel() * t.element_size() > max_bytes:
        raise ValueError(f"{what} holds {t.numel() * t.element_size():,} bytes, over {max_bytes:,}")
    return t


def _dense(t: torch.Tensor) -> bool:
    """True if the strides of `t` lay its values out without gaps or repeats (in any order)."""
    expected = 1
    for stride, size in sorted((s, n) for s, n in zip(t.stride(), t.shape) if n != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def check_tensors(obj, what: str = "object", max_depth: int = MAX_DEPTH) -> None:
    """ValueError unless every tensor inside `obj` (dicts, lists and tuples, nested at most
    `max_depth` deep) passes `check_tensor`; the message names where the bad one is."""
    stack = [(obj, what, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, torch.Tensor):
            check_tensor(item, where)
            continue
        if isinstance(item, Mapping):
            children = [(v, f"{where}[{k!r:.40}]") for k, v in item.items()]
        elif isinstance(item, (list, tuple)):
            children = [(v, f"{where}[{i}]") for i, v in enumerate(item)]
        else:
            continue
        if depth >= max_depth:
            raise ValueError(f"{where} is nested more than {max_depth} levels deep")
        stack.extend((child, name, depth + 1) for child, name in children)
