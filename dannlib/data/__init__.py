"""Datasets as in-memory tensors: toy domains and digit domains."""

from dannlib.data.base import Domain, to_float

__all__ = ["Domain", "to_float"]
