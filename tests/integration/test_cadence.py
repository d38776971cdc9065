"""One slot resolution: the daemon at start and on reload, and plan, place the same slots."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pumpctl.cadence import read_journal, resolve
from pumpctl.config import Config, parse_config_text
from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.configuration import (
    effective_prescription,
    prescription_dict,
    record_configuration,
)
from pumpctl.daemon.runner import install_signals
from pumpctl.journal import Journal

LOADED = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 13:00 in Berlin


def config_text(dose: str = "10", anchor: str = "08:00") -> str:
    return f"""
[prescription]
dose_ug = {dose}
concentration_ug_per_ml = 1000
interval_min = 100
pulse_duration_s = 60
anchor = "{anchor}"
timezone = "Europe/Berlin"

[pump]
driver = "ne1000"
url = "socket://127.0.0.1:7777"
syringe_diameter_mm = 4.78
syringe_volume_ul = 1000

[journal]
state_dir = "/nonexistent"
"""


def load(**changes: str) -> Config:
    return parse_config_text(config_text(**changes), now=LOADED)


def journaled_days_back(config: Config, days: int) -> dict[str, Any]:
    p = config.prescription
    return prescription_dict(replace(p, anchor=p.anchor - timedelta(days=days)))


def test_a_time_of_day_anchor_is_placed_at_the_last_occurrence_before_loading() -> None:
    """'08:00' loaded at 13:00 Berlin means today's 08:00 Berlin (07:00 UTC)."""
    cadence = resolve(load(), None)
    assert cadence.prescription.anchor == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    assert not cadence.from_journal


def test_the_journaled_anchor_stays_while_the_prescription_is_unchanged() -> None:
    """SR-32: a restart days later keeps the cadence the journal follows."""
    config = load()
    cadence = resolve(config, journaled_days_back(config, 3))
    assert cadence.from_journal
    assert cadence.prescription.anchor == datetime(2026, 3, 7, 7, 0, tzinfo=UTC)


def test_a_changed_prescription_starts_from_its_own_anchor() -> None:
    """A new dose, or a new time of day, is a new prescription with the anchor placed anew."""
    old = load()
    assert not resolve(load(dose="12"), journaled_days_back(old, 3)).from_journal
    assert not resolve(load(anchor="09:00"), journaled_days_back(old, 3)).from_journal


def test_a_date_time_anchor_is_always_the_configured_one() -> None:
    """A fixed anchor is never replaced by the journal's."""
    config = load(anchor="2026-03-01T08:00:00+01:00")
    journaled = dict(prescription_dict(config.prescription), anchor="2026-02-01T08:00:00+01:00")
    cadence = resolve(config, journaled)
    assert cadence.prescription.anchor == config.prescription.anchor
    assert not cadence.from_journal


@pytest.fixture
def restore_signals() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_reload_keeps_the_journaled_anchor(tmp_path: Path, restore_signals: None) -> None:
    """SR-32: SIGHUP with the unchanged file keeps the cadence, it does not re-anchor it today."""
    config_path = tmp_path / "pump.toml"
    config_path.write_text(config_text(), encoding="utf-8")
    config_path.chmod(0o600)
    config = load()
    started = replace(config.prescription, anchor=config.prescription.anchor - timedelta(days=3))
    clock = VirtualClock(LOADED)
    with Journal(tmp_path / "journal.sqlite3", clock) as journal:
        record_configuration(journal, started, config.limits)
        daemon = SimpleNamespace(
            journal=journal,
            reload_requested=None,
            waker=SimpleNamespace(wake=lambda: None),
        )
        install_signals(daemon, config_path)  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGHUP)
        assert daemon.reload_requested is not None
        reloaded = daemon.reload_requested()
        assert reloaded is not None
        # The reload applies the file through the one function start-up uses.
        assert effective_prescription(reloaded, journal).anchor == started.anchor


def test_plan_reads_a_journal_written_by_an_older_pumpctl(tmp_path: Path) -> None:
    """A journal at an older schema is read through a migrated in-memory copy, file untouched."""
    clock = VirtualClock(LOADED)
    path = tmp_path / "journal.sqlite3"
    config = load()
    with Journal(path, clock) as journal:
        record_configuration(journal, config.prescription, config.limits)
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE pulse_runs")
        raw.execute("DROP TABLE pulse_starts")
        raw.execute("PRAGMA user_version = 3")
    before = path.read_bytes()
    view = read_journal(path, clock)
    assert view is not None and view.prescription == prescription_dict(config.prescription)
    assert path.read_bytes() == before
