"""The driver contract: what the delivery layer may ask of any pump, and the values it gets back.

The contract holds only what a bounded bolus needs. There is deliberately no way to start an
open-ended run: every motion is programmed with a finite volume first (SR-01). What a pump can
be told exactly (digits, units, ranges) is described by a :class:`PumpVocabulary`, which every
driver gives for a syringe without talking to the pump, so configuration checks, reloads,
``plan`` and the daemon judge a prescription by the same rules the wire will apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum
from typing import Protocol, runtime_checkable

#: Bits on an asynchronous serial line per byte: start, eight data bits, stop (8N1).
BITS_PER_BYTE = 10


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
    ``withdrawn_ul`` is None when the exchange that gave the totals does not carry it (a
    progress reading of a pump that shows one counter at a time); pumpctl never withdraws.
    """

    infused_ul: Decimal
    withdrawn_ul: Decimal | None
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
class Progress:
    """One reading taken while a bolus may be running: the pump's state and its totals together.

    Both come from one exchange with the pump, so the volume and the state belong to the same
    moment; the delivery layer judges a runaway by them (SR-25).
    """

    status: PumpStatus
    totals: DispensedTotals


class Direction(StrEnum):
    """The direction a pump is set to move its plunger."""

    INFUSE = "infuse"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class Stated:
    """A value as the pump states it: a number in one of its units (``unit`` "" if it has one)."""

    number: Decimal
    unit: str = ""

    def __str__(self) -> str:
        return f"{self.number:f}{self.unit}"

    def same_as(self, other: Stated) -> bool:
        """Exactly the same value in the same unit (``10.00UL`` is ``10UL``; ``0.01ML`` is not)."""
        return self.unit == other.unit and self.number == other.number


@dataclass(frozen=True)
class PumpSettings:
    """The settings a bolus runs with, as the pump states them (SR-27 reads them back)."""

    syringe_diameter: Stated
    direction: Direction
    volume: Stated
    rate: Stated

    def mismatches(self, read: PumpSettings) -> tuple[str, ...]:
        """One line per setting of ``read`` that is not exactly this one (units included)."""
        lines = []
        for name, want, got in (
            ("syringe diameter", self.syringe_diameter, read.syringe_diameter),
            ("volume", self.volume, read.volume),
            ("rate", self.rate, read.rate),
        ):
            if not want.same_as(got):
                lines.append(f"{name} reads {got}, expected {want}")
        if self.direction is not read.direction:
            lines.append(f"direction reads {read.direction}, expected {self.direction}")
        return tuple(lines)


