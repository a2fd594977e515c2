"""Datasets as in-memory tensors: toy domains and digit domains."""

from dannlib.data.base import Domain, to_float

__all__ = ["Domain", "to_float"]

# digit domains (issue 3)
from dannlib.data.download import DatasetUnavailable  # noqa: E402
from dannlib.data.gallery import show_gallery  # noqa: E402
from dannlib.data.registry import (  # noqa: E402
    DOMAINS,
    TASKS,
    DomainPair,
    domain_pair,
    load_domain,
)

__all__ += [
    "DOMAINS",
    "TASKS",
    "DatasetUnavailable",
    "DomainPair",
    "domain_pair",
    "load_domain",
    "show_gallery",
]
