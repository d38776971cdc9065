"""FHIR R4: a Bundle (type ``collection``) of the pump, the drug, each due slot and each alarm.

- one ``MedicationAdministration`` per due slot; ``status`` from the outcome vocabulary
  (:mod:`pumpctl.report.outcomes`), the outcome code itself in an extension, the dose in µg
  (UCUM ``ug``), the route subcutaneous (SNOMED CT 34206005). Slots not yet due are left out.
- one ``MedicationAdministration`` per journaled unexplained flow (SR-26: the subject received
  it), its outcome code ``UNEXPLAINED_FLOW``; ``completed`` with the dose at the volume the
  pump's totals showed, ``unknown`` with no dose when they fell;
- one ``DetectedIssue`` per alarm (severity from its priority) and per unexplained flow,
  ``implicated`` naming the administrations of the slots (or of the flow) it concerns, or the
  device.

Identifiers carry a ``system``: the journal's URN, in which slot ids are unique. The medication
carries text only: no code was verified against a public terminology source.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pumpctl.core.alarm_kinds import Priority
from pumpctl.report.build import JOURNAL_NAMESPACE
from pumpctl.report.model import AlarmRow, Flow, Report, SlotRow
from pumpctl.report.outcomes import TERMS, UNEXPLAINED_FLOW, UNEXPLAINED_FLOW_MEANING
from pumpctl.report.words import NOT_RECORDED

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
URI = "urn:ietf:rfc:3986"  # the identifier is itself a URI
#: Extension carrying the report's outcome code on each administration.
OUTCOME_EXTENSION = "urn:pumpctl:fhir:slot-outcome"
SUBCUTANEOUS = {"system": SNOMED, "code": "34206005", "display": "Subcutaneous route"}
SEVERITY: dict[str, str] = {Priority.HIGH: "high", Priority.MEDIUM: "moderate", Priority.LOW: "low"}


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(JOURNAL_NAMESPACE, '/'.join(parts))}"


def _filled(text: str | None, fallback: str) -> str:
    """FHIR strings may not be empty or blank: a journaled blank reads as ``fallback``."""
    return text if text and text.strip() else fallback


def _time(when: datetime) -> str:
    return when.isoformat()


def _dose(value: Decimal) -> dict[str, Any]:
    return {
        "value": float(value) if value != value.to_integral() else int(value),
        "unit": "µg",
        "system": UCUM,
        "code": "ug",
    }


def _administration(
    row: SlotRow, system: str, seed: str, *, device: str, medication: str, subject: dict[str, Any]
) -> dict[str, Any] | None:
    term = TERMS[row.outcome]
    start = row.started or row.scheduled
    if term.fhir_status is None or start is None:
        return None
    dose = row.delivered_dose_ug if term.moved else row.prescribed_dose_ug
    resource: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "extension": [{"url": OUTCOME_EXTENSION, "valueCode": row.outcome.value}],
        "identifier": [{"system": system, "value": row.slot_id}],
        "status": term.fhir_status,
        "medicationReference": {"reference": medication},
        "subject": subject,
        "effectivePeriod": {"start": _time(start), "end": _time(row.ended or start)},
        "device": [{"reference": device}],
        "note": [{"text": f"pumpctl outcome {row.outcome.value}: {term.meaning}"}],
        "dosage": {"route": {"coding": [SUBCUTANEOUS], "text": "subcutaneous"}},
    }
    if dose is not None:
        resource["dosage"]["dose"] = _dose(dose)
    if term.fhir_status == "not-done":
        resource["statusReason"] = [
            {"text": _filled(r, term.label)} for r in row.reasons or (term.label,)
        ]
    return {"fullUrl": _urn(seed, "slot", row.slot_id), "resource": resource}


def _issue(
    alarm: AlarmRow, system: str, seed: str, implicated: list[dict[str, str]]
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "identifier": [
            {"system": system, "value": f"alarm/{alarm.alarm_id}/{_time(alarm.raised)}"}
        ],
        "status": "final",
        "code": {"text": _filled(alarm.code, "alarm (kind not recorded)")},
        "severity": SEVERITY.get(alarm.priority, "low"),
        "identifiedDateTime": _time(alarm.raised),
        "implicated": implicated,
        "detail": _filled(alarm.message, _filled(alarm.code, "no message recorded")),
    }
    if alarm.acknowledged is not None:
        note = f": {alarm.acknowledge_note}" if alarm.acknowledge_note else ""
        resource["mitigation"] = [
            {
                "action": {"text": f"acknowledged by {alarm.acknowledged_by}{note}"},
                "date": _time(alarm.acknowledged),
            }
        ]
    return {
        "fullUrl": _urn(seed, "alarm", alarm.alarm_id, _time(alarm.raised)),
        "resource": resource,
    }


def _flow_administration(
    flow: Flow, system: str, seed: str, *, device: str, medication: str, subject: dict[str, Any]
) -> dict[str, Any]:
    """A journaled unexplained flow as what the subject received (SR-26): ``completed`` at the
    volume the totals showed, or ``unknown`` (no dose) when they fell."""
    known = flow.volume_ul is not None and flow.dose_ug is not None
    resource: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "extension": [{"url": OUTCOME_EXTENSION, "valueCode": UNEXPLAINED_FLOW}],
        "identifier": [{"system": system, "value": str(flow.flow_id)}],
        "status": "completed" if known else "unknown",
        "medicationReference": {"reference": medication},
        "subject": subject,
        "effectivePeriod": {"start": _time(flow.since or flow.when), "end": _time(flow.when)},
        "device": [{"reference": device}],
        "note": [{"text": f"pumpctl {UNEXPLAINED_FLOW}: {UNEXPLAINED_FLOW_MEANING}"}],
        "dosage": {
            "text": _filled(flow.detail, flow.volume_text),
            "route": {"coding": [SUBCUTANEOUS], "text": "subcutaneous"},
        },
    }
    if known and flow.dose_ug is not None:
        resource["dosage"]["dose"] = _dose(flow.dose_ug)
    return {"fullUrl": _urn(seed, "flow", str(flow.flow_id)), "resource": resource}


def _flow_issue(
    flow: Flow, system: str, seed: str, implicated: list[dict[str, str]]
) -> dict[str, Any]:
    key = flow.flow_id or f"flow/{_time(flow.when)}"
    detail = _filled(flow.detail, flow.volume_text)
    return {
        "fullUrl": _urn(seed, "flow-issue", key),
        "resource": {
            "resourceType": "DetectedIssue",
            "identifier": [{"system": system, "value": f"issue/{key}"}],
            "status": "final",
            "code": {"text": "unexplained-flow"},
            "severity": "high",
            "identifiedDateTime": _time(flow.when),
            "implicated": implicated,
            "detail": f"fluid moved with no pulse commanded: {detail}",
        },
    }


def to_bundle(report: Report) -> dict[str, Any]:
    """The report's slots and alarms as a FHIR R4 Bundle (plain JSON-ready data)."""
    seed = report.journal_id or report.source
    system = report.journal_id or _urn("journal", report.source)
    device_url, medication_url = _urn(seed, "device"), _urn(seed, "medication")
    pump = report.pump or {}
    subject_info = report.subject or {}
    subject_id = subject_info.get("id")
    subject: dict[str, Any] = (
        {"identifier": {"system": system, "value": str(subject_id)}, "display": str(subject_id)}
        if subject_id
        else {"display": f"subject {NOT_RECORDED}"}
    )
    version = report.daemon_starts[-1].get("version") if report.daemon_starts else None
    device: dict[str, Any] = {
        "resourceType": "Device",
        "identifier": [{"system": system, "value": "pump"}],
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
    entries: list[dict[str, Any]] = [
        {"fullUrl": device_url, "resource": device},
        {
            "fullUrl": medication_url,
            "resource": {"resourceType": "Medication", "code": {"text": "gonadorelin"}},
        },
    ]
    urls: dict[str, str] = {}
    for row in report.slots:
        entry = _administration(
            row, system, seed, device=device_url, medication=medication_url, subject=subject
        )
        if entry is not None:
            entries.append(entry)
            urls[row.slot_id] = entry["fullUrl"]
    for alarm in report.alarms:
        implicated = [{"reference": urls[s]} for s in alarm.slot_ids if s in urls]
        entries.append(_issue(alarm, system, seed, implicated or [{"reference": device_url}]))
    for flow in report.safety.unexplained_flow:
        implicated = [{"reference": device_url}]
        if flow.flow_id is not None:  # a journaled flow: received, listed as administered
            administered = _flow_administration(
                flow, system, seed, device=device_url, medication=medication_url, subject=subject
            )
            entries.append(administered)
            implicated = [{"reference": administered["fullUrl"]}]
        entries.append(_flow_issue(flow, system, seed, implicated))
    head = report.integrity.head_text
    period = f"{report.period_from}/{report.period_to}"
    return {
        "resourceType": "Bundle",
        "identifier": {"system": URI, "value": _urn(seed, "report", head, period)},
        "type": "collection",
        "timestamp": _time(report.generated),
        "entry": entries,
    }


def write_fhir(report: Report, output: Path) -> None:
    with output.open("w", encoding="utf-8") as stream:
        json.dump(to_bundle(report), stream, ensure_ascii=False, indent=1)
        stream.write("\n")
