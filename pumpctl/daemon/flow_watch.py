"""SR-26 between pulses: the loop's scheduled reading of the pump, and what unexplained flow costs.

The daemon reads the pump's state and dispensed totals every :func:`flow_watch_interval_s`
(the one place the cadence is set), independently of the watchdog heartbeat. Volume the totals
show beyond what pumpctl accounted for is journaled (``flow.unexplained``) and then counts like a
pulse given at the moment it was found: for the minimum interval, both 24 h caps and the
exposure model (the latest time it can have happened, so it weighs longest and heaviest), and
for the reservoir.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

import structlog

from pumpctl.core.clock import Clock, seconds_to_us
from pumpctl.core.gate import HISTORY_HORIZON
from pumpctl.core.model import Outcome, Prescription, PulseRecord
from pumpctl.delivery import PulseDelivery
from pumpctl.drivers.base import PumpStatus
from pumpctl.journal import Journal
from pumpctl.journal.events import EventKind
from pumpctl.journal.query import EventRow
from pumpctl.pulse import query_with_retry
from pumpctl.watch import UnexplainedFlow, flow_watch_interval_s

log = structlog.get_logger("pumpctl.daemon")

#: Where in a flow record's id the journal sequence goes: ``flow-<seq>``.
FLOW_ID_PREFIX = "flow-"
_TOTALS_KINDS = (
    EventKind.TOTALS_CLEARING.value,
    EventKind.PULSE_ARMED.value,
    EventKind.PULSE_INTENT.value,
    EventKind.PULSE_OUTCOME.value,
    EventKind.PULSE_RECONCILED.value,
    EventKind.FLOW_UNEXPLAINED.value,
)


def flow_record(
    ident: str,
    volume_ul: Decimal,
    dose_ug: Decimal,
    *,
    wall: datetime,
    elapsed_s: float,
    boot: str,
) -> PulseRecord:
    """Unexplained flow as the gate counts it: a pulse of that volume given when it was found."""
    return PulseRecord(
        slot_id=ident,
        intent_wall=wall,
        intent_elapsed_s=elapsed_s,
        boot_id=boot,
        dose_ug=dose_ug,
        volume_ul=volume_ul,
        duration_s=Decimal(0),
        outcome=Outcome.DELIVERED,
        delivered_volume_ul=volume_ul,
    )


def record_from_event(event: EventRow) -> PulseRecord | None:
    """The gate's record for a journaled ``flow.unexplained`` (None when no volume is known)."""
    volume, dose = event.payload.get("volume_ul"), event.payload.get("dose_ug")
    if volume is None or dose is None:
        return None
    return flow_record(
        f"{FLOW_ID_PREFIX}{event.seq}",
        Decimal(str(volume)),
        Decimal(str(dose)),
        wall=event.wall,
        elapsed_s=event.elapsed_s,
        boot=event.boot_id,
    )


class ExpectedTotals(NamedTuple):
    """What the pump's totals should read after the journal's records."""

    expected_ul: Decimal | None  # None: not known
    #: An operator's settlement: the next reading is to be taken as it is.
    adopt: bool = False
    #: The last record is a clear that may not have been sent: zero is explained too.
    cleared_maybe: bool = False


def expected_totals(events: list[EventRow]) -> ExpectedTotals:
    """What the pump's totals should read after these records.

    Every arming (and so every intent) follows a clear (zero): a daemon killed with a pulse
    armed leaves totals of zero, which the next one must expect; a daemon killed between
    ``totals.clearing`` and ``pulse.armed`` leaves either the totals read before the clear or
    zero; an outcome or a reconciliation from the pump leaves its measured volume; a journaled
    flow leaves the totals it found; an UNCERTAIN outcome leaves them unknown.
    """
    found = ExpectedTotals(None)
    for event in events:
        p = event.payload
        if event.kind in (EventKind.PULSE_ARMED, EventKind.PULSE_INTENT):
            found = ExpectedTotals(Decimal(0))
        elif event.kind == EventKind.TOTALS_CLEARING:
            found = ExpectedTotals(Decimal(str(p["totals_ul"])), cleared_maybe=True)
        elif event.kind == EventKind.FLOW_UNEXPLAINED:
            found = ExpectedTotals(Decimal(str(p["totals_ul"])))
        elif event.kind == EventKind.PULSE_RECONCILED and p.get("source") == "operator":
            found = ExpectedTotals(None, adopt=True)
        else:
            delivered = p.get("delivered_volume_ul")
            found = ExpectedTotals(None if delivered is None else Decimal(str(delivered)))
    return found


