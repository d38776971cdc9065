"""SR-25 arithmetic: how often a running bolus is read so that a runaway stops within its bound.

A pump that ignores its volume keeps moving at its programmed rate ``r``. The daemon reads the
dispensed volume in a loop of exchanges, each taking at most ``reading_s`` (request written,
reply parsed), with ``gap_s`` of rest between the end of one and the next request. A reading
shows more than the commanded volume ``V`` once the true volume is ``V`` plus one printed step
``q`` (whether the pump truncates or rounds its totals). The pump samples its totals somewhere
inside an exchange, so two samples are at most ``reading_s + gap_s`` apart, and from a sample
to the pump having the stop command it takes at most ``reading_s + stop_s``. Hence::

    overshoot <= q + r * (2 * reading_s + gap_s + stop_s)

The plan picks the largest ``gap_s`` (never above the heartbeat the pump's watchdog needs)
that keeps this within ``max(5 % of V, 0.5 uL)``; when even ``gap_s = 0`` cannot, the pulse is
refused before its intent (deny, never clamp). Pure: no I/O, no clock.
"""

from __future__ import annotations

import decimal
import functools
import math
from dataclasses import dataclass
from decimal import Decimal

#: SR-25: a runaway is stopped within this fraction of the pulse volume ...
BOUND_FRACTION = Decimal("0.05")
#: ... or this many microlitres, whichever is larger.
BOUND_FLOOR_UL = Decimal("0.5")
#: Host time allowed per exchange when no link has been measured yet (``config check``): the
#: time between bytes arriving and the daemon acting on them, on an idle host.
HOST_ALLOWANCE_S = 0.005


def overshoot_bound_ul(volume_ul: Decimal) -> Decimal:
    """The most a runaway may deliver above ``volume_ul`` (SR-25)."""
    return max(volume_ul * BOUND_FRACTION, BOUND_FLOOR_UL)


@dataclass(frozen=True)
class LinkTiming:
    """Worst times, in seconds of the pump's clock, of the exchanges that bound a runaway.

    ``reading_s``: one progress reading, from writing the request to having the reply parsed.
    ``stop_s``: from deciding to stop until the stop command has reached the pump.
    """

    reading_s: float
    stop_s: float

    @classmethod
    def nominal(cls, reading_wire_s: float, stop_wire_s: float) -> LinkTiming:
        """Wire times plus :data:`HOST_ALLOWANCE_S` each: the estimate before any measurement."""
        return cls(reading_wire_s + HOST_ALLOWANCE_S, stop_wire_s + HOST_ALLOWANCE_S)


@dataclass(frozen=True)
class WatchPlan:
    """How to read one bolus, and what that guarantees."""

    volume_ul: Decimal
    bound_ul: Decimal
    #: Rest between the end of one reading and the next request (0: back to back).
    gap_s: float
    #: The most a runaway can deliver above the volume with this plan and timing.
    worst_overshoot_ul: Decimal
    #: Whether the worst overshoot is within the bound.
    feasible: bool

    def describe(self) -> str:
        """One line for people: the guarantee, or why there is none."""
        verdict = "within" if self.feasible else "more than"
        return (
            f"a runaway could deliver up to {self.worst_overshoot_ul.quantize(Decimal('0.001'))}"
            f" uL over the {self.volume_ul} uL pulse, {verdict} the SR-25 bound of "
            f"{self.bound_ul} uL"
        )


def worst_overshoot_ul(
    rate_ul_per_min: Decimal, timing: LinkTiming, gap_s: float, step_ul: Decimal
) -> Decimal:
    """The module docstring's bound for one plan, exact in Decimal for the given floats."""
    window_s = 2 * Decimal(timing.reading_s) + Decimal(gap_s) + Decimal(timing.stop_s)
    return step_ul + rate_ul_per_min / 60 * window_s


def plan_watch(
    volume_ul: Decimal,
    rate_ul_per_min: Decimal,
    timing: LinkTiming,
    *,
    step_ul: Decimal,
    heartbeat_s: float,
) -> WatchPlan:
    """The reading cadence for a bolus of ``volume_ul`` at ``rate_ul_per_min``.

    ``step_ul`` is the step of the pump's printed totals just above the volume; ``heartbeat_s``
    the longest rest the pump's watchdog allows between two exchanges.

    The daemon asks again before every reading of a running bolus, mostly with the same link
    timing, so answers are kept in a small cache. Its key is every input exactly (the Decimals
    by their text, so ``10`` and ``10.0`` are different questions and each plan repeats the
    numbers it was asked about); nothing else enters the arithmetic, so a kept answer is the one
    a fresh computation gives (errors are never kept).
    """
    context = decimal.getcontext()  # the arithmetic's precision and rounding are inputs too
    return _plan_watch(
        str(volume_ul),
        str(rate_ul_per_min),
        timing,
        str(step_ul),
        heartbeat_s,
        context.prec,
        context.rounding,
    )


@functools.lru_cache(maxsize=256)
def _plan_watch(
    volume_text: str,
    rate_text: str,
    timing: LinkTiming,
    step_text: str,
    heartbeat_s: float,
    _prec: int,
    _rounding: str,
) -> WatchPlan:
    volume_ul, rate_ul_per_min, step_ul = (
        Decimal(volume_text),
        Decimal(rate_text),
        Decimal(step_text),
    )
    if volume_ul <= 0 or rate_ul_per_min <= 0:
        raise ValueError(
            f"volume_ul = {volume_ul}, rate_ul_per_min = {rate_ul_per_min}: allowed > 0"
        )
    if timing.reading_s < 0 or timing.stop_s < 0 or heartbeat_s < 0:
        raise ValueError(f"timing {timing} and heartbeat_s = {heartbeat_s}: allowed >= 0")
    bound = overshoot_bound_ul(volume_ul)
    tightest = worst_overshoot_ul(rate_ul_per_min, timing, 0.0, step_ul)
    if tightest > bound:
        return WatchPlan(volume_ul, bound, 0.0, tightest, feasible=False)
    slack_s = (bound - tightest) / (rate_ul_per_min / 60)
    gap_s = min(float(heartbeat_s), float(slack_s))
    if Decimal(gap_s) > slack_s:  # float rounding must never move the gap past the slack
        gap_s = math.nextafter(gap_s, 0.0)
    worst = worst_overshoot_ul(rate_ul_per_min, timing, gap_s, step_ul)
    return WatchPlan(volume_ul, bound, gap_s, worst, feasible=True)
