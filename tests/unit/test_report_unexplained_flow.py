"""SR-26 in the clinician report: every journaled unexplained flow is on page 1 and in every
format, with its volume and dose counted where the report sums what the subject received.

The journals are written through the real journal API (``Journal.record_unexplained_flow``, as
the daemon's ``PulseDelivery.record_flow`` does), followed by the daemon's high
``unexplained-flow`` alarm and its safety suspension.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from contextlib import closing
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from pumpctl.cli import main
from pumpctl.daemon import flow_watch
from pumpctl.journal.events import EventKind
from pumpctl.journal.query import iter_events
from pumpctl.journal.store import connect
from pumpctl.report import assemble, figures, stats, write_report
from pumpctl.report.build import build_report
from pumpctl.report.fhir import OUTCOME_EXTENSION, to_bundle
from pumpctl.report.html import render_html
from tests.report_journals import DAY1, PRESCRIPTION, JournalBuilder

T8 = DAY1 + timedelta(hours=8)
FLOW_CODE = "UNEXPLAINED_FLOW"
FOUND = T8 + timedelta(minutes=40)
FELL = T8 + timedelta(minutes=140)


def _start(path: Path) -> JournalBuilder:
    b = JournalBuilder(path)
    b.at(DAY1 + timedelta(hours=7))
    b.start_daemon()
    b.prescribe(PRESCRIPTION, who="dr. smith", why="initial prescription")
    return b


def _between_pulses(path: Path, *, fell: bool = False) -> Path:
    """Pulses of 10 µg at 08:00 and 09:30; 10 µL (10 µg) found between them at 08:40, the
    totals having read as expected at 08:01. ``fell``: at 10:20 the totals read 0 µL where
    10 µL were expected (cleared outside pumpctl: what moved is unknown)."""
    b = _start(path)
    b.deliver(T8)
    b.flow(FOUND, "10", since=T8 + timedelta(minutes=1), expected_ul="10")
    b.deliver(T8 + timedelta(minutes=90))
    if fell:
        b.flow(FELL, None, since=T8 + timedelta(minutes=91), expected_ul="10", totals_ul="0")
    b.close()
    return b.path


@pytest.fixture
def between_pulses(tmp_path: Path) -> Path:
    return _between_pulses(tmp_path / "flow.sqlite3")


@pytest.fixture
def with_fall(tmp_path: Path) -> Path:
    return _between_pulses(tmp_path / "fell.sqlite3", fell=True)


def _alert(page: str) -> str:
    start = page.index('id="safety-alert"')
    return page[start : page.index("</div>", start)]


def _element(page: str, element_id: str, end: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index(end, start)]


def test_a_journaled_between_pulse_flow_is_an_unexplained_flow_of_the_report(
    between_pulses: Path,
) -> None:
    """SR-26: a ``flow.unexplained`` record is listed from the record itself (volume, dose,
    when found, since, where) and opens page 1 in red; the daemon's own ``unexplained-flow``
    alarm does not list it a second time."""
    report = build_report(between_pulses)
    (flow,) = report.safety.unexplained_flow
    assert (flow.when, flow.volume_ul, flow.dose_ug) == (FOUND, Decimal(10), Decimal(10))
    assert (flow.since, flow.where, flow.totals_fell) == (
        T8 + timedelta(minutes=1),
        "between pulses",
        False,
    )
    assert flow.flow_id is not None and flow.flow_id.startswith("flow-")
    assert [a.code for a in report.alarms] == ["unexplained-flow"]  # still an alarm, of course
    page = render_html(report)
    body = page[page.index("<body>") :]
    assert body.index('id="safety-alert"') < body.index("<h1>")
    alert = _alert(page)
    assert "SAFETY: 1 event of over-delivery or unexplained flow" in alert
    assert (
        "<li>Unexplained flow: 2026-03-02 08:40+00:00: 10 µL (10 µg) moved that no pulse "
        "commanded, found between pulses</li>"
    ) in alert
    row = _element(page, "safety-unexplained-flow", "</tr>")
    assert '<td class="n"><span class="flag">1</span></td>' in row
    assert "2026-03-02 08:40+00:00: 10 µL (10 µg), between pulses</td>" in row
    # After page 1, the record's words in full.
    table = _element(page, "flows", "</table>")
    assert (
        "<td>10 µL (10 µg) moved that no pulse commanded (found between pulses; totals 20 µL, "
        "expected 10 µL); the pump&#x27;s totals last read as expected at 2026-03-02 "
        "08:01+00:00</td>"
    ) in table


def test_the_report_counts_a_flow_as_the_gate_does(between_pulses: Path) -> None:
    """SR-26: the report's flow is the gate's record of the same journal line: same id, time,
    volume and dose (one source of truth, ``flow_watch.record_from_event``)."""
    with closing(connect(between_pulses, writable=False)) as conn:
        (event,) = iter_events(conn, kinds=(EventKind.FLOW_UNEXPLAINED.value,))
    gate = flow_watch.record_from_event(event)
    assert gate is not None
    (flow,) = build_report(between_pulses).safety.unexplained_flow
    assert assemble.FLOW_ID_PREFIX == flow_watch.FLOW_ID_PREFIX
    assert (flow.flow_id, flow.when, flow.volume_ul, flow.dose_ug) == (
        gate.slot_id,
        gate.intent_wall,
        gate.delivered_volume_ul,
        gate.dose_ug,
    )


def test_flow_of_known_volume_counts_in_what_the_subject_received(between_pulses: Path) -> None:
    """SR-26: 10 µg of flow is received (the gate counts it as delivered): the key figure, the
    per-day table and the daily dose figure add it to the pulses' 20 µg, marked as flow; the
    pulses' own delivered dose and the adherence stay theirs."""
    report = build_report(between_pulses)
    (day,) = report.days
    for tally in (report.total, day):
        assert tally.delivered_dose_ug == 20
        assert tally.unexplained_flow_dose_ug == 10
        assert tally.received_dose_ug == 30
        assert (tally.unexplained_flows, tally.unexplained_flows_volume_unknown) == (1, 0)
    assert report.total.adherence_pct == 100
    page = render_html(report)
    key = _element(page, "dose", "</div>")
    assert (
        'dose received<b>30 µg</b><span class="flag">incl. 10 µg in 1 unexplained flow</span> '
        "of 20 µg prescribed for the due slots (150.0 %)"
    ) in key
    days = _element(page, "days", "</table>")
    assert '20 <span class="flag">+ 10 flow</span>' in days
    figure = figures.daily_dose(report, report.days, "day")
    assert "unexplained flow (no pulse commanded)" in figure
    assert "<title>10 µg unexplained flow</title>" in figure
    assert "<title>unexplained flow: 10 µL (10 µg)</title>" in figures.pulse_map(report)
    assert "unexplained flow of known volume on top (orange)" in page


