"""How the daemon keeps watch on the pump: the link's measured speed and the expected totals.

* :class:`LinkLatency` times every progress reading, so the SR-25 cadence rests on what the
  link really takes (wire, adapter, a busy host), not on a figure from a data sheet.
* :class:`FlowLedger` knows what the pump's dispensed totals should read between pulses and
  since when that was last confirmed (SR-26). Any other reading is unexplained flow.
* :func:`flow_watch_interval_s` is the one place the between-pulse watch's cadence is set.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pumpctl.core.alarm_kinds import AlarmKind
from pumpctl.core.overshoot import LinkTiming
from pumpctl.drivers.base import PumpVocabulary

#: SR-26: the pump's totals and state are read at least this often between pulses (clock
#: seconds at 1x), so flow no pulse commanded is seen within 10 s whatever the safe-mode period.
FLOW_WATCH_INTERVAL_S = 5.0
#: Under a scaled clock (simulator only) a reading is not asked for more often than this in
#: real seconds: at 480x the watch would otherwise read back to back and starve the host.
MIN_REAL_WATCH_S = 0.05
#: Readings the latency estimate remembers: a slow spell counts for a while, then ages out.
LATENCY_SAMPLES = 32


def flow_watch_interval_s(time_scale: float = 1.0) -> float:
    """Clock seconds between two between-pulse readings (SR-26)."""
    return max(FLOW_WATCH_INTERVAL_S, MIN_REAL_WATCH_S * time_scale)


@dataclass
class LinkLatency:
    """The slowest recent progress readings, in clock seconds."""

    samples: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))

    def record(self, seconds: float) -> None:
        self.samples.append(max(0.0, seconds))

    @property
    def worst_s(self) -> float | None:
        return max(self.samples) if self.samples else None

    def timing(self, words: PumpVocabulary, baud: int, time_scale: float = 1.0) -> LinkTiming:
        """Reading and stop times in clock seconds; wire time alone until anything is measured.

        The stop command is not timed on its own: it takes its wire time plus the host's share
        of a reading (what a reading took beyond its own wire time), scaled like the clock.
        """
        wire_reading_s = words.link.progress_s(baud)
        measured_s = self.worst_s
        reading_s = wire_reading_s * time_scale if measured_s is None else measured_s
        host_s = max(0.0, reading_s / time_scale - wire_reading_s)
        return LinkTiming(reading_s, (words.link.stop_s(baud) + host_s) * time_scale)


@dataclass(frozen=True)
class UnexplainedFlow:
    """Volume the pump's totals show beyond what pumpctl accounted for (SR-26)."""

    volume_ul: Decimal | None  # None: the totals fell (cleared elsewhere); what moved is unknown
    totals_ul: Decimal
    expected_ul: Decimal | None
    since: datetime | None  # when the totals last read as expected
    moving: bool
    where: str  # "between pulses", "before clearing", ...
    #: The totals fell after the pump reported a power reset (which clears them), not after a
    #: clear made outside pumpctl: the pump's own alarm names the cause.
    reset: bool = False

    @property
    def alarm(self) -> AlarmKind:
        """The alarm this finding raises: the pump's reset when that explains the fall."""
        return AlarmKind.PUMP_ALARM_RESET if self.reset else AlarmKind.UNEXPLAINED_FLOW

    def describe(self) -> str:
        since = f" since {self.since.isoformat()}" if self.since is not None else ""
        if self.volume_ul is None:
            cause = (
                "the pump reported a power reset, which clears them; what it moved before the "
                "reset is not known"
                if self.reset
                else "cleared outside pumpctl"
            )
            return (
                f"the pump's totals fell to {self.totals_ul} uL from the expected "
                f"{self.expected_ul} uL{since} ({self.where}): {cause}"
            )
        moving = "; the pump was moving and has been stopped" if self.moving else ""
        return (
            f"{self.volume_ul} uL moved that no pulse commanded{since} ({self.where}; totals "
            f"{self.totals_ul} uL, expected {self.expected_ul} uL){moving}"
        )


@dataclass
class FlowLedger:
    """What the dispensed totals should read between pulses (``None``: not known)."""

    expected_ul: Decimal | None = None
    confirmed_at: datetime | None = None
    #: The next reading is taken as it is (an operator settled a pulse the totals cannot).
    adopt_next: bool = False
    #: A clear is on record that may or may not have reached the pump (a daemon killed after
    #: ``totals.clearing``): zero totals are explained as well as the expected ones.
    cleared_maybe: bool = False
    #: The pump reported an alarm that clears its totals (a power reset) since they were last
    #: judged: a fall is then the reset's, and is alarmed as the pump's reset.
    reset_seen: bool = False

    def judge(
        self, infused_ul: Decimal, *, at: datetime, moving: bool, where: str
    ) -> UnexplainedFlow | None:
        """Compare a reading with the expectation; the reading becomes the new expectation.

        Invariant (SR-26): a reading above the expectation, or motion with no pulse running,
        is unexplained flow; it is returned once and then counted as explained. With nothing
        expected (totals unknown) any volume at all is unexplained: the conservative reading.
        After a clear on record that may not have been sent, still zero totals are the clear's.
        """
        expected = self.expected_ul
        if self.adopt_next and not moving:
            self.adopt_next = False
            expected = infused_ul
        if self.cleared_maybe:
            self.cleared_maybe = False
            if infused_ul == 0 and not moving:
                expected = infused_ul
        reset, self.reset_seen = self.reset_seen, False
        if expected is None:
            found = (
                UnexplainedFlow(infused_ul, infused_ul, None, self.confirmed_at, moving, where)
                if infused_ul > 0 or moving
                else None
            )
        elif infused_ul > expected or moving:
            volume = infused_ul - expected
            found = UnexplainedFlow(volume, infused_ul, expected, self.confirmed_at, moving, where)
        elif infused_ul < expected:
            found = UnexplainedFlow(
                None, infused_ul, expected, self.confirmed_at, moving, where, reset=reset
            )
        else:
            found = None
        self.expected_ul = infused_ul
        if found is None:
            self.confirmed_at = at
        return found

    def settled(self, infused_ul: Decimal | None, at: datetime) -> None:
        """A pulse was settled from (or cleared to) this reading; ``None``: totals unknown."""
        self.expected_ul = infused_ul
        self.adopt_next = False
        self.cleared_maybe = False
        self.confirmed_at = at if infused_ul is not None else self.confirmed_at

    def adopt(self) -> None:
        """Take the next still reading as expected: an operator settled what the totals hold."""
        self.adopt_next = True
