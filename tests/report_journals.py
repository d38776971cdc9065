"""Journals with known content for the report tests, written through the real journal API.

Every record goes through :class:`pumpctl.journal.Journal` on a :class:`VirtualClock`, so the
report reads exactly what a daemon would have written; ``known_journal`` is the reference
scenario whose every number the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Decision, Outcome, Reason, Slot
from pumpctl.journal import Journal
from pumpctl.watch import UnexplainedFlow

DAY1 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)

SUBJECT = {"id": "SUBJ-042", "pump_label": "bench pump 3", "note": "test subject"}
PUMP = {"label": "bench pump 3", "driver": "ne1000", "address": 0}
PRESCRIPTION = {
    "dose_ug": "10",
    "concentration_ug_per_ml": "1000",
    "interval_min": 90,
    "pulse_duration_s": 60,
    "anchor": "2026-03-02T08:00:00+00:00",
    "timezone": "UTC",
    "profile": [],
}
LIMITS = {"min_interval_min": 90, "max_pulses_24h": 16, "max_dose_24h_ug": "240"}


class JournalBuilder:
    """Writes daemon-shaped records at chosen virtual times."""

    def __init__(self, path: Path, start: datetime = DAY1) -> None:
        self.clock = VirtualClock(start, elapsed_s=1000.0)
        self.journal = Journal(path, self.clock)
        self.path = path

    def at(self, when: datetime) -> JournalBuilder:
        if when > self.clock.now():
            self.clock.advance_to(when)
        return self

    def start_daemon(self, *, with_config: bool = True) -> None:
        """daemon.start in the proposed shape: config digest, plus subject, pump and settings."""
        payload: dict[str, Any] = {
            "version": "0.1.0",
            "config_digest": "d1g3st",
            "config_path": None,
        }
        if with_config:
            payload |= {"subject": SUBJECT, "pump": PUMP}
        self.journal.append("daemon.start", payload)

    def prescribe(self, new: dict[str, Any], *, who: str, why: str, old: Any = None) -> None:
        self.journal.record_prescription_change(who, old, new, why)

    def limits(self, new: dict[str, Any], *, who: str, why: str) -> None:
        self.journal.record_limits_change(who, None, new, why)

    @staticmethod
    def slot(when: datetime, dose_ug: str = "10", duration_s: str = "60") -> Slot:
        dose = Decimal(dose_ug)
        return Slot(
            slot_id=f"S{when:%Y%m%dT%H%M%SZ}",
            scheduled=when,
            interval_min=90,
            dose_ug=dose,
            volume_ul=dose,  # 1000 ug/mL: one microlitre per microgram
            rate_ul_per_min=dose * 60 / Decimal(duration_s),
            duration_s=Decimal(duration_s),
        )

    def deliver(
        self,
        when: datetime,
        *,
        outcome: Outcome = Outcome.DELIVERED,
        delivered_ul: str | None = None,
        dose_ug: str = "10",
        late_s: float = 0.0,
    ) -> Slot:
        """Gate allows, intent, outcome: the pump starts ``late_s`` after the slot time."""
        slot = self.slot(when, dose_ug)
        self.at(when + timedelta(seconds=late_s))
        self.journal.record_gate_decision(slot.slot_id, Decision(predicted_level_fraction=0.1))
        self.journal.record_intent(slot)
        if outcome is not None:
            started = self.clock.now()
            volume = Decimal(delivered_ul) if delivered_ul is not None else slot.volume_ul
            self.at(started + timedelta(seconds=60))
            self.journal.record_outcome(
                slot.slot_id,
                outcome,
                delivered_volume_ul=None if outcome is Outcome.UNCERTAIN else volume,
                started=started if outcome is not Outcome.UNCERTAIN else None,
                ended=self.clock.now() if outcome is not Outcome.UNCERTAIN else None,
            )
        return slot

    def pending(self, when: datetime, dose_ug: str = "10") -> Slot:
        """An intent with no outcome: the daemon died mid-pulse."""
        slot = self.slot(when, dose_ug)
        self.at(when)
        self.journal.record_gate_decision(slot.slot_id, Decision())
        self.journal.record_intent(slot)
        return slot

    def deny(self, when: datetime, reasons: Sequence[Reason], *, grace_min: int = 10) -> Slot:
        """The gate denies the slot; its window closes and it is recorded missed with reasons."""
        slot = self.slot(when)
        self.at(when)
        self.journal.record_gate_decision(slot.slot_id, Decision(reasons=tuple(reasons)))
        self.at(when + timedelta(minutes=grace_min))
        self.journal.record_missed(slot.slot_id, when, reasons=reasons, detail="denied by the gate")
        return slot

    def miss(self, when: datetime, detail: str = "the daemon was not running") -> Slot:
        slot = self.slot(when)
        self.at(when + timedelta(minutes=10))
        self.journal.record_missed(slot.slot_id, when, detail=detail)
        return slot

    def flow(
        self,
        found_at: datetime,
        volume_ul: str | None,
        *,
        since: datetime | None = None,
        totals_ul: str | None = None,
        expected_ul: str | None = "0",
        moving: bool = False,
        where: str = "between pulses",
        slot_id: str | None = None,
        dose_recorded: bool = True,
        pump_reset: bool = False,
    ) -> UnexplainedFlow:
        """SR-26 as the daemon journals it: ``flow.unexplained`` (1 µg per µL here), then the
        high ``unexplained-flow`` alarm with the flow's own words, then the safety suspension.
        ``volume_ul`` None: the totals fell (to ``totals_ul``, default 0). ``slot_id``: found
        before clearing the totals for that slot's pulse, which the daemon then refused.
        ``dose_recorded`` False: no dose journaled with it (no prescribed volume to scale by).
        ``pump_reset``: the totals fell to a power reset the pump reported; the daemon then
        raises the pump's reset alarm instead, and suspends nothing."""
        self.at(found_at)
        volume = None if volume_ul is None else Decimal(volume_ul)
        expected = None if expected_ul is None else Decimal(expected_ul)
        if totals_ul is not None:
            totals = Decimal(totals_ul)
        else:
            totals = (expected or Decimal(0)) + volume if volume is not None else Decimal(0)
        found = UnexplainedFlow(volume, totals, expected, since, moving, where, reset=pump_reset)
        self.journal.record_unexplained_flow(
            volume_ul=volume,
            dose_ug=volume if dose_recorded else None,  # 1000 ug/mL
            totals_ul=totals,
            expected_ul=expected,
            since=since,
            moving=moving,
            where=where,
            pump_reset=pump_reset,
        )
        if pump_reset:
            self.journal.record_alarm(
                "pump-alarm-reset", "pump-alarm-reset", "high", found.describe(), slot_id=slot_id
            )
            return found
        self.journal.record_alarm(
            "unexplained-flow", "unexplained-flow", "high", found.describe(), slot_id=slot_id
        )
        self.journal.record_suspend(
            "pumpctl", f"unexplained-flow: {found.describe()}", cause="unexplained-flow"
        )
        return found

    def close(self) -> None:
        self.journal.close()


