"""Reports from unusual journals: tampered, empty, one pulse, a period without data; the CLI."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from pumpctl.cli import main
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Reason
from pumpctl.errors import EXIT_OK, EXIT_TAMPERED, EXIT_USAGE
from pumpctl.journal import Journal
from pumpctl.report import write_report
from pumpctl.report.build import build_report, events_from_rows, integrity_of, read_events
from pumpctl.report.html import render_html
from pumpctl.report.jsonfmt import to_data
from pumpctl.report.outcomes import SlotOutcome
from tests.report_journals import (
    DAY1,
    PRESCRIPTION,
    SUBJECT,
    JournalBuilder,
    Known,
    known_journal,
)


@pytest.fixture
def known(tmp_path: Path) -> Known:
    return known_journal(tmp_path / "journal.sqlite3")


def _tamper(path: Path) -> None:
    """Edit the partial pulse's delivered volume in place, as an attacker with SQLite would."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute(
        "UPDATE events SET payload = replace(payload, '\"6\"', '\"10\"') "
        "WHERE kind = 'pulse.outcome' AND payload LIKE '%\"PARTIAL\"%'"
    )
    conn.commit()
    conn.close()


def test_tampered_journal_report_says_so_first_and_in_red(known: Known) -> None:
    """SR-20: a report from an edited journal states the failed verification at the top."""
    _tamper(known.path)
    report = build_report(known.path)
    assert not report.integrity.ok
    assert report.integrity.verdict.startswith("TAMPERED OR DAMAGED: edited at record")
    page = render_html(report)
    body = page[page.index("<body>") :]
    assert body.index('class="verdict tampered"') < body.index("<h1>")
    assert "TAMPERED OR DAMAGED" in body[: body.index("<h1>")]
    assert "#b2182b" in page  # the tampered verdict's red


def test_tampered_report_has_no_placeholder_anywhere(known: Known) -> None:
    """SR-20: a tampered journal's report says what stands in for the head, never "None"."""
    _tamper(known.path)
    report = build_report(known.path)
    assert report.integrity.head_seq is None  # the chain vouches for no head
    assert report.integrity.head_text.startswith("none: the chain does not verify")
    page = render_html(report)
    assert "None" not in page
    assert "#None" not in page
    data = json.dumps(to_data(report))
    assert "#None" not in data


