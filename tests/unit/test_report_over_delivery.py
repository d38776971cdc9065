"""An OVER_DELIVERED pulse keeps its measured volume in the export and every report format."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from pumpctl.core.model import Outcome
from pumpctl.journal.export import export_slots
from pumpctl.journal.query import iter_events
from pumpctl.journal.store import connect
from pumpctl.report import write_report
from tests.report_journals import DAY1, LIMITS, PRESCRIPTION, JournalBuilder

D1 = DAY1 + timedelta(hours=8)


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("over") / "journal.sqlite3"
    b = JournalBuilder(path)
    b.at(D1 - timedelta(hours=1))
    b.start_daemon()
    b.prescribe(PRESCRIPTION, who="dr. smith", why="initial prescription")
    b.limits(LIMITS, who="dr. smith", why="initial limits")
    b.deliver(D1)
    over = b.deliver(
        D1 + timedelta(minutes=90), outcome=Outcome.OVER_DELIVERED, delivered_ul="10.4"
    )
    b.journal.record_alarm(
        "over-delivery", "over-delivery", "high", "10.4 uL for 10 uL", slot_id=over.slot_id
    )
    b.close()
    return path, over.slot_id


def test_log_export_states_over_delivered_with_the_measured_dose(
    journal: tuple[Path, str],
) -> None:
    """SR-25: the export row says OVER_DELIVERED with 10.4 uL and 10.400 ug, and its alarm."""
    path, slot_id = journal
    conn = connect(path, writable=False)
    try:
        rows = {r["slot_id"]: r for r in export_slots(iter_events(conn))}
    finally:
        conn.close()
    row = rows[slot_id]
    assert (row["outcome"], row["delivered_volume_ul"], row["delivered_dose_ug"]) == (
        "OVER_DELIVERED",
        "10.4",
        "10.400",
    )
    assert [a["alarm_id"] for a in row["alarms"]] == ["over-delivery"]


def test_every_report_format_counts_the_real_volume(
    journal: tuple[Path, str], tmp_path: Path
) -> None:
    """SR-25: CSV, JSON, FHIR and HTML name the pulse over-delivered and count 10.4 ug of it
    in the delivered totals and the exposure model."""
    path, slot_id = journal
    out = {fmt: write_report(path, fmt, tmp_path / f"r.{fmt}") for fmt in ("csv", "json", "fhir")}
    with out["csv"].open(encoding="utf-8", newline="") as stream:
        row = {r["slot_id"]: r for r in csv.DictReader(stream)}[slot_id]
    assert (row["outcome"], row["delivered_dose_ug"], row["alarms"]) == (
        "OVER_DELIVERED",
        "10.400",
        "over-delivery:high",
    )
    data = json.loads(out["json"].read_text(encoding="utf-8"))
    assert data["total"]["counts"]["OVER_DELIVERED"] == 1
    assert data["total"]["delivered_dose_ug"] == "20.400"  # 10 + the measured 10.4
    assert data["safety"]["over_delivered_slots"] == [slot_id]
    fhir = json.loads(out["fhir"].read_text(encoding="utf-8"))
    Bundle.model_validate(fhir)
    admin = next(
        e["resource"]
        for e in fhir["entry"]
        if e["resource"].get("identifier", [{}])[0].get("value") == slot_id
    )
    assert admin["status"] == "completed"
    assert Decimal(str(admin["dosage"]["dose"]["value"])) == Decimal("10.4")
    assert "OVER_DELIVERED" in admin["note"][0]["text"]
    html = write_report(path, "html", tmp_path / "r.html").read_text(encoding="utf-8")
    assert "over-delivered" in html