def test_a_report_without_flow_says_dose_delivered_as_before(tmp_path: Path) -> None:
    """No flow: the key figure is the pulses' delivered dose, with no flow wording anywhere."""
    b = _start(tmp_path / "plain.sqlite3")
    b.deliver(T8)
    b.close()
    report = build_report(b.path)
    page = render_html(report)
    assert "dose delivered<b>10 µg</b>" in _element(page, "dose", "</div>")
    assert 'id="safety-alert"' not in page
    assert 'id="flows"' not in page
    assert "unexplained flow (no pulse commanded)" not in page
    assert report.total.received_dose_ug == report.total.delivered_dose_ug == 10


def test_flow_raises_the_predicted_exposure(between_pulses: Path, tmp_path: Path) -> None:
    """SR-26: the flow is in the exposure model, as the gate places it (a bolus when found):
    the 09:30 pulse starts from a higher level than it would without it."""
    without = _start(tmp_path / "without.sqlite3")
    without.deliver(T8)
    without.deliver(T8 + timedelta(minutes=90))
    without.close()
    flowed, plain = build_report(between_pulses), build_report(without.path)
    second = "S20260302T093000Z"
    assert flowed.pre_pulse_fractions[second] > plain.pre_pulse_fractions[second]
    assert flowed.exposure.max_level_pg_per_ml is not None
    assert plain.exposure.max_level_pg_per_ml is not None
    # The curve is sampled at the flow's peak, between the pulses.
    peak = max(
        (level, when)
        for level, when in zip(flowed.exposure.levels_pg_per_ml, flowed.exposure.times, strict=True)
        if FOUND <= when < T8 + timedelta(minutes=90)
    )
    assert peak[0] > max(
        level
        for level, when in zip(plain.exposure.levels_pg_per_ml, plain.exposure.times, strict=True)
        if FOUND <= when < T8 + timedelta(minutes=90)
    )


