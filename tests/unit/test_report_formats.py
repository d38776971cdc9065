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
from pumpctl.report.model import REPORT_SCHEMA
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
    # slot: (category, outcome, prescribed ug, delivered ug, delivered uL, reasons)
    "d1_0800": ("delivered", "DELIVERED", "10", "10.000", "10", ""),
    "d1_0930": ("delivered", "DELIVERED", "10", "10.000", "10", ""),
    "d1_1100": ("partial", "PARTIAL", "10", "6.000", "6", ""),
    "d1_1230": ("denied", "MISSED", "10", "", "", "suspended"),
    "d1_1400": ("missed", "MISSED", "10", "", "", "the daemon was not running"),
    "d1_1530": ("delivered", "DELIVERED", "10", "10.000", "10", ""),
    "d2_0800": ("delivered", "DELIVERED", "12", "12.000", "12", ""),
    "d2_0930": ("uncertain", "UNCERTAIN", "12", "", "", ""),
    "d2_1100": ("not-delivered", "NOT_DELIVERED", "12", "0.000", "0", ""),
    "d2_1230": ("uncertain", "PENDING", "12", "", "", ""),
}


def test_csv_has_one_row_per_slot_with_every_value(known: Known, outputs: dict[str, Path]) -> None:
    """CSV: the documented columns, one row per slot, outcome, doses and reasons as journaled."""
    with outputs["csv"].open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert tuple(rows[0].keys()) == COLUMNS
    assert len(rows) == 10
    by_id = {r["slot_id"]: r for r in rows}
    for key, (category, outcome, prescribed, delivered, volume, reasons) in EXPECTED_ROWS.items():
        row = by_id[known.slot_ids[key]]
        assert (row["category"], row["outcome"]) == (category, outcome), key
        assert row["prescribed_dose_ug"] == prescribed, key
        assert row["delivered_dose_ug"] == delivered, key
        assert (Decimal(row["delivered_volume_ul"]) if row["delivered_volume_ul"] else "") == (
            Decimal(volume) if volume else ""
        ), key
        assert row["reasons"] == reasons, key
    assert by_id[known.slot_ids["d1_0930"]]["start_utc"] == "2026-03-02T09:32:00+00:00"
    assert by_id[known.slot_ids["d1_0800"]]["local_date"] == "2026-03-02"
    assert by_id[known.slot_ids["d1_0800"]]["pre_pulse_level_fraction"] == "0.0000"
    delivered_total = sum((Decimal(r["delivered_dose_ug"] or 0) for r in rows), Decimal(0))
    assert delivered_total == Decimal("48")  # the not-delivered slot adds 0


def test_json_is_versioned_and_carries_every_summary(outputs: dict[str, Path]) -> None:
    """JSON: schema version, integrity, per-day and total counts, intervals, alarms, exposure."""
    data = json.loads(outputs["json"].read_text(encoding="utf-8"))
    assert data["schema"] == REPORT_SCHEMA
    assert data["integrity"]["ok"] is True
    assert data["integrity"]["head_seq"] == 36
    assert data["subject"] == SUBJECT
    day1, day2 = data["days"]
    assert day1["date"] == "2026-03-02"
    assert (day1["scheduled"], day1["delivered"], day1["partial"]) == (6, 3, 1)
    assert (day1["denied"], day1["missed"]) == (1, 1)
    assert day1["denied_by_reason"] == {"suspended": 1}
    assert (day1["delivered_dose_ug"], day1["prescribed_dose_ug"]) == ("36.000", "60")
    assert day1["adherence_pct"] == "50.0"
    assert (day2["uncertain"], day2["not-delivered"], day2["adherence_pct"]) == (2, 1, "25.0")
    assert data["total"]["scheduled"] == 10
    assert data["total"]["adherence_pct"] == "40.0"
    iv = data["intervals"]
    assert (iv["median_min"], iv["p5_min"], iv["p95_min"]) == (181.0, 88.6, 882.0)
    assert (iv["min_min"], iv["longest_gap_min"]) == (88.0, 990.0)
    assert iv["below_limit"] == [
        {"from_slot": "S20260302T093000Z", "to_slot": "S20260302T110000Z", "interval_min": 88.0}
    ]
    assert [(a["code"], a["priority"], a["acknowledged_by"]) for a in data["alarms"]] == [
        ("occlusion", "high", "nurse jones"),
        ("uncertain-pulse", "medium", None),
    ]
    assert data["suspensions"][0]["reason"] == "line change"
    assert [c["why"] for c in data["changes"]][-1] == "LH response low"
    assert data["exposure"]["pre_pulse_above_threshold"] == 0
    assert len(data["exposure"]["curve"]["times_utc"]) == len(
        data["exposure"]["curve"]["levels_pg_per_ml"]
    )
    assert len(data["slots"]) == 10


