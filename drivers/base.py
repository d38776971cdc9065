"""The driver contract: what the delivery layer may ask of any pump, and the values it gets back.

The contract holds only what a bounded bolus needs. There is deliberately no way to start an
open-ended run: every motion is programmed with a finite volume first (SR-01).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable


class PumpState(StrEnum):
    """What the pump reports it is doing (a ``StrEnum``: compares equal to its text)."""

    INFUSING = "infusing"
    WITHDRAWING = "withdrawing"
    STOPPED = "stopped"
    PAUSED = "paused"
    TIMED_PAUSE = "timed-pause"
    WAITING_TRIGGER = "waiting-trigger"
    PURGING = "purging"

    @property
    def moving(self) -> bool:
        """Whether the plunger may be moving in this state."""
        return self in _MOVING_STATES


_MOVING_STATES = frozenset({PumpState.INFUSING, PumpState.WITHDRAWING, PumpState.PURGING})


class PumpAlarm(StrEnum):
    """An alarm a pump raised, in pumpctl's words; each driver translates its own codes.

    No vendor code ever leaves its driver: the daemon, delivery and reconciliation see only these
    members. A code the driver cannot name becomes ``UNKNOWN``, which is never taken for a known
    alarm and never ignored: it is a high-priority alarm, and it is treated like a power reset
    for the pump's totals (:attr:`may_clear_totals`), because nothing says they still hold.
    """

    POWER_RESET = "power-reset"  # power interruption: state and totals may have been lost
    STALL = "stall"  # motor stalled: occlusion, closed clamp, end of travel
    WATCHDOG_TIMEOUT = "watchdog-timeout"  # the pump-side communications watchdog fired
    PROGRAM_ERROR = "program-error"  # the pump's pumping program is in error
    PHASE_OUT_OF_RANGE = "phase-out-of-range"  # a program phase the pump does not hold
    #: Paused mid-bolus (keypad). No driver reports this as an alarm: the delivery transaction
    #: notes it when a pump stands paused before its bolus ended.
    KEYPAD_PAUSE = "keypad-pause"
    UNKNOWN = "unknown"  # a code the driver cannot name

    @property
    def may_clear_totals(self) -> bool:
        """Whether after this alarm the pump's dispensed totals may no longer cover a pulse.

        Zero totals then prove nothing about a bolus whose RUN was sent (SR-09).
        """
        return self in _TOTALS_MAY_BE_CLEARED


_TOTALS_MAY_BE_CLEARED = frozenset({PumpAlarm.POWER_RESET, PumpAlarm.UNKNOWN})


@dataclass(frozen=True)
class PumpStatus:
    """One status observation.

    ``alarm`` is the latest :class:`PumpAlarm` the driver saw since it last returned a status, or
    ``None``; ``alarms`` lists all of them, oldest first. Alarms seen during other calls are kept
    and reported by the next status, so none is lost.
    """

    state: PumpState
    alarm: PumpAlarm | None = None
    alarms: tuple[PumpAlarm, ...] = ()
    #: SR-06: the pump moves although the driver started nothing (no RUN since it last stood
    #: still): a spontaneous start, or a pump someone else started.
    unexpected_motion: bool = False

    @property
    def moving(self) -> bool:
        return self.state.moving


@dataclass(frozen=True)
class Capabilities:
    """Limits of the pump with the fitted syringe, in the units pumpctl uses."""

    syringe_diameter_mm: Decimal
    min_rate_ul_per_min: Decimal
    max_rate_ul_per_min: Decimal
    max_volume_ul: Decimal
    volume_resolution_ul: Decimal  # smallest volume step the pump can be programmed in


@dataclass(frozen=True)
class DispensedTotals:
    """The pump's dispensed-volume accumulators since they were last cleared.

    ``commanded_ul`` is the volume of the boluses this driver started since it cleared the
    totals (``None`` before its first clear: the pump's totals may hold older deliveries). A RUN
    whose reply was lost counts as started. ``resolution_ul`` is the step of the printed totals.
    """

    infused_ul: Decimal
    withdrawn_ul: Decimal
    commanded_ul: Decimal | None = None
    resolution_ul: Decimal = Decimal(0)

    @property
    def excess_ul(self) -> Decimal | None:
        """Infused volume above what was commanded (negative when less), or None if unknown."""
        return None if self.commanded_ul is None else self.infused_ul - self.commanded_ul

    @property
    def over_delivered(self) -> bool:
        """SR-06: more was infused than commanded, beyond the totals' resolution."""
        excess = self.excess_ul
        return excess is not None and excess > self.resolution_ul


@dataclass(frozen=True)
class SelfTestReport:
    """What the start-up self-test established (SR-13, SR-14); only produced when all passed."""

    firmware: str
    model: str
    syringe_diameter_mm: Decimal
    safe_mode_timeout_s: int
    power_failure_restart: bool
    state: PumpState
    checks: tuple[str, ...] = field(default=())
    #: Alarms acknowledged between connect and the self-test (a power reset after power-up, a
    #: watchdog timeout when no daemon was talking): evidence for reconciliation.
    alarms_at_connect: tuple[PumpAlarm, ...] = field(default=())


@dataclass(frozen=True)
class SimulatorInfo:
    """The answer of ``pumpsim`` to the simulator-only handshake."""

    time_scale: float
    now: datetime  # the simulator's scaled wall clock, UTC


@runtime_checkable
class PumpDriver(Protocol):
    """The calls the daemon makes on a pump; volumes and rates are ``Decimal`` in uL and uL/min.

    Errors: :class:`~pumpctl.errors.TransportError` (and ``TransportTimeoutError``) for the link,
    :class:`~pumpctl.errors.ProtocolError` for bytes that cannot be understood,
    :class:`~pumpctl.errors.PumpAlarmError` when an alarm stopped a command,
    :class:`~pumpctl.errors.PumpStateError` when the pump refused or is not in the required state.
    """

    def connect(self) -> None:
        """Open the link, arm the pump's safe-mode watchdog and set PF0."""
        ...

    def self_test(self, *, syringe_diameter_mm: Decimal) -> SelfTestReport:
        """Check identity, set and read back the diameter, PF0, watchdog, stopped, alarm-free."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """Limits for the syringe set by the last self-test."""
        ...

    def status(self) -> PumpStatus:
        """Poll the pump's state (also feeds the watchdog)."""
        ...

    def program_bolus(self, volume_ul: Decimal, rate_ul_per_min: Decimal) -> None:
        """Program a bounded infusion of ``volume_ul`` (> 0) at ``rate_ul_per_min``; no motion."""
        ...

    def run(self) -> PumpStatus:
        """Start the programmed bolus; never re-sent after an alarm or link fault (SR-16)."""
        ...

    def stop(self) -> PumpStatus:
        """Stop the pump (pause, then stop) and return the stopped status."""
        ...

    def dispensed(self) -> DispensedTotals:
        """Read the dispensed-volume accumulators."""
        ...

    def clear_dispensed(self) -> None:
        """Zero both accumulators."""
        ...

    def heartbeat(self) -> PumpStatus:
        """Feed the safe-mode watchdog; returns the status it observed."""
        ...

    def simulator_handshake(self) -> SimulatorInfo | None:
        """``pumpsim``'s time scale and clock, or ``None`` when the pump is real."""
        ...

    def close(self) -> None:
        """Release the link (the pump's watchdog then stops any motion by itself)."""
        ...