def test_flow_with_no_pulse_in_the_period_still_has_an_exposure_curve(tmp_path: Path) -> None:
    """SR-26: a period with a flow and no pulse predicts a level (it was not dropped)."""
    b = _start(tmp_path / "only.sqlite3")
    b.flow(FOUND, "10", since=T8)
    b.close()
    report = build_report(b.path)
    assert report.slots == ()
    assert report.exposure.max_level_pg_per_ml is not None
    assert report.exposure.max_level_pg_per_ml > 0
    assert report.total.received_dose_ug == 10


def test_a_flow_whose_totals_fell_says_volume_unknown_and_adds_no_number(with_fall: Path) -> None:
    """SR-26: totals that fell (cleared outside pumpctl) are listed with "volume unknown", never a
    volume; nothing of them is added to the received dose, and the key figure says so."""
    report = build_report(with_fall)
    _, fell = report.safety.unexplained_flow
    assert (fell.when, fell.volume_ul, fell.dose_ug, fell.totals_fell) == (FELL, None, None, True)
    assert fell.volume_text == "volume unknown"
    assert fell.detail.startswith("volume unknown: the pump's totals fell to 0 µL from the ")
    assert report.total.received_dose_ug == 30  # the known flow only
    assert report.total.unexplained_flows_volume_unknown == 1
    page = render_html(report)
    alert = _alert(page)
    assert "SAFETY: 2 events of over-delivery or unexplained flow" in alert
    assert "Unexplained flow: 2026-03-02 10:20+00:00: volume unknown: the pump" in alert
    key = _element(page, "dose", "</div>")
    assert "incl. 10 µg in 2 unexplained flows, 1 of unknown volume</span>" in key
    days = _element(page, "days", "</table>")
    assert "+ 10 flow + flow of unknown volume" in days
    row = _element(page, "safety-unexplained-flow", "</tr>")
    assert "between pulses<br>2026-03-02 10:20+00:00: volume unknown, between pulses" in row
    table = _element(page, "flows", "</table>")
    assert '<span class="flag">volume unknown</span>' in table
    assert "volume unknown: the pump&#x27;s totals fell to 0 µL from the expected 10 µL" in table
    assert "<title>unexplained flow: volume unknown</title>" in figures.pulse_map(report)


def test_totals_that_fell_to_a_power_reset_name_it_in_every_format(tmp_path: Path) -> None:
    """SR-26: totals that fell to a power reset the pump reported are listed like any fall
    (volume unknown, nothing counted) but name the reset as the cause, not a clear outside
    pumpctl, on page 1, in the flow table and in JSON."""
    b = _start(tmp_path / "reset.sqlite3")
    b.deliver(T8)
    b.flow(FELL, None, since=T8 + timedelta(minutes=1), expected_ul="10", pump_reset=True)
    b.close()
    report = build_report(b.path)
    (fell,) = report.safety.unexplained_flow
    assert (fell.volume_ul, fell.totals_fell, fell.pump_reset) == (None, True, True)
    assert "cleared by a power reset the pump reported" in fell.detail
    assert "outside pumpctl" not in fell.detail
    assert fell.summary.startswith(
        "volume unknown: the pump's totals fell (cleared by a power reset the pump reported)"
    )
    assert report.total.received_dose_ug == 10  # the pulse only
    page = render_html(report)
    assert "cleared by a power reset the pump reported" in _alert(page)
    data = json.loads(write_report(b.path, "json", tmp_path / "r.json").read_text("utf-8"))
    (flow,) = data["safety"]["unexplained_flow"]
    assert (flow["totals_fell"], flow["pump_reset"]) == (True, True)


