"""The report's facts from a journal with known content (tests/report_journals.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pumpctl.core.exposure import Infusion, default_threshold, level_pg_per_ml, single_pulse_peak
from pumpctl.report.build import build_report
from pumpctl.report.model import Report
from tests.report_journals import LIMITS, PRESCRIPTION, PUMP, SUBJECT, Known, known_journal


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> Known:
    return known_journal(tmp_path_factory.mktemp("known") / "journal.sqlite3")


@pytest.fixture(scope="module")
def report(known: Known) -> Report:
    return build_report(known.path)


def test_header_names_subject_pump_and_verified_chain(report: Report) -> None:
    """The header carries the journaled subject and pump, and a verified chain with its head."""
    assert report.subject == SUBJECT
    assert report.pump == PUMP
    assert report.integrity.ok
    assert report.integrity.records == 36
    assert report.integrity.head_seq == 36
    assert report.integrity.verdict.startswith("chain verified: 36 records, head #36 ")
    assert report.daemon_starts[0]["config_digest"] == "d1g3st"


def test_prescription_changes_say_who_when_and_why(report: Report) -> None:
    """SR-21: the prescription in force and each change with who, when, old → new and why."""
    assert report.prescription_in_force == PRESCRIPTION
    assert report.limits_in_force == LIMITS
    assert [(c.what, c.who, c.why) for c in report.changes] == [
        ("prescription", "dr. smith", "initial prescription"),
        ("limits", "dr. smith", "initial limits"),
        ("prescription", "dr. smith", "LH response low"),
    ]
    last = report.changes[-1]
    assert last.when == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    assert last.old == PRESCRIPTION
    assert last.new["dose_ug"] == "12"


def test_each_day_counts_every_outcome_and_dose(report: Report) -> None:
    """Per day: slots by outcome, denials by reason, dose delivered vs prescribed, adherence."""
    day1, day2 = report.days
    assert day1.start == date(2026, 3, 2)
    assert day1.counts == {
        "DELIVERED": 3,
        "PARTIAL": 1,
        "OVER_DELIVERED": 0,
        "NOT_DELIVERED": 0,
        "UNCERTAIN": 0,
        "DENIED": 1,
        "MISSED": 1,
        "SCHEDULED": 0,
    }
    assert day1.scheduled == 6
    assert day1.denied_by_reason == {"suspended": 1}
    assert day1.missed_by_reason == {"the daemon was not running": 1}
    assert day1.delivered_dose_ug == Decimal("36")  # 10 + 10 + 6 (partial) + 10
    assert day1.prescribed_dose_ug == Decimal("60")
    assert day1.adherence_pct == Decimal("50.0")
    assert day2.start == date(2026, 3, 3)
    assert (day2.counts["DELIVERED"], day2.counts["NOT_DELIVERED"]) == (1, 1)
    assert day2.counts["UNCERTAIN"] == 2  # one UNCERTAIN outcome, one intent without outcome
    assert day2.delivered_dose_ug == Decimal("12")
    assert day2.prescribed_dose_ug == Decimal("48")
    assert day2.adherence_pct == Decimal("25.0")
    assert report.total.scheduled == 10
    assert report.total.delivered_dose_ug == Decimal("48")
    assert report.total.prescribed_dose_ug == Decimal("108")
    assert report.total.adherence_pct == Decimal("40.0")


def test_intervals_are_measured_between_actual_pulse_starts(report: Report) -> None:
    """SR-02: median, percentiles, minimum and longest gap; the 88-min interval is flagged."""
    iv = report.intervals
    # Starts: 08:00, 09:32 (2 min late), 11:00, 15:30, next day 08:00 -> 92, 88, 270, 990 min.
    assert iv.count == 4
    assert iv.median_min == 181.0
    assert iv.p5_min == 88.6
    assert iv.p95_min == 882.0
    assert iv.min_min == 88.0
    assert iv.longest_gap_min == 990.0
    assert iv.longest_gap_from == datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    assert iv.longest_gap_to == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    assert iv.min_interval_limit_min == 90
    assert iv.below_limit == (("S20260302T093000Z", "S20260302T110000Z", 88.0),)


def test_alarms_show_priority_acknowledgement_and_suspension(report: Report) -> None:
    """SR-22: each alarm with its priority, who acknowledged it when and why; suspensions."""
    a1, a2 = report.alarms
    assert (a1.code, a1.priority, a1.raised) == (
        "occlusion",
        "high",
        datetime(2026, 3, 2, 11, 1, tzinfo=UTC),
    )
    assert (a1.acknowledged, a1.acknowledged_by, a1.acknowledge_note) == (
        datetime(2026, 3, 2, 11, 20, tzinfo=UTC),
        "nurse jones",
        "line replaced",
    )
    assert a1.cleared == datetime(2026, 3, 2, 11, 20, tzinfo=UTC)
    assert (a2.code, a2.priority, a2.acknowledged) == ("uncertain-pulse", "medium", None)
    (suspension,) = report.suspensions
    assert (suspension.started, suspension.ended) == (
        datetime(2026, 3, 2, 11, 20, tzinfo=UTC),
        datetime(2026, 3, 2, 13, 0, tzinfo=UTC),
    )
    assert (suspension.who, suspension.reason, suspension.resume_reason) == (
        "nurse jones",
        "line change",
        "line changed",
    )


def test_exposure_follows_the_model_and_the_gate_threshold(report: Report) -> None:
    """SR-05: pre-pulse levels are the model's superposition; the threshold is the gate's."""
    peak = single_pulse_peak(10.0, 1.0)
    # The partial 11:00 pulse: pulses at 0 and +92 min before it, 180 min after the first.
    expected = level_pg_per_ml([Infusion(0, 10, 1), Infusion(92, 10, 1)], 180) / peak
    fractions = report.pre_pulse_fractions
    assert fractions["S20260302T110000Z"] == pytest.approx(expected)
    assert fractions["S20260302T080000Z"] == 0.0
    assert "S20260302T123000Z" not in fractions  # a denied slot gave no pulse
    ex = report.exposure
    assert ex.threshold_fraction == pytest.approx(default_threshold(90))
    assert ex.reference_peak_pg_per_ml == pytest.approx(peak)
    assert ex.max_pre_pulse_fraction == pytest.approx(expected)
    assert ex.pre_pulse_above_threshold == 0
    assert ex.max_level_pg_per_ml == pytest.approx(max(ex.levels_pg_per_ml))
    assert (ex.max_level_pg_per_ml or 0.0) > peak  # overlapping pulses at 09:32 and 11:00 add up