@dataclass
class FlowWatch:
    """The between-pulse watch of one daemon: when it is due, and the flows it has counted.

    The due time is kept in whole microseconds of the clock's elapsed reading, as every limit
    is: a float sum of reading and interval can land an ulp past the reading one interval
    later, and the loop then woke for nothing and read a millisecond late.
    """

    clock: Clock
    interval_s: float
    next_due_us: int = 0  # due at once: the first reading after start-up

    def __post_init__(self) -> None:
        self.records: list[PulseRecord] = []
        self.interval_us = seconds_to_us(self.interval_s)

    @classmethod
    def for_scale(cls, clock: Clock, time_scale: float) -> FlowWatch:
        return cls(clock, flow_watch_interval_s(time_scale))

    def load(self, journal: Journal, delivery: PulseDelivery) -> None:
        """Rebuild the expected totals and the recent flows from the journal (at start-up)."""
        # The last intent (a clear) bounds what matters; read only recent records when it is
        # recent, the whole journal after a long pause.
        recent = journal.events(kinds=_TOTALS_KINDS, since=self.clock.now() - 2 * HISTORY_HORIZON)
        if not any(e.kind == EventKind.PULSE_INTENT for e in recent):
            recent = journal.events(kinds=_TOTALS_KINDS)
        expected = expected_totals(recent)
        delivery.flow.settled(expected.expected_ul, self.clock.now())
        delivery.flow.adopt_next = expected.adopt
        delivery.flow.cleared_maybe = expected.cleared_maybe
        since = self.clock.now() - HISTORY_HORIZON
        self.records = [
            record
            for event in journal.events(kinds=(EventKind.FLOW_UNEXPLAINED.value,), since=since)
            if (record := record_from_event(event)) is not None
        ]

    def due(self) -> bool:
        return self.clock.elapsed_us() >= self.next_due_us

    def postpone(self) -> None:
        """Not read now (a pulse is pending): due again one interval from now."""
        self.next_due_us = self.clock.elapsed_us() + self.interval_us

    def seconds_until_due(self) -> float:
        return max(0, self.next_due_us - self.clock.elapsed_us()) / 1_000_000

    def gate_records(self, since: datetime) -> list[PulseRecord]:
        return [r for r in self.records if r.intent_wall >= since]

    def check(
        self, delivery: PulseDelivery, prescription: Prescription
    ) -> tuple[PumpStatus, UnexplainedFlow | None]:
        """One reading: stop the pump if it moves, journal and count any unexplained volume.

        Invariant (SR-26): between pulses the pump's totals are read every ``interval_s`` and
        anything no pulse commanded is journaled before the caller alarms and suspends.
        """
        self.next_due_us = self.clock.elapsed_us() + self.interval_us
        reading = delivery.read_progress()
        infused = reading.totals.infused_ul
        if reading.status.moving:
            delivery.driver.stop()
            infused = query_with_retry(delivery.driver.dispensed).infused_ul
        found = delivery.flow.judge(
            infused, at=self.clock.now(), moving=reading.status.moving, where="between pulses"
        )
        if found is None:
            return reading.status, None
        dose = None
        if found.volume_ul is not None and prescription.volume_ul:
            dose = found.volume_ul * prescription.dose_ug / prescription.volume_ul
        delivery.record_flow(found, dose)
        self.count(found, dose)
        return reading.status, found

    def count(self, found: UnexplainedFlow, dose_ug: Decimal | None) -> None:
        """Add a just-journaled flow to the gate's records (placed at the time it was found)."""
        if found.volume_ul is None or dose_ug is None:
            return
        self.records.append(
            flow_record(
                f"{FLOW_ID_PREFIX}{len(self.records) + 1}@{self.clock.now().isoformat()}",
                found.volume_ul,
                dose_ug,
                wall=self.clock.now(),
                elapsed_s=self.clock.elapsed_s(),
                boot=self.clock.boot_id,
            )
        )
        log.warning("flow.counted", volume_ul=str(found.volume_ul), dose_ug=str(dose_ug))
