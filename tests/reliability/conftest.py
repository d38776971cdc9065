"""The reliability tests run once per pump family (tests/conftest.py reports their numbers)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["ne1000", "harvard11"])
def driver(request: pytest.FixtureRequest) -> str:
    """Each campaign case runs once per pump family, each against its own pumpsim."""
    name: str = request.param
    return name