@dataclass(frozen=True)
class Known:
    """The reference journal's facts, stated independently of the report code."""

    path: Path
    slot_ids: dict[str, str]


def known_journal(path: Path) -> Known:
    """Two UTC days of therapy with every kind of outcome, alarms, a suspension and a change.

    Day 1 (2026-03-02): slots 08:00, 09:30, 11:00, 12:30, 14:00, 15:30.
      08:00 delivered 10 ug; 09:30 delivered (pump started 2 min late); 11:00 partial 6 uL
      (6 ug); 12:30 denied (suspended); 14:00 missed (daemon not running); 15:30 delivered.
      Alarm A1 (high, for the 11:00 slot) raised 11:01, acknowledged 11:20 by nurse jones;
      suspended 11:20-13:00.
    Day 2 (2026-03-03), new dose 12 ug from 07:00: 08:00 delivered; 09:30 uncertain (alarm A2,
      medium, for that slot); 11:00 not delivered (0 uL); 12:30 pending intent (uncertain).
    """
    b = JournalBuilder(path)
    ids: dict[str, str] = {}
    b.at(DAY1 + timedelta(hours=7))
    b.start_daemon()
    b.prescribe(PRESCRIPTION, who="dr. smith", why="initial prescription")
    b.limits(LIMITS, who="dr. smith", why="initial limits")
    d1 = DAY1 + timedelta(hours=8)
    ids["d1_0800"] = b.deliver(d1).slot_id
    ids["d1_0930"] = b.deliver(d1 + timedelta(minutes=90), late_s=120).slot_id
    ids["d1_1100"] = b.deliver(
        d1 + timedelta(minutes=180), outcome=Outcome.PARTIAL, delivered_ul="6"
    ).slot_id
    b.journal.record_alarm(
        "A1", "occlusion", "high", "stall during the pulse", slot_id=ids["d1_1100"]
    )
    b.at(d1 + timedelta(minutes=200))
    b.journal.record_alarm_acknowledged("A1", "nurse jones", note="line replaced")
    b.journal.record_alarm_cleared("A1", why="acknowledged")
    b.journal.record_suspend("nurse jones", "line change")
    ids["d1_1230"] = b.deny(d1 + timedelta(minutes=270), [Reason.SUSPENDED]).slot_id
    b.at(d1 + timedelta(minutes=300))
    b.journal.record_resume("nurse jones", "line changed")
    ids["d1_1400"] = b.miss(d1 + timedelta(minutes=360)).slot_id
    ids["d1_1530"] = b.deliver(d1 + timedelta(minutes=450)).slot_id
    d2 = DAY1 + timedelta(days=1, hours=8)
    b.at(d2 - timedelta(hours=1))
    new = PRESCRIPTION | {"dose_ug": "12"}
    b.prescribe(new, who="dr. smith", why="LH response low", old=PRESCRIPTION)
    ids["d2_0800"] = b.deliver(d2, dose_ug="12").slot_id
    ids["d2_0930"] = b.deliver(
        d2 + timedelta(minutes=90), outcome=Outcome.UNCERTAIN, dose_ug="12"
    ).slot_id
    b.journal.record_alarm(
        "A2", "uncertain-pulse", "medium", "power reset during the pulse", slot_id=ids["d2_0930"]
    )
    ids["d2_1100"] = b.deliver(
        d2 + timedelta(minutes=180), outcome=Outcome.NOT_DELIVERED, delivered_ul="0", dose_ug="12"
    ).slot_id
    ids["d2_1230"] = b.pending(d2 + timedelta(minutes=270), dose_ug="12").slot_id
    b.close()
    return Known(path, ids)