def test_fhir_bundle_validates_and_maps_each_outcome(
    known: Known, outputs: dict[str, Path]
) -> None:
    """FHIR: a valid Bundle; completed/not-done/unknown per outcome, µg doses, SC route."""
    data = json.loads(outputs["fhir"].read_text(encoding="utf-8"))
    Bundle.model_validate(data)
    resources = [e["resource"] for e in data["entry"]]
    assert [r["resourceType"] for r in resources[:2]] == ["Device", "Medication"]
    assert resources[0]["deviceName"][0]["name"] == "bench pump 3"
    assert resources[0]["note"][0]["text"].startswith("journal integrity: chain verified")
    assert resources[1]["code"] == {"text": "gonadorelin"}
    admins = {r["identifier"][0]["value"]: r for r in resources[2:]}
    assert len(admins) == 10
    # The models check structure and cardinality, not value sets: check the status codes here.
    r4_statuses = {"in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped"}
    assert {a["status"] for a in admins.values()} <= r4_statuses | {"unknown"}
    expected = {
        "d1_0800": ("completed", 10),
        "d1_1100": ("completed", 6),
        "d1_1230": ("not-done", 10),
        "d1_1400": ("not-done", 10),
        "d2_0800": ("completed", 12),
        "d2_0930": ("unknown", 12),
        "d2_1100": ("not-done", 12),
        "d2_1230": ("unknown", 12),
    }
    for key, (status, dose) in expected.items():
        admin = admins[known.slot_ids[key]]
        assert admin["status"] == status, key
        assert admin["dosage"]["dose"]["value"] == dose, key
        assert admin["dosage"]["dose"]["code"] == "ug"
        assert admin["dosage"]["dose"]["system"] == "http://unitsofmeasure.org"
        assert admin["dosage"]["route"]["coding"][0]["code"] == "34206005"
        assert admin["subject"]["identifier"]["value"] == "SUBJ-042"
    assert admins[known.slot_ids["d1_1230"]]["statusReason"] == [{"text": "suspended"}]
    assert admins[known.slot_ids["d1_0930"]]["effectivePeriod"] == {
        "start": "2026-03-02T09:32:00+00:00",
        "end": "2026-03-02T09:33:00+00:00",
    }


def test_html_states_the_same_facts_in_one_self_contained_page(outputs: dict[str, Path]) -> None:
    """HTML: verdict, subject, totals, intervals and alarms; inline SVG, no external fetch."""
    page = outputs["html"].read_text(encoding="utf-8")
    assert 'class="verdict ok"' in page
    assert "SUBJ-042" in page
    assert "LH response low" in page
    assert page.count("<svg") == 4
    assert "<b>10 slots</b> (4 delivered, 1 partial, 1 not-delivered, 1 missed, 1 denied, " in page
    assert "adherence <b>40.0 %</b>; delivered <b>48.000 µg</b> of 108 µg prescribed" in page
    assert "2 alarms, 1 suspensions; 1 intervals below the minimum" in page
    for fact in ("181.0", "88.6", "882.0", "990.0", "36.000", "108", "40.0", "nurse jones"):
        assert fact in page, fact
    assert "S20260302T093000Z → S20260302T110000Z: 88.0 min" in page
    for fetch in ('src="', 'href="http', "url(http", "url(//", "@import", "<script", "<link"):
        assert fetch not in page, fetch


def test_fhir_validation_rejects_an_administration_without_subject(
    outputs: dict[str, Path],
) -> None:
    """The FHIR models really validate: dropping a required element makes the Bundle fail."""
    data = json.loads(outputs["fhir"].read_text(encoding="utf-8"))
    del data["entry"][2]["resource"]["subject"]
    with pytest.raises(ValidationError, match="subject"):
        Bundle.model_validate(data)