def test_every_machine_format_carries_each_flow(with_fall: Path, tmp_path: Path) -> None:
    """SR-26: CSV, JSON and FHIR list both flows with the same id, time, volume and dose; a
    spreadsheet's sum of ``delivered_dose_ug`` is what the subject received."""
    report = build_report(with_fall)
    known, fell = report.safety.unexplained_flow
    out = {f: write_report(with_fall, f, tmp_path / f"r.{f}") for f in ("csv", "json", "fhir")}

    with out["csv"].open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    flows = [r for r in rows if r["outcome"] == "UNEXPLAINED_FLOW"]
    assert [r["slot_id"] for r in flows] == [known.flow_id, fell.flow_id]
    assert [(r["delivered_volume_ul"], r["delivered_dose_ug"]) for r in flows] == [
        ("10", "10"),
        ("", ""),
    ]
    assert flows[0]["scheduled_utc"] == "2026-03-02T08:40:00+00:00"
    assert flows[0]["start_utc"] == "2026-03-02T08:01:00+00:00"
    assert flows[1]["reasons"].startswith("volume unknown: ")
    received: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        received[r["local_date"]] += Decimal(r["delivered_dose_ug"] or 0)
    assert dict(received) == {"2026-03-02": report.total.received_dose_ug}

    data = json.loads(out["json"].read_text(encoding="utf-8"))
    listed = data["safety"]["unexplained_flow"]
    assert [(f["flow_id"], f["volume_ul"], f["dose_ug"], f["volume_known"]) for f in listed] == [
        (known.flow_id, "10", "10", True),
        (fell.flow_id, None, None, False),
    ]
    assert listed[0]["since_utc"] == "2026-03-02T08:01:00+00:00"
    assert listed[1]["volume_text"] == "volume unknown"
    total = data["total"]
    assert (Decimal(total["received_dose_ug"]), Decimal(total["unexplained_flow_dose_ug"])) == (
        30,
        10,
    )
    assert data["days"][0]["unexplained_flows"] == 2

    bundle = json.loads(out["fhir"].read_text(encoding="utf-8"))
    Bundle.model_validate(bundle)
    given = {
        e["resource"]["identifier"][0]["value"]: e
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationAdministration"
        and e["resource"]["extension"][0]
        == {"url": OUTCOME_EXTENSION, "valueCode": "UNEXPLAINED_FLOW"}
    }
    assert set(given) == {known.flow_id, fell.flow_id}
    measured = given[str(known.flow_id)]["resource"]
    assert (measured["status"], measured["dosage"]["dose"]["value"]) == ("completed", 10)
    unknown = given[str(fell.flow_id)]["resource"]
    assert unknown["status"] == "unknown" and "dose" not in unknown["dosage"]
    issues = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DetectedIssue"
        and e["resource"]["code"]["text"] == "unexplained-flow"
        and "fluid moved" in e["resource"].get("detail", "")
    ]
    assert [i["implicated"] for i in issues] == [
        [{"reference": given[str(known.flow_id)]["fullUrl"]}],
        [{"reference": given[str(fell.flow_id)]["fullUrl"]}],
    ]
    assert all(i["severity"] == "high" for i in issues)


