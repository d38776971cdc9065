"""The configuration as the journal records it: the effective prescription and its change records.

Used at start-up (by :func:`pumpctl.daemon.assemble.assemble`) and at reload, so the journal
shows one spelling of a prescription and of the limits whichever path wrote them (SR-21).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from pumpctl.config import Config
from pumpctl.core.model import Limits, Prescription
from pumpctl.core.planner import describe_anchor
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


@dataclass(frozen=True)
class Cadence:
    """The prescription in force, its anchor resolved, and where that anchor came from."""

    prescription: Prescription
    #: The journal's anchor is in force (a daemon already follows this cadence).
    from_journal: bool
    #: The configured time of day, for a time-of-day anchor.
    time_of_day: time | None = None

    def describe(self) -> str:
        """One line saying when the slots are, truthfully: the anchor and what keeps it."""
        return describe_anchor(self.prescription, self.time_of_day, from_journal=self.from_journal)


def resolve(config: Config, journaled: Mapping[str, Any] | None) -> Cadence:
    """The cadence ``config`` gives, given the prescription last journaled (None: no journal).

    A date-time anchor is the first slot. A time-of-day anchor was placed when the configuration
    was loaded (the last such local time before then) and the cadence runs on from it; it is
    never re-anchored each day. Once a daemon has journaled the prescription, the journal's
    anchor stays in force while the configured prescription is otherwise the same and its time
    of day still matches.

    Invariant (SR-32): the daemon at start and on reload, ``plan``, ``config check`` and
    ``simulate`` place slots through this one function.
    """
    p = config.prescription
    tod = config.anchor_time_of_day
    configured = Cadence(p, from_journal=False, time_of_day=tod)
    if tod is None or not journaled or not journaled.get("anchor"):
        return configured
    if dict(journaled) != dict(prescription_dict(p), anchor=journaled["anchor"]):
        return configured
    anchor = datetime.fromisoformat(str(journaled["anchor"]))
    if anchor.astimezone(p.zone).time() != tod:
        return configured
    return Cadence(replace(p, anchor=anchor), from_journal=True, time_of_day=tod)


def effective_prescription(config: Config, journal: Journal) -> Prescription:
    """A time-of-day anchor keeps the cadence the journal already follows across restarts."""
    return resolve(config, last_recorded(journal, EventKind.PRESCRIPTION_CHANGE)).prescription


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
