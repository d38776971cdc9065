"""Reconciliation: settling pulses whose intent has no final outcome (after a crash or timeout).

A pending pulse counts as fully delivered until it is settled (SR-09). It is settled only from
pump evidence (dispensed volume and status) or by an operator's acknowledgement with a reason;
either way a ``pulse.reconciled`` record says who or what settled it and on which grounds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pumpctl.core.model import Outcome, PulseRecord
from pumpctl.core.reconcile import classify_delivery
from pumpctl.journal.events import Appended, EventKind

_FINAL = (Outcome.DELIVERED, Outcome.PARTIAL, Outcome.NOT_DELIVERED)


class Reconciler(ABC):
    """Settle pending pulses; mixed into the journal, which provides storage and queries."""

    @abstractmethod
    def append(self, kind: EventKind | str, payload: Mapping[str, Any]) -> Appended: ...

    @abstractmethod
    def pending_pulses(self) -> list[PulseRecord]: ...

    def _pending_for(self, slot_id: str) -> PulseRecord:
        for record in self.pending_pulses():
            if record.slot_id == slot_id:
                return record
        raise ValueError(
            f"slot_id = {slot_id!r}: no pending pulse for this slot; allowed a slot listed by "
            "pending_pulses()"
        )

    def resolve_from_pump(
        self,
        slot_id: str,
        delivered_volume_ul: Decimal,
        *,
        pump_status: str,
        evidence: Mapping[str, Any] | None = None,
        tolerance_ul: Decimal = Decimal(0),
    ) -> Outcome:
        """Settle a pending pulse from what the pump measured for it; returns the outcome.

        ``delivered_volume_ul`` is the volume the pump's totalizer attributes to this pulse;
        ``pump_status`` is the status the pump reported (it must have stopped, otherwise the
        volume is not final and the pulse stays pending). More than the pulse's volume by over
        ``tolerance_ul`` settles it OVER_DELIVERED (SR-25).
        """
        record = self._pending_for(slot_id)
        status = pump_status.strip().lower()
        if status in {"infusing", "running", "withdrawing"}:
            raise ValueError(
                f"pump_status = {pump_status!r}: the pump is still moving, so its totals are "
                "not final; allowed only once it has stopped"
            )
        outcome = classify_delivery(
            record.volume_ul, delivered_volume_ul, tolerance_ul=tolerance_ul
        )
        self.append(
            EventKind.PULSE_RECONCILED,
            {
                "slot_id": slot_id,
                "outcome": outcome.value,
                "source": "pump",
                "requested_volume_ul": str(record.volume_ul),
                "delivered_volume_ul": str(delivered_volume_ul),
                "pump_status": pump_status,
                "evidence": dict(evidence or {}),
                "who": None,
                "reason": "pump totals",
            },
        )
        return outcome

    def acknowledge_uncertain(
        self,
        slot_id: str,
        who: str,
        reason: str,
        *,
        outcome: Outcome = Outcome.DELIVERED,
        delivered_volume_ul: Decimal | None = None,
    ) -> Appended:
        """An operator settles a pending pulse without pump evidence, saying why.

        By default the pulse is taken as fully delivered, the conservative reading for every
        limit; an operator who knows better states the outcome and volume.
        """
        record = self._pending_for(slot_id)
        if outcome not in _FINAL:
            raise ValueError(f"outcome = {outcome}: allowed {', '.join(o.value for o in _FINAL)}")
        if not who.strip() or not reason.strip():
            raise ValueError(
                f"who = {who!r}, reason = {reason!r}: an acknowledgement names who and why"
            )
        if delivered_volume_ul is None:
            delivered_volume_ul = record.volume_ul if outcome is Outcome.DELIVERED else Decimal(0)
        return self.append(
            EventKind.PULSE_RECONCILED,
            {
                "slot_id": slot_id,
                "outcome": Outcome(outcome).value,
                "source": "operator",
                "requested_volume_ul": str(record.volume_ul),
                "delivered_volume_ul": str(delivered_volume_ul),
                "pump_status": None,
                "evidence": {},
                "who": who,
                "reason": reason,
            },
        )
