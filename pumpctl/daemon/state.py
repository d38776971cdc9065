"""What the daemon's parts share while it runs: the therapy in force and the delivery state.

Each part of the daemon (slots, reconciliation, pump watch, operator requests, status) is handed
the pieces it reads or changes, explicitly; these two objects are the only mutable state they
share. Everything here is rebuilt at start-up from the journal and the pump.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pumpctl.core.model import Limits, Prescription, Slot
from pumpctl.core.planner import Planner


@dataclass
class Therapy:
    """The prescription and limits in force and the planner built from them (SR-21: they change
    only through a journaled reload)."""

    prescription: Prescription
    limits: Limits
    planner: Planner = field(init=False)

    def __post_init__(self) -> None:
        self.planner = Planner(self.prescription)

    def replace(self, prescription: Prescription, limits: Limits) -> None:
        self.prescription, self.limits = prescription, limits
        self.planner = Planner(prescription)


@dataclass
class DeliveryState:
    """Run-time facts every part may read; each is changed only where its docstring says."""

    #: The pump passed its self-test on the current connection (pump watch, slot keeper).
    pump_ready: bool = False
    #: The operator's suspension reason, or None (operator requests, start-up restore).
    operator_suspended: str | None = None
    #: Slots with an intent: never considered again, whatever the clock says (slot keeper).
    attempted: set[str] = field(default_factory=set)
    #: UNCERTAIN pulses whose pump totals settle nothing (a power reset after RUN): they wait
    #: for an operator's acknowledgement (SR-09) (reconciliation, slot keeper).
    awaiting_operator: set[str] = field(default_factory=set)
    #: Outcomes of this run, by name, for status (slot keeper).
    counts: dict[str, int] = field(default_factory=dict)
    #: The last pulse of this run, as status shows it: slot_id, outcome, delivered_volume_ul,
    #: started_utc (slot keeper).
    last_pulse: dict[str, Any] | None = None
    #: When the latest pulse that delivered fluid (DELIVERED, PARTIAL or OVER_DELIVERED)
    #: started; at start-up read from the journal's last week (slot keeper).
    last_delivered: datetime | None = None
    #: The slot whose pulse is running now, or None (slot keeper).
    delivering: Slot | None = None
    #: When that pulse was started (slot keeper).
    delivering_started: datetime | None = None
    #: Why a refused reload of [pump] holds every pulse until restart (SR-27), or None
    #: (reload; the gate reads it as an active alarm).
    held_for_restart: str | None = None

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1


def json_number(value: Decimal | None) -> int | float | None:
    """A volume as a JSON number for status and metrics (exact in the journal, not here)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)
