"""What the pulse transaction shares with its callers: the result, the journal it needs, and how
it waits and retries. Kept apart from :mod:`pumpctl.delivery` so the transaction reads in one file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.model import Decision, Outcome, Slot
from pumpctl.errors import PumpAlarmError, PumpctlError
from pumpctl.journal.events import Appended
from pumpctl.watch import UnexplainedFlow

T = TypeVar("T")

#: Read-only queries may be retried after a link fault (SR-16); motion commands never are.
QUERY_RETRIES = 3


class Waiter(Protocol):
    """How the daemon lets clock time pass: real sleeping, scaled sleeping or a virtual clock."""

    def sleep(self, seconds: float) -> None: ...


class DeliveryJournal(Protocol):
    """What the transaction needs from the journal."""

    def record_totals_clearing(self, slot_id: str, totals_ul: Decimal) -> object: ...

    def record_armed(self, slot: Slot, *, read_back: Mapping[str, Any]) -> Appended: ...

    def record_disarmed(self, slot_id: str, why: str, *, armed_utc: datetime | None) -> object: ...

    def record_intent(
        self, slot: Slot, *, pump_settings: Mapping[str, Any] | None = None
    ) -> object: ...

    def record_run(self, slot_id: str) -> object: ...

    def record_pulse_start(
        self,
        slot: Slot,
        *,
        pump_settings: Mapping[str, Any],
        decision: Decision | None = None,
    ) -> object: ...

    def record_started(self, slot_id: str) -> object: ...

    def publish_head(self) -> None: ...

    def record_outcome(
        self,
        slot_id: str,
        outcome: Outcome,
        *,
        delivered_volume_ul: Decimal | None,
        started: datetime | None = None,
        ended: datetime | None = None,
        detail: str = "",
        totals_trusted: bool = True,
    ) -> object: ...

    def record_unexplained_flow(
        self,
        *,
        volume_ul: Decimal | None,
        dose_ug: Decimal | None,
        totals_ul: Decimal,
        expected_ul: Decimal | None,
        since: datetime | None,
        moving: bool,
        where: str,
        pump_reset: bool = False,
    ) -> object: ...


@dataclass(frozen=True)
class DeliveryResult:
    """What one transaction established. ``alarms`` are alarm kinds for the daemon to raise."""

    slot_id: str
    outcome: Outcome
    delivered_volume_ul: Decimal | None
    started: datetime | None
    ended: datetime | None
    detail: str = ""
    alarms: tuple[AlarmKind, ...] = ()
    #: The alarm kind that suspends delivery until acknowledged (unintended flow, over-delivery,
    #: unexplained flow, a settings mismatch: SR-06, SR-25, SR-26, SR-27), or None.
    suspend_for: AlarmKind | None = None
    intent_written: bool = True
    # False after a pump power reset: its totals may have been cleared, so only an operator's
    # acknowledgement may settle this UNCERTAIN pulse, never a later DIS reading (SR-09).
    totals_trusted: bool = True
    #: Flow found before the clear (already journaled); the gate counts it like a pulse.
    flow: UnexplainedFlow | None = None
    #: The pump needs a new self-test before the next pulse (its settings were not ours).
    pump_unready: bool = False

    @property
    def suspend(self) -> bool:
        return self.suspend_for is not None


def query_with_retry(call: Callable[[], T]) -> T:
    """Run a read-only query, retrying link faults a few times (SR-16 allows it for queries)."""
    for attempt in range(QUERY_RETRIES):
        try:
            return call()
        except PumpAlarmError:
            raise
        except PumpctlError:
            if attempt == QUERY_RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def dose_for(volume_ul: Decimal | None, slot: Slot) -> Decimal | None:
    """The dose in a volume of this slot's solution (for flow no pulse commanded)."""
    if volume_ul is None or slot.volume_ul == 0:
        return None
    return volume_ul * slot.dose_ug / slot.volume_ul
