"""Every format states the known journal's facts: CSV rows, JSON data, FHIR Bundle, HTML page."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from pumpctl.report import write_report
from pumpctl.report.csvfmt import COLUMNS
from pumpctl.report.fhir import OUTCOME_EXTENSION
from pumpctl.report.model import REPORT_SCHEMA
from pumpctl.report.outcomes import NO_OUTCOME, SlotOutcome
from tests.report_journals import SUBJECT, Known, known_journal


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> Known:
    return known_journal(tmp_path_factory.mktemp("known") / "journal.sqlite3")


@pytest.fixture(scope="module")
def outputs(known: Known, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("out")
    return {
        fmt: write_report(known.path, fmt, out / f"report.{fmt}")
        for fmt in ("html", "csv", "json", "fhir")
    }


EXPECTED_ROWS = {
    # slot: (outcome, prescribed ug, delivered ug, delivered uL, reasons, alarms)
    "d1_0800": ("DELIVERED", "10", "10.000", "10", "", ""),
    "d1_0930": ("DELIVERED", "10", "10.000", "10", "", ""),
    "d1_1100": ("PARTIAL", "10", "6.000", "6", "", "occlusion:high"),
    "d1_1230": ("DENIED", "10", "", "", "suspended", ""),
    "d1_1400": ("MISSED", "10", "", "", "the daemon was not running", ""),
    "d1_1530": ("DELIVERED", "10", "10.000", "10", "", ""),
    "d2_0800": ("DELIVERED", "12", "12.000", "12", "", ""),
    "d2_0930": ("UNCERTAIN", "12", "", "", "", "uncertain-pulse:medium"),
    "d2_1100": ("NOT_DELIVERED", "12", "0.000", "0", "", ""),
    "d2_1230": ("UNCERTAIN", "12", "", "", NO_OUTCOME, ""),
}


def test_csv_has_one_row_per_slot_with_every_value(known: Known, outputs: dict[str, Path]) -> None:
    """CSV: the documented columns, one row per slot, outcome, doses, reasons and alarms."""
    with outputs["csv"].open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert tuple(rows[0].keys()) == COLUMNS
    assert len(rows) == 10
    by_id = {r["slot_id"]: r for r in rows}
    for key, (outcome, prescribed, delivered, volume, reasons, alarms) in EXPECTED_ROWS.items():
        row = by_id[known.slot_ids[key]]
        assert row["outcome"] == outcome, key
        assert row["prescribed_dose_ug"] == prescribed, key
        assert row["delivered_dose_ug"] == delivered, key
        assert (Decimal(row["delivered_volume_ul"]) if row["delivered_volume_ul"] else "") == (
            Decimal(volume) if volume else ""
        ), key
        assert row["reasons"] == reasons, key
        assert row["alarms"] == alarms, key
    assert by_id[known.slot_ids["d1_0930"]]["start_utc"] == "2026-03-02T09:32:00+00:00"
    assert by_id[known.slot_ids["d1_0800"]]["local_date"] == "2026-03-02"
    assert by_id[known.slot_ids["d1_0800"]]["scheduled_local"] == "2026-03-02T08:00:00+00:00"
    assert by_id[known.slot_ids["d1_0800"]]["pre_pulse_level_fraction"] == "0.0000"
    delivered_total = sum((Decimal(r["delivered_dose_ug"] or 0) for r in rows), Decimal(0))
    assert delivered_total == Decimal("48")  # the not-delivered slot adds 0


def test_json_is_versioned_and_carries_every_summary(outputs: dict[str, Path]) -> None:
    """JSON: schema version, integrity, per-day and total counts, intervals, alarms, exposure."""
    data = json.loads(outputs["json"].read_text(encoding="utf-8"))
    assert data["schema"] == REPORT_SCHEMA == "pumpctl.report/2"
    assert data["integrity"]["ok"] is True
    assert data["integrity"]["head_seq"] == 36
    assert data["journal_id"].startswith("urn:uuid:")
    assert data["subject"] == SUBJECT
    assert data["prescription_words"] == "10 µg every 90 min, 1-min bolus"
    assert set(data["vocabulary"]) == {o.value for o in SlotOutcome}
    day1, day2 = data["days"]
    assert day1["date"] == "2026-03-02"
    counts1 = day1["counts"]
    assert (day1["scheduled"], counts1["DELIVERED"], counts1["PARTIAL"]) == (6, 3, 1)
    assert (counts1["DENIED"], counts1["MISSED"]) == (1, 1)
    assert day1["denied_by_reason"] == {"suspended": 1}
    assert (day1["delivered_dose_ug"], day1["prescribed_dose_ug"]) == ("36.000", "60")
    assert day1["adherence_pct"] == "50.0"
    counts2 = day2["counts"]
    assert (counts2["UNCERTAIN"], counts2["NOT_DELIVERED"], day2["adherence_pct"]) == (
        2,
        1,
        "25.0",
    )
    assert data["total"]["scheduled"] == 10
    assert data["total"]["adherence_pct"] == "40.0"
    iv = data["intervals"]
    assert (iv["median_min"], iv["p5_min"], iv["p95_min"]) == (181.0, 88.6, 882.0)
    assert (iv["min_min"], iv["longest_gap_min"]) == (88.0, 990.0)
    assert iv["below_limit"] == [
        {"from_slot": "S20260302T093000Z", "to_slot": "S20260302T110000Z", "interval_min": 88.0}
    ]
    assert [
        (a["code"], a["priority"], a["acknowledged_by"], a["slot_ids"]) for a in data["alarms"]
    ] == [
        ("occlusion", "high", "nurse jones", ["S20260302T110000Z"]),
        ("uncertain-pulse", "medium", None, ["S20260303T093000Z"]),
    ]
    assert data["safety"]["alarms_by_priority"] == {"high": 1, "medium": 1, "low": 0}
    assert data["safety"]["uncertain_slots"] == ["S20260303T093000Z", "S20260303T123000Z"]
    assert data["suspensions"][0]["reason"] == "line change"
    assert [c["why"] for c in data["changes"]][-1] == "LH response low"
    assert data["exposure"]["pre_pulse_above_threshold"] == 0
    assert len(data["exposure"]["curve"]["times_utc"]) == len(
        data["exposure"]["curve"]["levels_pg_per_ml"]
    )
    slots = {s["slot_id"]: s for s in data["slots"]}
    assert len(slots) == 10
    assert slots["S20260302T110000Z"]["alarms"] == [
        {"alarm_id": "A1", "code": "occlusion", "priority": "high"}
    ]


def test_fhir_bundle_validates_and_maps_each_outcome(
    known: Known, outputs: dict[str, Path]
) -> None:
    """FHIR: a valid Bundle; status and outcome code per slot, µg doses, SC route, systems."""
    data = json.loads(outputs["fhir"].read_text(encoding="utf-8"))
    Bundle.model_validate(data)
    resources = [e["resource"] for e in data["entry"]]
    assert [r["resourceType"] for r in resources[:2]] == ["Device", "Medication"]
    device = resources[0]
    assert device["deviceName"][0]["name"] == "bench pump 3"
    assert device["note"][0]["text"].startswith("journal integrity: chain verified")
    system = device["identifier"][0]["system"]
    assert system.startswith("urn:uuid:")
    assert resources[1]["code"] == {"text": "gonadorelin"}
    admins = {
        r["identifier"][0]["value"]: r
        for r in resources
        if r["resourceType"] == "MedicationAdministration"
    }
    assert len(admins) == 10
    assert {a["identifier"][0]["system"] for a in admins.values()} == {system}
    # The models check structure and cardinality, not value sets: check the status codes here.
    r4_statuses = {"in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped"}
    assert {a["status"] for a in admins.values()} <= r4_statuses | {"unknown"}
    expected = {
        "d1_0800": ("completed", 10, "DELIVERED"),
        "d1_1100": ("completed", 6, "PARTIAL"),
        "d1_1230": ("not-done", 10, "DENIED"),
        "d1_1400": ("not-done", 10, "MISSED"),
        "d2_0800": ("completed", 12, "DELIVERED"),
        "d2_0930": ("unknown", 12, "UNCERTAIN"),
        "d2_1100": ("not-done", 12, "NOT_DELIVERED"),
        "d2_1230": ("unknown", 12, "UNCERTAIN"),
    }
    for key, (status, dose, outcome) in expected.items():
        admin = admins[known.slot_ids[key]]
        assert admin["status"] == status, key
        assert admin["extension"] == [{"url": OUTCOME_EXTENSION, "valueCode": outcome}], key
        assert admin["dosage"]["dose"]["value"] == dose, key
        assert admin["dosage"]["dose"]["code"] == "ug"
        assert admin["dosage"]["dose"]["system"] == "http://unitsofmeasure.org"
        assert admin["dosage"]["route"]["coding"][0]["code"] == "34206005"
        assert admin["subject"]["identifier"] == {"system": system, "value": "SUBJ-042"}
    assert admins[known.slot_ids["d1_1230"]]["statusReason"] == [{"text": "suspended"}]
    assert admins[known.slot_ids["d1_0930"]]["effectivePeriod"] == {
        "start": "2026-03-02T09:32:00+00:00",
        "end": "2026-03-02T09:33:00+00:00",
    }
    urls = {
        e["resource"].get("identifier", [{}])[0].get("value"): e["fullUrl"] for e in data["entry"]
    }
    issues = [r for r in resources if r["resourceType"] == "DetectedIssue"]
    assert [(i["code"]["text"], i["severity"]) for i in issues] == [
        ("occlusion", "high"),
        ("uncertain-pulse", "moderate"),
    ]
    assert issues[0]["implicated"] == [{"reference": urls[known.slot_ids["d1_1100"]]}]
    assert issues[1]["implicated"] == [{"reference": urls[known.slot_ids["d2_0930"]]}]
    assert (
        issues[0]["mitigation"][0]["action"]["text"] == "acknowledged by nurse jones: line replaced"
    )
    assert data["identifier"]["system"] == "urn:ietf:rfc:3986"


def test_html_states_the_same_facts_in_one_self_contained_page(outputs: dict[str, Path]) -> None:
    """HTML: verdict, subject, prescription in words, totals, intervals, alarms; nothing fetched."""
    page = outputs["html"].read_text(encoding="utf-8")
    assert 'class="verdict ok"' in page
    assert "SUBJ-042" in page
    assert "10 µg every 90 min, 1-min bolus" in page
    assert "LH response low" in page
    assert page.count("<svg") == 4
    assert 'id="adherence">adherence<b>40.0 %</b>4 of 10 due slots given in full' in page
    assert "<b>48 µg</b>of 108 µg prescribed for the due slots (44.4 %)" in page
    assert "4 delivered, 1 partial, 1 not delivered, 2 uncertain, 1 denied, 1 missed" in page
    for fact in ("181.0", "88.6", "882.0", "990.0", "108", "40.0", "nurse jones"):
        assert fact in page, fact
    assert "88.0 min" in page
    assert 'href="#slot-S20260302T110000Z"' in page  # the occlusion alarm links to its slot
    assert 'id="slot-S20260302T110000Z"' in page
    for fetch in ('src="', 'href="http', "url(http", "url(//", "@import", "<script", "<link"):
        assert fetch not in page, fetch
    assert "None" not in page


def test_fhir_validation_rejects_an_administration_without_subject(
    outputs: dict[str, Path],
) -> None:
    """The FHIR models really validate: dropping a required element makes the Bundle fail."""
    data = json.loads(outputs["fhir"].read_text(encoding="utf-8"))
    del data["entry"][2]["resource"]["subject"]
    with pytest.raises(ValidationError, match="subject"):
        Bundle.model_validate(data)
