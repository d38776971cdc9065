"""The daemon's delivery tests run once per pump family, each against its own pumpsim."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["ne1000", "harvard11"])
def driver(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name