def test_an_unintended_flow_alarm_for_the_same_flow_is_not_listed_twice(tmp_path: Path) -> None:
    """SR-06, SR-26: an unintended-flow alarm naming no slot raised while the flow happened (after
    the totals last read as expected, still standing when it was measured) is the same event as
    the record: one entry, naming the alarm. One raised later, with no record, is its own entry
    of unknown volume."""
    b = _start(tmp_path / "both.sqlite3")
    b.deliver(T8)
    b.at(T8 + timedelta(minutes=35))
    b.journal.record_alarm(
        "unintended-flow", "unintended-flow", "high", "pump infusing with no pulse commanded"
    )
    b.flow(FOUND, "4", since=T8 + timedelta(minutes=1), expected_ul="10", moving=True)
    b.at(T8 + timedelta(minutes=50))
    b.journal.record_alarm_acknowledged("unintended-flow", "nurse jones", note="line checked")
    b.journal.record_alarm_cleared("unintended-flow", why="acknowledged")
    b.at(T8 + timedelta(hours=4))
    b.journal.record_alarm(
        "unintended-flow", "unintended-flow", "high", "pump infusing with no pulse commanded"
    )
    b.close()
    report = build_report(b.path)
    measured, alarm_only = report.safety.unexplained_flow
    assert (measured.when, measured.volume_ul, measured.alarm_ids) == (
        FOUND,
        Decimal(4),
        ("unintended-flow",),
    )
    assert "the pump was moving and was stopped" in measured.detail
    assert "the unintended-flow alarm at 2026-03-02 08:35+00:00 told of the same flow" in (
        measured.detail
    )
    assert (alarm_only.when, alarm_only.volume_ul, alarm_only.flow_id) == (
        T8 + timedelta(hours=4),
        None,
        None,
    )
    assert alarm_only.detail.startswith("volume unknown: pump infusing with no pulse commanded")
    assert report.total.unexplained_flows == 2
    assert report.total.received_dose_ug == 14
    assert "SAFETY: 2 events of over-delivery or unexplained flow" in render_html(report)


def test_an_alarm_before_the_totals_last_read_as_expected_is_another_flow(tmp_path: Path) -> None:
    """SR-26: an unintended-flow alarm raised before the window a record's flow happened in is a
    different event: both are listed."""
    b = _start(tmp_path / "apart.sqlite3")
    b.at(T8 - timedelta(minutes=30))
    b.journal.record_alarm("unintended-flow", "unintended-flow", "high", "pump infusing")
    b.deliver(T8)
    b.flow(FOUND, "4", since=T8 + timedelta(minutes=1), expected_ul="10")
    b.close()
    flows = build_report(b.path).safety.unexplained_flow
    assert [(f.when, f.volume_ul) for f in flows] == [
        (T8 - timedelta(minutes=30), None),
        (FOUND, Decimal(4)),
    ]


def test_a_period_lists_the_flows_found_in_it_only(with_fall: Path) -> None:
    """SR-26: ``--from``/``--to`` keep a flow by the time it was found, as the gate places it."""
    first = build_report(with_fall, start=T8, end=T8 + timedelta(minutes=60))
    later = build_report(with_fall, start=T8 + timedelta(minutes=60))
    assert [f.when for f in first.safety.unexplained_flow] == [FOUND]
    assert [f.when for f in later.safety.unexplained_flow] == [FELL]
    assert (first.total.received_dose_ug, later.total.received_dose_ug) == (20, 10)


def test_flow_days_roll_up_into_weeks(between_pulses: Path) -> None:
    """SR-26: a week or month bucket keeps the flows and their dose of its days."""
    report = build_report(between_pulses)
    (week,) = stats.rollup(report.days, "week")
    assert (week.unexplained_flows, week.unexplained_flow_dose_ug, week.received_dose_ug) == (
        1,
        Decimal(10),
        Decimal(30),
    )


