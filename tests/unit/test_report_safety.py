"""Over-delivery and unexplained flow cannot be missed in any format; alarms keep their slots."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from pumpctl.core.model import Outcome
from pumpctl.report import write_report
from pumpctl.report.build import build_report
from pumpctl.report.fhir import OUTCOME_EXTENSION, to_bundle
from pumpctl.report.html import render_html
from pumpctl.report.outcomes import SlotOutcome, classify
from tests.report_journals import DAY1, PRESCRIPTION, JournalBuilder

T8 = DAY1 + timedelta(hours=8)


def _journal(path: Path) -> JournalBuilder:
    b = JournalBuilder(path)
    b.at(DAY1 + timedelta(hours=7))
    b.start_daemon()
    b.prescribe(PRESCRIPTION, who="dr. smith", why="initial prescription")
    return b


@pytest.fixture
def runaway(tmp_path: Path) -> Path:
    """Two normal pulses around one that delivered 12.67 µL for 10 µL commanded."""
    b = _journal(tmp_path / "runaway.sqlite3")
    b.deliver(T8)
    slot = b.deliver(T8 + timedelta(minutes=90), delivered_ul="12.67")
    b.journal.record_alarm(
        "unintended-flow", "unintended-flow", "high", "pump still running", slot_id=slot.slot_id
    )
    b.deliver(T8 + timedelta(minutes=180))
    b.close()
    return b.path


def test_over_delivered_pulse_opens_the_report_in_red(runaway: Path) -> None:
    """SR-25: a pulse that moved more than commanded is OVER_DELIVERED and heads the page."""
    report = build_report(runaway)
    (over,) = report.safety.over_delivered
    assert over.outcome is SlotOutcome.OVER_DELIVERED
    assert str(over.delivered_volume_ul) == "12.67"
    assert report.total.counts[SlotOutcome.OVER_DELIVERED] == 1
    page = render_html(report)
    body = page[page.index("<body>") :]
    assert body.index('id="safety-alert"') < body.index("<h1>")
    alert = body[body.index('id="safety-alert"') : body.index("</div>", body.index("safety-alert"))]
    assert "Over-delivery: 2026-03-02 09:30+00:00: 12.67 µL delivered for 10 µL commanded" in alert
    assert '<tr id="safety-over-delivery"><th>over-delivered pulses</th><td class="n">' in page
    assert "unexplained flow" in page  # its own row, with nothing in it here
    assert report.safety.unexplained_flow == ()  # the alarm names its slot: not unexplained


def test_over_delivery_is_named_in_every_machine_format(runaway: Path, tmp_path: Path) -> None:
    """CSV, JSON and FHIR carry the same OVER_DELIVERED code and the alarm on its slot."""
    out = {f: write_report(runaway, f, tmp_path / f"r.{f}") for f in ("csv", "json", "fhir")}
    with out["csv"].open(encoding="utf-8", newline="") as stream:
        rows = {r["slot_id"]: r for r in csv.DictReader(stream)}
    row = rows["S20260302T093000Z"]
    assert (row["outcome"], row["alarms"]) == ("OVER_DELIVERED", "unintended-flow:high")
    data = json.loads(out["json"].read_text(encoding="utf-8"))
    assert data["safety"]["over_delivered_slots"] == ["S20260302T093000Z"]
    bundle = json.loads(out["fhir"].read_text(encoding="utf-8"))
    Bundle.model_validate(bundle)
    admins = {
        e["resource"]["identifier"][0]["value"]: e
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationAdministration"
    }
    over = admins["S20260302T093000Z"]
    assert over["resource"]["extension"] == [
        {"url": OUTCOME_EXTENSION, "valueCode": "OVER_DELIVERED"}
    ]
    assert over["resource"]["dosage"]["dose"]["value"] == 12.67
    (issue,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DetectedIssue"
    ]
    assert issue["severity"] == "high"
    assert issue["implicated"] == [{"reference": over["fullUrl"]}]


def test_an_over_delivery_alarm_on_a_slot_marks_it_even_at_the_commanded_volume(
    tmp_path: Path,
) -> None:
    """The daemon's over-delivery alarm for a slot is enough: the report trusts the daemon."""
    b = _journal(tmp_path / "alarm.sqlite3")
    slot = b.deliver(T8)
    b.journal.record_alarm("over-delivery", "over-delivery", "high", "totals", slot_id=slot.slot_id)
    b.close()
    (row,) = build_report(b.path).slots
    assert row.outcome is SlotOutcome.OVER_DELIVERED


