"""Fixtures and hooks shared by every test directory.

The default run is spread over pytest-xdist workers (``-n`` in pyproject's addopts); the hooks
below keep what a worker builds once for many tests on that one worker, start the slowest
directories first, and bring the reliability campaign's numbers back from the workers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from tests.builders import clock, limits, prescription
from tests.reliability import campaign_numbers

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


#: Directories by how long their tests wait, longest first: they start first, so that a
#: worker is not left alone with a long pty or crash-campaign test at the end of the run.
_FIRST = ("e2e", "reliability", "fleet", "integration", "daemon")


def _shared_fixture(item: pytest.Item) -> str | None:
    """The group of tests that share one of our module- or session-scoped fixtures with ``item``.

    Only fixtures defined under tests/ count: pytest's own (tmp_path_factory is session-scoped)
    are cheap and would put every test in one group.
    """
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    ours = [
        defs[-1]
        for defs in info.name2fixturedefs.values()
        if defs and defs[-1].baseid.startswith("tests")
    ]
    sessions = sorted(d.argname for d in ours if d.scope == "session")
    if sessions:
        # One worker builds it (the PostgreSQL cluster), not every worker.
        return "session:" + ",".join(sessions)
    if any(d.scope == "module" for d in ours):
        return item.nodeid.split("::", 1)[0]
    return None


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    # Before the other hooks: xdist names each test's group from these marks.
    for item in items:
        group = _shared_fixture(item)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            # Tests of one module-scoped fixture share a worker (--dist loadgroup), so an
            # expensive fixture (a simulated year, a running daemon) is built once per run.
            item.add_marker(pytest.mark.xdist_group(group))
    yield
    # After them: pytest-randomly's shuffle is kept within each rank (the sort is stable).

    def rank(item: pytest.Item) -> int:
        parts = item.nodeid.split("/")
        folder = parts[1] if len(parts) > 2 else ""
        return _FIRST.index(folder) if folder in _FIRST else len(_FIRST)

    items.sort(key=rank)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand the campaign numbers this worker counted to the controller."""
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["campaign_numbers"] = dict(campaign_numbers.NUMBERS)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: only called (and known) with xdist
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the controller: add up the numbers each worker counted."""
    numbers: dict[str, float] = getattr(node, "workeroutput", {}).get("campaign_numbers", {})
    for key, amount in numbers.items():
        campaign_numbers.add(key, amount)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print and save the reliability campaign's numbers at the end of a run that counted any."""
    if not campaign_numbers.NUMBERS:
        return
    marks = str(terminalreporter.config.option.markexpr)
    form = "long" if "long" in marks and "not long" not in marks else "short"
    path = campaign_numbers.write(form)
    terminalreporter.section("reliability campaign")
    for line in campaign_numbers.report_lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(saved to {path})")
