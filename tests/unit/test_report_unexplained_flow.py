"""SR-26 in the clinician report: every journaled unexplained flow is on page 1 and in every
format, with its volume and dose counted where the report sums what the subject received."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.report.build import build_report
from pumpctl.report.html import render_html
from tests.report_journals import DAY1, PRESCRIPTION, JournalBuilder

T8 = DAY1 + timedelta(hours=8)


@pytest.fixture
def between_pulses(tmp_path: Path) -> Path:
    """Pulses at 08:00 and 09:30; 10 µL found between them at 08:40 (since 08:01)."""
    b = JournalBuilder(tmp_path / "flow.sqlite3")
    b.at(DAY1 + timedelta(hours=7))
    b.start_daemon()
    b.prescribe(PRESCRIPTION, who="dr. smith", why="initial prescription")
    b.deliver(T8)
    b.flow(T8 + timedelta(minutes=40), "10", since=T8 + timedelta(minutes=1), expected_ul="10")
    b.deliver(T8 + timedelta(minutes=90))
    b.close()
    return b.path


def test_a_journaled_between_pulse_flow_is_an_unexplained_flow_of_the_report(
    between_pulses: Path,
) -> None:
    """SR-26: a ``flow.unexplained`` record is listed with its volume and dose and opens page 1."""
    report = build_report(between_pulses)
    (flow,) = report.safety.unexplained_flow
    assert (flow.when, flow.volume_ul, flow.dose_ug) == (
        T8 + timedelta(minutes=40),
        Decimal(10),
        Decimal(10),
    )
    page = render_html(report)
    assert "SAFETY: 1 event of over-delivery or unexplained flow" in page
