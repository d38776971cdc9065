"""The configuration as the journal records it: the effective prescription and its change records.

Used at start-up (by :func:`pumpctl.daemon.assemble.assemble`) and at reload, so the journal
shows one spelling of a prescription and of the limits whichever path wrote them (SR-21).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from pumpctl.config import Config
from pumpctl.core.model import Limits, Prescription
from pumpctl.journal import EventKind, Journal


def prescription_dict(p: Prescription) -> dict[str, Any]:
    return {
        "dose_ug": str(p.dose_ug),
        "concentration_ug_per_ml": str(p.concentration_ug_per_ml),
        "interval_min": p.interval_min,
        "pulse_duration_s": p.pulse_duration_s,
        "anchor": p.anchor.isoformat(),
        "timezone": p.timezone,
        "profile": [
            {"start": w.start.isoformat(), "end": w.end.isoformat(), "interval_min": w.interval_min}
            for w in p.profile
        ],
    }


def limits_dict(limits: Limits) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in limits.__dict__.items()}


def config_identity(config: Config) -> dict[str, Any]:
    """Subject and pump labels for the journal's daemon.start record (read by reports)."""
    pump = config.pump
    return {
        "subject": {
            "id": config.subject.id,
            "pump_label": config.subject.pump_label,
            "note": config.subject.note,
            "study": config.subject.study,
        },
        "pump": {
            "label": config.subject.pump_label,
            "driver": pump.driver,
            "url": pump.url,
            "address": pump.address,
            "syringe_diameter_mm": str(pump.syringe_diameter_mm),
            "syringe_volume_ul": str(pump.syringe_volume_ul),
        },
    }


def effective_prescription(config: Config, journal: Journal) -> Prescription:
    """A time-of-day anchor keeps the cadence the journal already follows across restarts."""
    p = config.prescription
    last = last_recorded(journal, EventKind.PRESCRIPTION_CHANGE)
    if config.anchor_time_of_day is None or last is None or not last.get("anchor"):
        return p
    if last == dict(prescription_dict(p), anchor=last["anchor"]):
        anchor = datetime.fromisoformat(str(last["anchor"]))
        if anchor.astimezone(p.zone).time() == config.anchor_time_of_day:
            return replace(p, anchor=anchor)
    return p


def last_recorded(journal: Journal, kind: EventKind) -> dict[str, Any] | None:
    """The ``new`` side of the last change record of ``kind``, or None."""
    events = journal.events(kinds=(kind,))
    if not events:
        return None
    new = events[-1].payload.get("new")
    return dict(new) if isinstance(new, dict) else None


def record_configuration(journal: Journal, prescription: Prescription, limits: Limits) -> None:
    """SR-21: a prescription or limits different from the journal's last takes effect journaled."""
    who = "configuration file"
    why = "configuration at daemon start differs from the journaled one"
    old_p = last_recorded(journal, EventKind.PRESCRIPTION_CHANGE)
    new_p = prescription_dict(prescription)
    if old_p != new_p:
        journal.record_prescription_change(who, old_p, new_p, why if old_p else "first start")
    old_l = last_recorded(journal, EventKind.LIMITS_CHANGE)
    new_l = limits_dict(limits)
    if old_l != new_l:
        journal.record_limits_change(who, old_l, new_l, why if old_l else "first start")
