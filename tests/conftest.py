"""Fixtures shared by the unit tests."""

import pytest
from published_mirror import serve


@pytest.fixture
def published_mirror(tmp_path_factory, monkeypatch):
    """A local mirror of the published datasets (tests/published_mirror.py), with dannlib
    pointed at it through the environment (network allowed) for the test's duration."""
    with serve(tmp_path_factory.mktemp("mirror")) as mirror:
        for key, value in mirror.env.items():
            monkeypatch.setenv(key, value)
        yield mirror