def test_flow_with_no_pulse_is_unexplained_flow_on_the_first_page(tmp_path: Path) -> None:
    """SR-26: an unintended-flow alarm that names no slot is listed as unexplained flow."""
    b = _journal(tmp_path / "flow.sqlite3")
    b.deliver(T8)
    b.at(T8 + timedelta(minutes=40))
    b.journal.record_alarm(
        "unintended-flow", "unintended-flow", "high", "pump infusing with no pulse commanded"
    )
    b.close()
    report = build_report(b.path)
    (flow,) = report.safety.unexplained_flow
    assert flow.when == T8 + timedelta(minutes=40)
    page = render_html(report)
    assert (
        "Unexplained flow: 2026-03-02 08:40+00:00: volume unknown: pump infusing with no pulse "
        "commanded" in page
    )
    bundle = to_bundle(report)
    Bundle.model_validate(bundle)
    issues = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DetectedIssue"
    ]
    assert {i["code"]["text"] for i in issues} == {"unintended-flow", "unexplained-flow"}
    device = bundle["entry"][0]["fullUrl"]
    assert all(i["implicated"] == [{"reference": device}] for i in issues)


def test_an_alarm_raised_again_after_it_cleared_is_a_new_alarm(tmp_path: Path) -> None:
    """SR-22: one kind raised, cleared and raised again is two alarms, each with its slot."""
    b = _journal(tmp_path / "again.sqlite3")
    first = b.deliver(T8, outcome=Outcome.NOT_DELIVERED, delivered_ul="0")
    b.journal.record_alarm("missed-pulse", "missed-pulse", "medium", "one", slot_id=first.slot_id)
    b.journal.record_alarm_acknowledged("missed-pulse", "nurse jones", note="line fixed")
    b.journal.record_alarm_cleared("missed-pulse", why="acknowledged")
    second = b.deliver(T8 + timedelta(minutes=90), outcome=Outcome.NOT_DELIVERED, delivered_ul="0")
    b.journal.record_alarm("missed-pulse", "missed-pulse", "medium", "two", slot_id=second.slot_id)
    third = b.deliver(T8 + timedelta(minutes=180), outcome=Outcome.NOT_DELIVERED, delivered_ul="0")
    b.journal.record_alarm("missed-pulse", "missed-pulse", "high", "three", slot_id=third.slot_id)
    b.close()
    one, two = build_report(b.path).alarms
    assert (one.slot_ids, one.acknowledged_by, one.cleared is not None) == (
        (first.slot_id,),
        "nurse jones",
        True,
    )
    assert (two.priority, two.slot_ids, two.acknowledged) == (
        "high",  # escalated while it was still active
        (second.slot_id, third.slot_id),
        None,
    )


@pytest.mark.parametrize(
    ("export", "kwargs", "expected"),
    [
        ("DELIVERED", {}, SlotOutcome.DELIVERED),
        ("PARTIAL", {}, SlotOutcome.PARTIAL),
        ("OVER_DELIVERED", {}, SlotOutcome.OVER_DELIVERED),
        ("PENDING", {}, SlotOutcome.UNCERTAIN),
        ("UNCERTAIN", {}, SlotOutcome.UNCERTAIN),
        ("NOT_DELIVERED", {}, SlotOutcome.NOT_DELIVERED),
        ("DENIED", {}, SlotOutcome.DENIED),
        ("MISSED", {"gate_reasons": ["suspended"]}, SlotOutcome.DENIED),
        ("MISSED", {}, SlotOutcome.MISSED),
        ("SCHEDULED", {}, SlotOutcome.SCHEDULED),
    ],
)
def test_every_export_outcome_maps_to_one_report_outcome(
    export: str, kwargs: dict[str, list[str]], expected: SlotOutcome
) -> None:
    """The export fold's outcomes map onto the one vocabulary (and nothing maps to two)."""
    assert classify(export, **kwargs) is expected  # type: ignore[arg-type]