def test_cli_writes_tampered_report_and_exits_with_the_tampered_code(
    known: Known, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-20: `pumpctl report` still writes the report but exits 3 when the chain is broken."""
    _tamper(known.path)
    out = tmp_path / "r.json"
    code = main(["report", "-j", str(known.path), "--format", "json", "-o", str(out)])
    assert code == EXIT_TAMPERED
    assert json.loads(out.read_text())["integrity"]["ok"] is False
    assert "TAMPERED" in capsys.readouterr().err


def test_empty_journal_gives_a_report_without_data(tmp_path: Path) -> None:
    """A journal with no records: verified-empty verdict, no days, and a no-data notice."""
    path = tmp_path / "empty.sqlite3"
    Journal(path, VirtualClock(DAY1)).close()
    report = build_report(path)
    assert report.integrity.ok
    assert report.integrity.verdict == "chain verified (empty journal)"
    assert not report.has_data
    assert report.days == ()
    assert report.total.adherence_pct is None
    assert report.intervals.count == 0
    assert report.subject is None
    page = render_html(report)
    assert 'id="no-data"' in page
    assert "not recorded" in page
    for fmt in ("csv", "json", "fhir"):
        write_report(path, fmt, tmp_path / f"r.{fmt}")
    assert (tmp_path / "r.csv").read_text().count("\n") == 1  # the header only


def test_one_pulse_journal_has_no_intervals_and_full_adherence(tmp_path: Path) -> None:
    """One delivered pulse: 100 % adherence, no interval statistics, a one-day table."""
    builder = JournalBuilder(tmp_path / "one.sqlite3")
    builder.start_daemon(with_config=False)
    builder.deliver(DAY1.replace(hour=8))
    builder.close()
    report = build_report(builder.path)
    assert report.subject is None  # this daemon.start carried no subject: "not recorded"
    assert report.total.counts[SlotOutcome.DELIVERED] == 1
    assert str(report.total.adherence_pct) == "100.0"
    assert report.intervals.count == 0
    assert report.intervals.median_min is None
    assert report.exposure.max_pre_pulse_fraction == 0.0
    assert len(report.days) == 1
    page = render_html(report)
    assert page.count("<svg") == 4
    assert '<tr id="subject"><th>subject</th><td>not recorded</td></tr>' in page
    assert "None" not in page


def test_period_selects_slots_alarms_and_changes(known: Known) -> None:
    """--from/--to keep only the slots scheduled, alarms raised and changes made in the period."""
    start = datetime(2026, 3, 3, tzinfo=UTC)
    report = build_report(known.path, start=start)
    assert report.total.scheduled == 4
    assert [d.start.isoformat() for d in report.days if d.start] == ["2026-03-03"]
    assert [a.alarm_id for a in report.alarms] == ["A2"]
    assert [c.why for c in report.changes] == ["LH response low"]
    assert report.prescription_in_force is not None
    assert report.prescription_in_force["dose_ug"] == "10"  # in force when the period began
    assert report.suspensions == ()


def test_period_keeps_a_suspension_that_began_before_it(known: Known) -> None:
    """A suspension begun before the period and ended in it is shown with its real start."""
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    report = build_report(known.path, start=start, end=start + timedelta(hours=4))
    (suspension,) = report.suspensions
    assert suspension.started == datetime(2026, 3, 2, 11, 20, tzinfo=UTC)
    assert suspension.ended == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    assert report.alarms == ()  # A1 was raised at 11:01, before the period
    assert [r.outcome for r in report.slots] == ["DENIED", "MISSED", "DELIVERED"]
    assert report.prescription_in_force is not None
    assert report.total.prescribed_dose_ug == 30


def test_period_long_after_the_context_still_has_it(tmp_path: Path) -> None:
    """Subject, prescription and a suspension journaled days before the period are all shown."""
    builder = JournalBuilder(tmp_path / "long.sqlite3")
    builder.at(DAY1 + timedelta(hours=7))
    builder.start_daemon()
    builder.prescribe(PRESCRIPTION, who="dr. smith", why="initial prescription")
    builder.at(DAY1 + timedelta(hours=8))
    builder.journal.record_suspend("nurse jones", "patient away")
    slot = builder.deny(DAY1 + timedelta(days=3, hours=8), [Reason.SUSPENDED])
    builder.close()
    report = build_report(builder.path, start=DAY1 + timedelta(days=3))
    assert report.subject == SUBJECT
    assert report.prescription_in_force == PRESCRIPTION
    (suspension,) = report.suspensions
    assert (suspension.started, suspension.ended) == (DAY1 + timedelta(hours=8), None)
    (row,) = report.slots
    assert (row.slot_id, row.outcome, row.prescribed_dose_ug) == (
        slot.slot_id,
        SlotOutcome.DENIED,
        Decimal(10),
    )


def test_period_without_data_says_so(known: Known, tmp_path: Path) -> None:
    """A period with nothing journaled gives a report that says there is no data."""
    start, end = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)
    report = build_report(known.path, start=start, end=end)
    assert not report.has_data
    assert report.total.scheduled == 0
    assert "No data" in render_html(report)
    out = tmp_path / "r.json"
    code = main(["report", "-j", str(known.path), "--from", "2026-04-01", "--to",
                 "2026-04-02", "--format", "json", "-o", str(out)])  # fmt: skip
    assert code == EXIT_OK
    assert json.loads(out.read_text())["period"]["has_data"] is False


def test_cli_rejects_a_period_that_ends_before_it_starts(
    known: Known, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --to before --from is a usage error naming both values."""
    out = tmp_path / "r.csv"
    code = main(["report", "-j", str(known.path), "--from", "2026-03-03", "--to", "2026-03-02",
                 "-o", str(out), "--format", "csv"])  # fmt: skip
    assert code == EXIT_USAGE
    assert "--to = 2026-03-02T00:00:00+00:00" in capsys.readouterr().err
    assert not out.exists()


def test_cli_reports_a_missing_journal_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A journal path that does not exist is one clear error line, exit 1, no traceback."""
    code = main(["report", "-j", str(tmp_path / "nope.sqlite3"), "-o", str(tmp_path / "r.html")])
    assert code == 1
    err = capsys.readouterr().err
    assert "does not exist" in err
    assert "Traceback" not in err


def test_journal_text_cannot_inject_markup_into_the_html(tmp_path: Path) -> None:
    """Who, why and alarm messages from the journal appear escaped, never as markup."""
    builder = JournalBuilder(tmp_path / "xss.sqlite3")
    builder.start_daemon()
    builder.journal.record_alarm("A<1>", "x", "low", "<script>alert(1)</script>")
    builder.journal.record_suspend("<b>mallory</b>", "<img src=x onerror=alert(1)>")
    builder.close()
    page = render_html(build_report(builder.path))
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;mallory&lt;/b&gt;" in page


def test_a_silent_day_inside_the_period_is_shown_not_skipped(tmp_path: Path) -> None:
    """A day with nothing on record between two days with pulses is a row of its own, empty."""
    builder = JournalBuilder(tmp_path / "gap.sqlite3")
    builder.start_daemon()
    builder.prescribe(PRESCRIPTION, who="dr. smith", why="initial prescription")
    builder.deliver(DAY1.replace(hour=8))
    builder.deliver(DAY1.replace(hour=8) + timedelta(days=2))
    builder.close()
    report = build_report(builder.path)
    assert [(d.start.isoformat(), d.scheduled) for d in report.days if d.start] == [
        ("2026-03-02", 1),
        ("2026-03-03", 0),
        ("2026-03-04", 1),
    ]
    assert "Tue 03 Mar 2026" in render_html(report)


@pytest.mark.parametrize("fmt", ["html", "csv", "json", "fhir"])
def test_cli_reports_an_unwritable_output_in_one_line(
    known: Known, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """An output folder that does not exist is one error line naming -o, exit 1, no traceback."""
    out = tmp_path / "missing-folder" / f"r.{fmt}"
    code = main(["report", "-j", str(known.path), "--format", fmt, "-o", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"-o {out}: the report cannot be written (No such file or directory)" in err


def test_odd_but_verified_records_still_give_every_format(tmp_path: Path) -> None:
    """Records with odd payloads (written through the journal API, so the chain verifies)
    give a report in every format: odd values are shown as written or as not recorded."""
    builder = JournalBuilder(tmp_path / "odd.sqlite3")
    append = builder.journal.append
    append("daemon.start", {"version": 7, "subject": "SUBJ", "pump": 5, "prescription": "x",
                            "limits": [1]})  # fmt: skip
    append("prescription.change", {"who": "x", "why": "y", "new": "garbage", "old": 3})
    append("limits.change", {"who": "x", "why": "y", "new": {"min_interval_min": "abc"}})
    append("slot.scheduled", {"slot_id": "S1", "scheduled_utc": "not a time", "dose_ug": "x",
                              "volume_ul": "y", "duration_s": "z"})  # fmt: skip
    append("alarm.raised", {"alarm_id": 5, "priority": "urgent", "slot_id": 7, "code": None})
    append("alarm.acknowledged", {"alarm_id": 5})
    append("delivery.suspended", {})
    append("slot.missed", {"slot_id": "S2", "scheduled_utc": "2026-03-02T08:00:00+00:00",
                           "reasons": "not a list"})  # fmt: skip
    append("pulse.intent", {"slot_id": "S3", "scheduled_utc": "2026-03-02T08:30:00+00:00",
                            "dose_ug": "10", "volume_ul": "ten", "duration_s": "60"})  # fmt: skip
    append("pulse.outcome", {"slot_id": "S3", "outcome": "DELIVERED", "delivered_volume_ul": "?"})
    builder.deliver(DAY1.replace(hour=9))
    builder.close()
    report = build_report(builder.path)
    assert report.integrity.ok
    for fmt in ("html", "csv", "json", "fhir"):
        write_report(builder.path, fmt, tmp_path / f"odd.{fmt}")
    assert "None" not in (tmp_path / "odd.html").read_text(encoding="utf-8")
    Bundle.model_validate(json.loads((tmp_path / "odd.fhir").read_text(encoding="utf-8")))


@pytest.mark.parametrize("since", [None, datetime(2026, 3, 3, 9, 0, tzinfo=UTC)])
def test_rows_kept_by_verification_decode_as_a_second_read_would(
    tmp_path: Path, since: datetime | None
) -> None:
    """The report decodes the rows verification walked instead of reading the journal again:
    the same records, in the same order, as ``read_events`` gives (whole journal and a period
    that needs the context records from before it)."""
    known = known_journal(tmp_path / "journal.sqlite3")
    kept: list[Any] = []
    integrity = integrity_of(known.path, kept)
    assert integrity.ok and len(kept) == integrity.records > 0
    assert events_from_rows(kept, since) == read_events(known.path, since)
