"""`Domain`: one labelled dataset held in memory, with a note of where it came from;
`DomainPair`: the domains of one adaptation task."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch


@dataclass
class Domain:
    """Inputs `x` (uint8 N x C x H x W images, or float32 N x D features), int64 labels `y`.

    `info` says what the data is and where it came from: at least name, split, source, count.
    """

    x: torch.Tensor
    y: torch.Tensor
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or not isinstance(self.y, torch.Tensor):
            raise TypeError(
                f"Domain needs torch tensors, got x: {type(self.x).__name__}, y: "
                f"{type(self.y).__name__}; convert NumPy arrays with torch.from_numpy"
            )
        if self.x.dim() == 0 or self.y.dim() != 1:
            raise ValueError(
                f"Domain needs x with one row per example and 1-D labels y, got shapes "
                f"{tuple(self.x.shape)} and {tuple(self.y.shape)}"
            )
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")
        if torch.is_floating_point(self.y) or torch.is_complex(self.y):
            raise TypeError(
                f"labels must be integers 0, 1, 2, ..., got {self.y.dtype}; if they are whole "
                "numbers, pass y.long()"
            )
        if len(self.y) and int(self.y.min()) < 0:
            raise ValueError(f"labels must be 0, 1, 2, ..., got {int(self.y.min())}")
        if not isinstance(self.info, dict):
            raise TypeError(f"info must be a dict, got {type(self.info).__name__}")
        self.y = self.y.long()
        self.info = {**self.info, "count": len(self.y)}

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index):
        return self.x[index], self.y[index]

    @property
    def name(self) -> str:
        """Short name, e.g. 'mnist' or 'moons(35 deg)'."""
        return str(self.info.get("name", "data"))

    @property
    def num_classes(self) -> int:
        """Number of classes (largest label + 1)."""
        return int(self.y.max()) + 1 if len(self.y) else 0

    def subset(self, index: torch.Tensor | slice, **info) -> Domain:
        """The rows `index` as a new Domain; extra keyword arguments update `info`."""
        return Domain(self.x[index], self.y[index], {**self.info, **info})

    def head(self, n: int | None) -> Domain:
        """The first `n` rows (all rows if n is None)."""
        return self if n is None or n >= len(self) else self.subset(slice(0, n))


PAIR_SPLITS = ("source", "target", "source_test", "target_test")


@dataclass(eq=False)
class DomainPair(Mapping):
    """Source and target domains of one task, train and test splits (`source_test` may be None).

    Read as attributes (`pair.source`) or as a mapping (`pair["source"]`, `pair.items()`, in
    the order source, target, source_test, target_test; a missing split is left out).
    """

    source: Domain
    target: Domain
    target_test: Domain
    source_test: Domain | None = None
    task: str = ""
    size: int | None = None  # image size of a digit task; None for feature data

    def __post_init__(self) -> None:
        for key in PAIR_SPLITS:
            value = getattr(self, key)
            if not (isinstance(value, Domain) or (key == "source_test" and value is None)):
                raise TypeError(f"DomainPair.{key} must be a Domain, got {type(value).__name__}")

    def __getitem__(self, key: str) -> Domain:
        if key not in self:
            raise KeyError(f"{key!r}: a DomainPair holds {', '.join(self)}")
        return getattr(self, key)

    def __contains__(self, key) -> bool:
        return key in PAIR_SPLITS and getattr(self, key) is not None

    def __iter__(self) -> Iterator[str]:
        return (key for key in PAIR_SPLITS if getattr(self, key) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Model input from stored data: uint8 images to float in [0, 1]; floats unchanged.

    Images (N x C x H x W) come back channels-last in memory (same shape and values): CPU
    convolutions run 30-40% faster on them (benchmarks/).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    elif not torch.is_floating_point(x):
        raise TypeError(
            f"expected uint8 images or float features, got {x.dtype}; store images as "
            "uint8 (0-255) and features as float"
        )
    else:
        x = x.float()
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
