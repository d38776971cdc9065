"""The report judges intervals with the gate's start-latency tolerance, scaled like the clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pumpctl.report.build import build_report
from pumpctl.report.html import render_html
from tests.report_journals import DAY1, LIMITS, PRESCRIPTION, JournalBuilder


def journal(path: Path, time_scale: float | None) -> Path:
    """Two pulses whose starts are 89 min 50 s apart (the second slot started 10 s early)."""
    b = JournalBuilder(path)
    start = {"version": "0.1.0", "config_digest": "d", "config_path": None}
    if time_scale is not None:
        start["time_scale"] = time_scale
    b.journal.append("daemon.start", start)
    b.prescribe(PRESCRIPTION, who="dr. smith", why="first")
    b.limits(LIMITS, who="dr. smith", why="first")
    first = DAY1 + timedelta(hours=8)
    b.deliver(first, late_s=10)
    b.deliver(first + timedelta(minutes=90))
    b.close()
    return path


def test_a_real_time_journal_lists_a_start_ten_seconds_short(tmp_path: Path) -> None:
    """SR-02: at scale 1 the tolerance is 1 s: 89 min 50 s is listed below the limit."""
    report = build_report(journal(tmp_path / "j.sqlite3", None))
    assert [(a, b) for a, b, _ in report.intervals.below_limit] == [
        ("S20260302T080000Z", "S20260302T093000Z")
    ]
    assert "less the 1 s start-latency tolerance" in render_html(report)


def test_a_demo_journal_at_1440x_does_not_flag_its_latency(tmp_path: Path) -> None:
    """At 1440 x the same 10 s are 7 ms of real latency: within 1440 s, nothing is flagged."""
    report = build_report(journal(tmp_path / "j.sqlite3", 1440.0))
    assert report.intervals.below_limit == ()
    assert report.intervals.tolerance_s == 1440.0
    assert "less the 1440 s start-latency tolerance" in render_html(report)


def test_a_journal_with_real_time_and_scaled_starts_is_judged_at_real_time(tmp_path: Path) -> None:
    """A journal that also ran in real time is never judged with the demo's wider tolerance."""
    b = JournalBuilder(tmp_path / "j.sqlite3")
    for scale in (1440.0, 1.0):
        b.journal.append(
            "daemon.start",
            {"version": "0.1.0", "config_digest": "d", "config_path": None, "time_scale": scale},
        )
    b.prescribe(PRESCRIPTION, who="dr. smith", why="first")
    b.limits(LIMITS, who="dr. smith", why="first")
    first = DAY1 + timedelta(hours=8)
    b.deliver(first, late_s=10)
    b.deliver(first + timedelta(minutes=90))
    b.close()
    report = build_report(tmp_path / "j.sqlite3")
    assert report.intervals.tolerance_s == 1.0
    assert len(report.intervals.below_limit) == 1
