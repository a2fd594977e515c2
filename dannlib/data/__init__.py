"""Datasets as in-memory tensors: toy domains and digit domains."""

from dannlib.data.base import Domain, DomainPair, to_float
from dannlib.data.download import DatasetUnavailable
from dannlib.data.gallery import show_gallery
from dannlib.data.registry import DATA_CHOICES, DOMAINS, TASKS, domain_pair, load_domain

__all__ = [
    "DATA_CHOICES",
    "DOMAINS",
    "TASKS",
    "DatasetUnavailable",
    "Domain",
    "DomainPair",
    "domain_pair",
    "load_domain",
    "show_gallery",
    "to_float",
]
