"""FHIR R4: a Bundle (type ``collection``) with the pump, the drug and one administration per slot.

Status mapping: delivered, partial and over-delivered → ``completed`` (with the measured dose);
missed, denied and not delivered → ``not-done`` with a ``statusReason``; uncertain → ``unknown``.
Slots not yet due (``open``) are not administrations and are left out. The dose is in µg (UCUM
``ug``), the route subcutaneous (SNOMED CT 34206005). The medication carries text only: no code
was verified against a public terminology source.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from pumpctl.report.model import NOT_RECORDED, Report, SlotRow

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
SUBCUTANEOUS = {"system": SNOMED, "code": "34206005", "display": "Subcutaneous route"}
STATUS = {
    "delivered": "completed",
    "partial": "completed",
    "over-delivered": "completed",
    "not-delivered": "not-done",
    "missed": "not-done",
    "denied": "not-done",
    "uncertain": "unknown",
}
_NAMESPACE = uuid.UUID("6f1d0c52-4c8e-4a57-9b51-7f1b6d2c9a10")


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '/'.join(parts))}"


def _time(when: datetime) -> str:
    return when.isoformat()


def _administration(
    row: SlotRow, seed: str, device: str, medication: str, subject: dict[str, Any]
) -> dict[str, Any] | None:
    status = STATUS.get(row.category)
    start = row.started or row.scheduled
    if status is None or start is None:
        return None
    dose = row.delivered_dose_ug if status == "completed" else row.prescribed_dose_ug
    resource: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "identifier": [{"value": row.slot_id}],
        "status": status,
        "medicationReference": {"reference": medication},
        "subject": subject,
        "effectivePeriod": {"start": _time(start), "end": _time(row.ended or start)},
        "device": [{"reference": device}],
        "note": [{"text": f"pumpctl outcome {row.outcome} ({row.category})"}],
        "dosage": {"route": {"coding": [SUBCUTANEOUS], "text": "subcutaneous"}},
    }
    if dose is not None:
        resource["dosage"]["dose"] = {
            "value": float(dose) if dose != dose.to_integral() else int(dose),
            "unit": "µg",
            "system": UCUM,
            "code": "ug",
        }
    if status == "not-done":
        resource["statusReason"] = [{"text": r} for r in row.reasons or (row.category,)]
    return {"fullUrl": _urn(seed, "slot", row.slot_id), "resource": resource}


def to_bundle(report: Report) -> dict[str, Any]:
    """The report's slots as a FHIR R4 Bundle (plain JSON-ready data)."""
    seed = report.integrity.head_hash or report.journal_path
    device_url, medication_url = _urn(seed, "device"), _urn(seed, "medication")
    pump = report.pump or {}
    subject_info = report.subject or {}
    subject_id = subject_info.get("id")
    subject: dict[str, Any] = (
        {"identifier": {"value": str(subject_id)}, "display": str(subject_id)}
        if subject_id
        else {"display": f"subject {NOT_RECORDED}"}
    )
    version = report.daemon_starts[-1].get("version") if report.daemon_starts else None
    device: dict[str, Any] = {
        "resourceType": "Device",
        "deviceName": [
            {
                "name": str(
                    pump.get("label")
                    or subject_info.get("pump_label")
                    or "syringe pump (label not recorded)"
                ),
                "type": "user-friendly-name",
            }
        ],
        "type": {"text": "syringe infusion pump driven by pumpctl"},
        "note": [{"text": f"journal integrity: {report.integrity.verdict}"}],
    }
    if version:
        device["version"] = [{"value": f"pumpctl {version}"}]
    medication = {
        "resourceType": "Medication",
        "code": {"text": "gonadorelin"},
    }
    entries: list[dict[str, Any]] = [
        {"fullUrl": device_url, "resource": device},
        {"fullUrl": medication_url, "resource": medication},
    ]
    for row in report.slots:
        entry = _administration(row, seed, device_url, medication_url, subject)
        if entry is not None:
            entries.append(entry)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _time(report.generated),
        "identifier": {"value": f"pumpctl-report-{seed}"},
        "entry": entries,
    }


def write_fhir(report: Report, output: Path) -> None:
    with output.open("w", encoding="utf-8") as stream:
        json.dump(to_bundle(report), stream, ensure_ascii=False, indent=1)
        stream.write("\n")
