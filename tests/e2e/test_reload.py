"""SIGHUP to a running ``pumpctl run`` against pumpsim: one path builds the configuration at
start and at reload, so an unchanged file changes nothing (SR-21)."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import bench, journal_events, wait_until

SCALE = 60.0
pytestmark = pytest.mark.timeout(120)


def _next_slot(daemon) -> str:  # type: ignore[no-untyped-def]
    return str(daemon.control.request("status")["next_slot"])


def _reloads(daemon, name: str) -> int:  # type: ignore[no-untyped-def]
    return len(daemon.events(name))


def test_sighup_with_an_unchanged_time_of_day_config_changes_nothing(tmp_path: Path) -> None:
    """SR-21: SIGHUP with the same file journals no change and moves no slot; a changed dose is
    journaled and keeps the cadence."""
    sections = {"prescription": {"anchor": "07:30"}}
    with bench(tmp_path, scale=SCALE, lead=timedelta(minutes=30), sections=sections) as (
        _sim,
        daemon,
        _anchor,
    ):
        changes = len(journal_events(daemon.journal_path, "prescription.change"))
        before = _next_slot(daemon)
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: _reloads(daemon, "config.reload_unchanged") == 1, 10, "the reload")
        assert len(journal_events(daemon.journal_path, "prescription.change")) == changes
        assert _next_slot(daemon) == before

        config = daemon.config
        config.write_text(
            config.read_text(encoding="utf-8").replace("dose_ug = 10", "dose_ug = 8"),
            encoding="utf-8",
        )
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: _reloads(daemon, "config.reloaded") == 1, 10, "the second reload")
        change = journal_events(daemon.journal_path, "prescription.change")[-1]["payload"]
        assert (change["old"]["dose_ug"], change["new"]["dose_ug"]) == ("10", "8")
        assert change["old"]["anchor"] == change["new"]["anchor"]
        assert _next_slot(daemon) == before
        assert daemon.proc.poll() is None