def test_log_show_says_volume_unknown_for_totals_that_fell(
    with_fall: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-26: ``pumpctl log show`` leaves empty fields out, but not a flow's missing volume."""
    capsys.readouterr()
    assert main(["log", "show", "--kind", "flow.unexplained", str(with_fall)]) == 0
    known, fell = capsys.readouterr().out.splitlines()
    assert "volume_ul=10" in known and "dose_ug=10" in known
    assert 'volume_ul="unknown (the totals fell)"' in fell
    assert "totals_ul=0" in fell and "expected_ul=10" in fell


def test_the_pituitary_prediction_takes_a_known_flow_in_and_counts_the_unknown(
    with_fall: Path,
) -> None:
    """SR-26: the predicted pituitary response is driven by what the subject received: the
    10 µL flow goes in (as a bolus when found); the one of unknown volume is counted out."""
    pytest.importorskip("numpy")
    from pumpctl.physiology.reported import report_pituitary  # noqa: PLC0415

    report = build_report(with_fall)
    known, _ = report.safety.unexplained_flow
    response = report_pituitary(report).pituitary
    assert response is not None
    assert known.row_id in response.by_slot
    assert response.left_out == ("1 unexplained flow of unknown volume (no pulse commanded)",)


def test_fhir_of_an_alarm_only_flow_implicates_the_device(tmp_path: Path) -> None:
    """SR-06: with no record (so no volume), the flow's issue names the device, not a dose."""
    b = _start(tmp_path / "alarm.sqlite3")
    b.at(FOUND)
    b.journal.record_alarm("unintended-flow", "unintended-flow", "high", "pump infusing")
    b.close()
    bundle = to_bundle(build_report(b.path))
    Bundle.model_validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    assert not [
        r
        for r in resources
        if r["resourceType"] == "MedicationAdministration"
        and r["extension"][0]["valueCode"] == "UNEXPLAINED_FLOW"
    ]
    device = bundle["entry"][0]["fullUrl"]
    flow_issue = [
        r
        for r in resources
        if r["resourceType"] == "DetectedIssue" and r["code"]["text"] == "unexplained-flow"
    ]
    assert [r["implicated"] for r in flow_issue] == [[{"reference": device}]]


def test_a_flow_found_before_a_pulse_names_the_slot_it_stopped(tmp_path: Path) -> None:
    """SR-26: totals found off before clearing them for a pulse: the flow names the slot whose
    pulse the daemon refused (from the alarm it raised for it); one found between pulses none."""
    b = _start(tmp_path / "before.sqlite3")
    b.deliver(T8)
    refused = b.slot(T8 + timedelta(minutes=90))
    b.flow(
        T8 + timedelta(minutes=90),
        "3",
        since=T8 + timedelta(minutes=1),
        expected_ul="10",
        where="read before clearing the totals for a pulse",
        slot_id=refused.slot_id,
    )
    b.deliver(T8 + timedelta(minutes=180))
    b.flow(T8 + timedelta(minutes=200), "2", since=T8 + timedelta(minutes=181), expected_ul="10")
    b.close()
    report = build_report(b.path)
    before, between = report.safety.unexplained_flow
    assert (before.slot_id, before.where) == (
        refused.slot_id,
        "read before clearing the totals for a pulse",
    )
    assert before.detail.endswith(f"; slot {refused.slot_id} was not started for it")
    assert between.slot_id is None
    data = json.loads(write_report(b.path, "json", tmp_path / "r.json").read_text("utf-8"))
    assert [f["slot_id"] for f in data["safety"]["unexplained_flow"]] == [refused.slot_id, None]


def test_a_flow_with_no_dose_recorded_is_listed_but_adds_no_dose(tmp_path: Path) -> None:
    """SR-26: a flow journaled with its volume but no dose is listed with its volume and
    "dose not recorded"; like the gate (which cannot count it either), nothing is added."""
    b = _start(tmp_path / "nodose.sqlite3")
    b.deliver(T8)
    b.flow(FOUND, "5", since=T8 + timedelta(minutes=1), expected_ul="10", dose_recorded=False)
    b.close()
    with closing(connect(b.path, writable=False)) as conn:
        (event,) = iter_events(conn, kinds=(EventKind.FLOW_UNEXPLAINED.value,))
    assert flow_watch.record_from_event(event) is None
    report = build_report(b.path)
    (flow,) = report.safety.unexplained_flow
    assert (flow.volume_ul, flow.dose_ug, flow.volume_text) == (
        Decimal(5),
        None,
        "5 µL (dose not recorded)",
    )
    assert "5 µL (dose not recorded, not counted) moved that no pulse commanded" in flow.detail
    assert (report.total.received_dose_ug, report.total.unexplained_flows_volume_unknown) == (10, 0)
    assert "Unexplained flow: 2026-03-02 08:40+00:00: 5 µL (dose not recorded) moved" in (
        render_html(report)
    )
