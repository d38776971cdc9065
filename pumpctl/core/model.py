"""The domain vocabulary shared by every layer: prescription, limits, pulses, outcomes, reasons.

Doses and volumes are ``Decimal`` so that 24 h sums are exact; times are timezone-aware UTC
``datetime`` for records and elapsed-clock readings (with a boot id) for measuring intervals, and
every duration a limit is compared with is a ``timedelta``: whole microseconds, never float minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from pumpctl.core.clock import seconds_to_us

#: Pump volume and rate resolution: at most three decimals (NE-1000 number format).
PUMP_RESOLUTION = Decimal("0.001")

#: The physical command-to-motion latency bound, in real time: how long after its slot a pulse's
#: start is confirmed by the pump (its answer to RUN) in normal operation. The wake-up, the gate,
#: the journal's fsyncs and a handful of serial round trips fit in it with room to spare. The gate
#: forgives a previous pulse this much lateness, so starts at an interval equal to the minimum
#: interval never ratchet later; in exchange two physical starts may be this much closer than
#: the minimum interval, never more, and no pulse ever starts before its slot (docs/design.md).
#: On a clock running N x faster than real time every latency is N x longer: multiply by N.
START_LATENCY_BOUND = timedelta(seconds=1)


class HardCeiling:
    """Limits no configuration can widen (docs/clinical-parameters.md gives their sources).

    Invariant: every configured limit lies on the safe side of these values.
    """

    MIN_INTERVAL_MIN = 60
    MAX_PULSES_24H = 24
    MAX_DOSE_PER_PULSE_UG = Decimal(25)
    MAX_DOSE_24H_UG = Decimal(600)  # 24 pulses x 25 ug
    MAX_PULSE_DURATION_S = 600
    MAX_PULSE_VOLUME_UL = Decimal(500)
    MAX_EXPOSURE_FRACTION = 0.5  # pulses 45 min apart reach ~0.53 of a single pulse's peak
    MAX_GRACE_MIN = 30


class Outcome(StrEnum):
    """What happened to a pulse that was commanded (journal OUTCOME).

    OVER_DELIVERED: the pump moved more than commanded (a runaway, SR-25); the measured volume
    is the pulse's volume for every limit, the exposure model and the reservoir.
    """

    DELIVERED = "DELIVERED"
    PARTIAL = "PARTIAL"
    OVER_DELIVERED = "OVER_DELIVERED"
    NOT_DELIVERED = "NOT_DELIVERED"
    UNCERTAIN = "UNCERTAIN"


class Reason(StrEnum):
    """Why the safety gate denied a pulse; one enum, shown as-is in journals and reports."""

    MIN_INTERVAL = "min-interval"
    MAX_PULSES_24H = "max-pulses-24h"
    MAX_DOSE_24H = "max-dose-24h"
    PULSE_VOLUME = "pulse-volume"
    PULSE_DURATION = "pulse-duration"
    EXPOSURE = "exposure"
    UNCERTAIN_PENDING = "uncertain-pending"
    ALARM_ACTIVE = "alarm-active"
    SUSPENDED = "suspended"
    PUMP_NOT_READY = "pump-not-ready"
    RESERVOIR = "reservoir"
    CLOCK_SUSPECT = "clock-suspect"
    STALE_SLOT = "stale-slot"
    JOURNAL_UNAVAILABLE = "journal-unavailable"


@dataclass(frozen=True)
class ProfileWindow:
    """A time-of-day window (local time) with its own interval, e.g. a longer one at night.

    The window may wrap midnight (``start`` 22:00, ``end`` 06:00).
    """

    start: time
    end: time
    interval_min: int

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class Prescription:
    """What the clinician prescribed; derived pump settings are computed once, exactly."""

    dose_ug: Decimal
    concentration_ug_per_ml: Decimal
    interval_min: int
    pulse_duration_s: int
    anchor: datetime
    timezone: str = "UTC"
    profile: tuple[ProfileWindow, ...] = ()

    def __post_init__(self) -> None:
        if self.anchor.tzinfo is None:
            raise ValueError("prescription anchor must be timezone-aware")
        object.__setattr__(self, "anchor", self.anchor.astimezone(UTC))

    @property
    def volume_ul(self) -> Decimal:
        """Volume per pulse: dose / concentration (ug/mL -> ug/uL is /1000)."""
        return self.dose_ug * 1000 / self.concentration_ug_per_ml

    @property
    def volume_exact(self) -> bool:
        """True when the volume is representable at the pump's 0.001 uL resolution."""
        return self.volume_ul == self.volume_ul.quantize(PUMP_RESOLUTION)

    @property
    def rate_ul_per_min(self) -> Decimal:
        """Pump rate, rounded up to the pump's resolution so a pulse never lasts longer."""
        raw = self.volume_ul * 60 / self.pulse_duration_s
        return raw.quantize(PUMP_RESOLUTION, rounding=ROUND_CEILING)

    @property
    def effective_duration_s(self) -> Decimal:
        """How long the pump takes at the rounded rate (never more than pulse_duration_s)."""
        return (self.volume_ul * 60 / self.rate_ul_per_min).quantize(PUMP_RESOLUTION)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def interval_at(self, when: datetime) -> int:
        """The interval (min) that applies to a slot starting at ``when``."""
        local = when.astimezone(self.zone).time()
        for window in self.profile:
            if window.contains(local):
                return window.interval_min
        return self.interval_min

    @property
    def shortest_interval_min(self) -> int:
        return min([self.interval_min, *(w.interval_min for w in self.profile)])

    @property
    def max_pulses_per_24h(self) -> int:
        """The most pulses one rolling 24 h window can hold at the profile's shortest interval.

        The gate counts a pulse while less than 24 h less the start-latency bound has passed
        since it started; n starts spaced s apart fit in that window when (n - 1) x s is shorter
        than it. At 90 min that is 16, at 61 min 24 (not 1440 // 61 = 23).
        """
        window = DAY - START_LATENCY_BOUND
        return -(-window // timedelta(minutes=self.shortest_interval_min))

    @property
    def max_daily_dose_ug(self) -> Decimal:
        return self.dose_ug * self.max_pulses_per_24h


@dataclass(frozen=True)
class Limits:
    """Safety limits in force; each is on the safe side of :class:`HardCeiling`."""

    min_interval_min: int = 90
    max_pulses_24h: int = 16
    max_dose_per_pulse_ug: Decimal = Decimal(25)
    max_dose_24h_ug: Decimal = Decimal(400)
    max_pulse_volume_ul: Decimal = Decimal(100)
    max_pulse_duration_s: int = 60
    exposure_threshold: float | None = None  # None: derived from the prescription
    grace_min: int = 10
    missed_alarm_min: int = 15
    reservoir_low_pulses: int = 8

    def __post_init__(self) -> None:
        problems = ceiling_violations(self)
        if problems:
            raise ValueError("; ".join(problems))


def ceiling_violations(limits: Limits) -> list[str]:
    """Each limit that is on the unsafe side of its hard ceiling, as a readable line."""
    c = HardCeiling
    checks = [
        (
            limits.min_interval_min >= c.MIN_INTERVAL_MIN,
            "min_interval_min",
            limits.min_interval_min,
            f">= {c.MIN_INTERVAL_MIN}",
        ),
        (
            0 < limits.max_pulses_24h <= c.MAX_PULSES_24H,
            "max_pulses_24h",
            limits.max_pulses_24h,
            f"1..{c.MAX_PULSES_24H}",
        ),
        (
            0 < limits.max_dose_per_pulse_ug <= c.MAX_DOSE_PER_PULSE_UG,
            "max_dose_per_pulse_ug",
            limits.max_dose_per_pulse_ug,
            f"> 0 and <= {c.MAX_DOSE_PER_PULSE_UG}",
        ),
        (
            0 < limits.max_dose_24h_ug <= c.MAX_DOSE_24H_UG,
            "max_dose_24h_ug",
            limits.max_dose_24h_ug,
            f"> 0 and <= {c.MAX_DOSE_24H_UG}",
        ),
        (
            0 < limits.max_pulse_volume_ul <= c.MAX_PULSE_VOLUME_UL,
            "max_pulse_volume_ul",
            limits.max_pulse_volume_ul,
            f"> 0 and <= {c.MAX_PULSE_VOLUME_UL}",
        ),
        (
            0 < limits.max_pulse_duration_s <= c.MAX_PULSE_DURATION_S,
            "max_pulse_duration_s",
            limits.max_pulse_duration_s,
            f"1..{c.MAX_PULSE_DURATION_S}",
        ),
        (
            limits.exposure_threshold is None
            or 0 < limits.exposure_threshold <= c.MAX_EXPOSURE_FRACTION,
            "exposure_threshold",
            limits.exposure_threshold,
            f"> 0 and <= {c.MAX_EXPOSURE_FRACTION}",
        ),
        (
            0 < limits.grace_min <= c.MAX_GRACE_MIN,
            "grace_min",
            limits.grace_min,
            f"1..{c.MAX_GRACE_MIN}",
        ),
    ]
    return [
        f"limits.{name} = {value}: allowed {allowed}"
        for ok, name, value, allowed in checks
        if not ok
    ]


@dataclass(frozen=True)
class Slot:
    """A planned pulse time. ``slot_id`` is stable: the same prescription gives the same ids."""

    slot_id: str
    scheduled: datetime
    interval_min: int
    dose_ug: Decimal
    volume_ul: Decimal
    rate_ul_per_min: Decimal
    duration_s: Decimal


@dataclass(frozen=True)
class Moment:
    """One journaled instant: the wall time and the elapsed reading of the boot that read it."""

    wall: datetime
    elapsed_us: int
    boot_id: str


@dataclass(frozen=True)
class PulseRecord:
    """One pulse the journal knows was commanded (an INTENT), with its outcome if any.

    ``outcome is None`` means the intent has no outcome yet: the pulse is UNCERTAIN and counts
    as fully delivered (SR-09).
    """

    slot_id: str
    intent_wall: datetime
    intent_elapsed_s: float
    boot_id: str
    dose_ug: Decimal
    volume_ul: Decimal
    duration_s: Decimal
    outcome: Outcome | None = None
    delivered_volume_ul: Decimal | None = None
    #: The latest moment the plunger can have started: the pump's confirmation of RUN (it
    #: answers only once it runs) or, without one, the record that settled the pulse. None while
    #: nothing after the intent is journaled.
    started: Moment | None = None
    #: Whether the RUN was sent (journaled before it went out): from then on the pump may have
    #: started, even if it then stalled and moved nothing.
    run_sent: bool = False

    @property
    def intent(self) -> Moment:
        return Moment(self.intent_wall, seconds_to_us(self.intent_elapsed_s), self.boot_id)

    @property
    def start_bound(self) -> Moment:
        """What intervals are measured from: the latest the pulse can have started, as known.

        Without anything after the intent the pulse is pending, and the gate denies every pulse
        until it is reconciled (SR-09); the intent then stands in.
        """
        return self.started or self.intent

    @property
    def pending(self) -> bool:
        return self.outcome is None or self.outcome is Outcome.UNCERTAIN

    @property
    def counted_dose_ug(self) -> Decimal:
        """Dose counted against limits: the full dose unless the pump proved less (SR-09)."""
        if self.pending or self.delivered_volume_ul is None or self.volume_ul == 0:
            return self.dose_ug
        return self.dose_ug * self.delivered_volume_ul / self.volume_ul

    @property
    def counts_as_start(self) -> bool:
        """Whether this pulse counts as a start for the minimum interval and the 24 h count.

        SR-02 is judged on the pump's physical starts. A pending pulse counts (SR-09); so does
        one whose RUN was sent, even if it proved NOT_DELIVERED (a pump that started and stalled
        at once moved nothing, yet started): the conservative reading. Only a pulse refused
        before its RUN went out is certainly no start.
        """
        if self.pending or self.run_sent:
            return True
        return self.outcome is not Outcome.NOT_DELIVERED


@dataclass(frozen=True)
class PulseRequest:
    """A pulse the daemon wants to deliver now, for the gate to judge."""

    slot: Slot
    prescription: Prescription


@dataclass(frozen=True)
class GateState:
    """Facts outside the pulse history the gate also weighs."""

    alarm_active: bool = False
    suspended: bool = False
    pump_ready: bool = True
    reservoir_ul: Decimal | None = None  # None: not tracked by this caller
    reservoir_unknown: bool = False  # tracked, but no fill was ever recorded
    last_journal_wall: datetime | None = None
    journal_writable: bool = True


@dataclass(frozen=True)
class Decision:
    """The gate's verdict. Allowed only when ``reasons`` is empty."""

    reasons: tuple[Reason, ...] = ()
    details: tuple[str, ...] = field(default=())
    predicted_level_fraction: float | None = None
    #: With min-interval or 24 h findings: how long until all of them clear by time passing
    #: (None when one of them cannot, e.g. the dose alone is over the cap).
    interval_clears_in: timedelta | None = None

    @property
    def allowed(self) -> bool:
        return not self.reasons

    @property
    def interval_clears_in_s(self) -> float | None:
        """The same wait in seconds, for sleeping (never compared with a limit)."""
        wait = self.interval_clears_in
        return None if wait is None else wait.total_seconds()


DAY = timedelta(hours=24)