def shown(value: Decimal, significant: int = 6, rounding: str = ROUND_HALF_EVEN) -> str:
    """A value for people: at most ``significant`` digits, no exponent, no trailing zeros.

    A limit is shown rounded inwards (``ROUND_CEILING`` for a minimum, ``ROUND_FLOOR`` for a
    maximum), so the number printed is itself inside the range.
    """
    if not value.is_finite() or value == 0:
        return str(value)
    exponent = value.adjusted() - significant + 1
    step = Decimal(1).scaleb(max(exponent, -12))
    text = f"{value.quantize(step, rounding=rounding):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class NumberFormat:
    """Numbers a pump's protocol carries: at most ``max_digits`` digits, ``max_decimals`` after
    the point (the NE-1000: 4 and 3, so ``12.34`` and ``0.125`` but not ``12.345``)."""

    max_digits: int
    max_decimals: int

    def decimals_for(self, number: Decimal) -> int:
        """How many decimals a number of this size may carry (negative: too large to state)."""
        integer_digits = len(str(int(abs(number))))
        return min(self.max_decimals, self.max_digits - integer_digits)

    def step(self, number: Decimal) -> Decimal:
        """The smallest step between two statable numbers around ``number``."""
        return Decimal(1).scaleb(-max(0, self.decimals_for(number)))

    def states(self, number: Decimal) -> bool:
        """Whether ``number`` (>= 0) can be written exactly."""
        if not number.is_finite() or number < 0:
            return False
        decimals = self.decimals_for(number)
        return decimals >= 0 and number == number.quantize(Decimal(1).scaleb(-decimals))

    @property
    def largest(self) -> Decimal:
        return Decimal(10**self.max_digits - 1)

    def neighbours(self, number: Decimal) -> tuple[Decimal | None, Decimal | None]:
        """The statable numbers nearest below and above ``number`` (itself if statable)."""
        if not number.is_finite() or number < 0:
            return None, None
        if number > self.largest:
            return self.largest, None
        step = self.step(number)
        below = (number // step) * step
        # Crossing into the next decade (9.9995 -> 10.000) lands on the decade itself, which
        # every coarser step also divides: ``above`` is always statable.
        above = below if below == number else below + step
        return below, (above if above <= self.largest else None)


@dataclass(frozen=True)
class Unit:
    """One unit a pump takes a quantity in: its word on the wire and its size.

    ``per_pumpctl_unit`` turns pumpctl's value into the pump's number by multiplication
    (1 uL is 0.001 mL), so no repeating decimal is ever involved in sending a value.
    """

    word: str
    per_pumpctl_unit: Decimal


@dataclass(frozen=True)
class Quantity:
    """One setting a pump is told, in pumpctl's units (``name`` ends in them: ``volume_ul``).

    The pump is sent the value in the first of ``units`` that states it exactly within
    ``number``; ``minimum``..``maximum`` (pumpctl's units) is the range it accepts.
    """

    name: str
    units: tuple[Unit, ...]
    number: NumberFormat
    minimum: Decimal
    maximum: Decimal

    def stated(self, value: Decimal) -> Stated | None:
        """How the pump is told ``value`` exactly, or ``None`` when no unit can state it."""
        if not value.is_finite():
            return None
        for unit in self.units:
            number = value * unit.per_pumpctl_unit
            if self.number.states(number):
                return Stated(number.normalize(), unit.word)
        return None

    def problem(self, value: Decimal) -> str | None:
        """Why ``value`` cannot be sent (range first, then digits), or ``None``."""
        if not value.is_finite() or not self.minimum <= value <= self.maximum:
            low = shown(self.minimum, rounding=ROUND_CEILING)
            return f"allowed {low}..{shown(self.maximum, rounding=ROUND_FLOOR)}"
        if self.stated(value) is None:
            words = " or ".join(u.word for u in self.units if u.word)
            in_units = f" in {words}" if words else ""
            return (
                f"cannot be stated exactly{in_units} with at most {self.number.max_digits} "
                f"digits and {self.number.max_decimals} decimals"
            )
        return None

    def nearest(self, value: Decimal) -> tuple[Decimal | None, Decimal | None]:
        """The sendable values (pumpctl's units, inside the range) nearest below and above."""
        below: Decimal | None = None
        above: Decimal | None = None
        for unit in self.units:
            low, high = self.number.neighbours(value * unit.per_pumpctl_unit)
            for candidate, is_low in ((low, True), (high, False)):
                if candidate is None:
                    continue
                back = candidate / unit.per_pumpctl_unit
                with localcontext() as exact:
                    exact.prec = 60  # a repeating quotient (4000 uL/h in uL/min) shows here
                    inexact = back * unit.per_pumpctl_unit != candidate
                if inexact or not self.minimum <= back <= self.maximum:
                    continue
                if is_low and back <= value and (below is None or back > below):
                    below = back
                if not is_low and back >= value and (above is None or back < above):
                    above = back
        return below, above


@dataclass(frozen=True)
class LinkCost:
    """Bytes on the wire for the two exchanges SR-25's arithmetic counts: a progress reading
    (command and reply) and the command that stops the pump."""

    progress_exchange_bytes: int
    stop_command_bytes: int

    def progress_s(self, baud: int) -> float:
        return self.progress_exchange_bytes * BITS_PER_BYTE / baud

    def stop_s(self, baud: int) -> float:
        return self.stop_command_bytes * BITS_PER_BYTE / baud


@dataclass(frozen=True)
class PumpVocabulary:
    """What a driver can tell its pump exactly, for one syringe, known without the pump.

    Invariant (SR-04 at the wire): a volume, rate or diameter this vocabulary cannot state is
    refused, never rounded, by ``config check``, reload, ``plan`` and the daemon alike.
    """

    syringe_diameter_mm: Quantity
    volume_ul: Quantity
    rate_ul_per_min: Quantity
    #: How the pump reports dispensed totals: in which unit, with which digits.
    totals_unit: Unit
    totals_number: NumberFormat
    link: LinkCost

    def totals_step_ul(self, volume_ul: Decimal) -> Decimal:
        """The step of the pump's printed totals around ``volume_ul`` (its reading resolution)."""
        factor = self.totals_unit.per_pumpctl_unit
        return self.totals_number.step(volume_ul * factor) / factor

    def settings_for(
        self, diameter_mm: Decimal, volume_ul: Decimal, rate_ul_per_min: Decimal
    ) -> PumpSettings | None:
        """The settings a bolus of this volume and rate is sent as; None if any is unsendable."""
        diameter = self.syringe_diameter_mm.stated(diameter_mm)
        volume = self.volume_ul.stated(volume_ul)
        rate = self.rate_ul_per_min.stated(rate_ul_per_min)
        if diameter is None or volume is None or rate is None:
            return None
        return PumpSettings(diameter, Direction.INFUSE, volume, rate)

    def problems(
        self, volume_ul: Decimal, rate_ul_per_min: Decimal
    ) -> list[tuple[Quantity, Decimal, str]]:
        """(quantity, value, why) for the diameter, volume and rate this pump cannot be told."""
        found = []
        for quantity, value in (
            (self.volume_ul, volume_ul),
            (self.rate_ul_per_min, rate_ul_per_min),
        ):
            why = quantity.problem(value)
            if why is not None:
                found.append((quantity, value, why))
        return found


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

    @classmethod
    def vocabulary(cls, syringe_diameter_mm: Decimal) -> PumpVocabulary:
        """What this kind of pump can be told exactly with that syringe (no pump needed)."""
        ...

    @property
    def baud(self) -> int:
        """The line speed the driver talks at (for SR-25's wire-time arithmetic)."""
        ...

    def status(self) -> PumpStatus:
        """Poll the pump's state (also feeds the watchdog)."""
        ...

    def program_bolus(self, volume_ul: Decimal, rate_ul_per_min: Decimal) -> None:
        """Program (arm) a bounded infusion of ``volume_ul`` (> 0) at ``rate_ul_per_min``; no
        motion. The daemon arms shortly before a slot and reads the settings back (SR-27)."""
        ...

    def check_armed(self) -> None:
        """Raise unless the bolus programmed on this connection may still be started: no alarm,
        stop, reconnection or :meth:`disarm` since. Sends nothing (reads only what the pump sent
        on its own), so the slot's last look at the pump costs no round trip.

        Raises :class:`~pumpctl.errors.PumpAlarmError` after an alarm (the programme is then
        dropped), :class:`~pumpctl.errors.PumpStateError` when nothing is armed.
        """
        ...

    def disarm(self) -> None:
        """Forget the programmed bolus, so :meth:`run` refuses until :meth:`program_bolus` again.
        Sends nothing: the pump keeps its settings, and nothing starts them without RUN."""
        ...

    def run(self) -> PumpStatus:
        """Start the bolus armed by the last :meth:`program_bolus` on this connection, with no
        alarm, stop or :meth:`disarm` since; never re-sent after an alarm or link fault (SR-16)."""
        ...

    def stop(self) -> PumpStatus:
        """Stop the pump (pause, then stop) and return the stopped status."""
        ...

    def read_settings(self) -> PumpSettings:
        """Read back diameter, direction, volume and rate as the pump states them (SR-27)."""
        ...

    def dispensed(self) -> DispensedTotals:
        """Read the dispensed-volume accumulators."""
        ...

    def progress(self) -> Progress:
        """State and dispensed totals from one exchange (SR-25, SR-26); feeds the watchdog."""
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
