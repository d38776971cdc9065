"""Fixtures shared by every test directory."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from tests.builders import clock, limits, prescription

__all__ = ["clock", "limits", "prescription"]


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """Each test starts from structlog's defaults and the root logger it found.

    Commands run in-process configure logging globally (as they do in their own process);
    without this, one test's configuration would leak into the next.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)
