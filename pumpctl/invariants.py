"""Safety invariants checked against ground truth: the simulator's ledger and the journal.

Used by ``pumpctl simulate`` after each pulse and at the end, by ``pumpctl demo`` and by the
reliability tests. The ledger says what the plunger physically did; the journal what pumpctl
recorded. A clean run has no violation: no two commanded starts closer than the minimum interval
less the tolerance, 24 h caps held, every commanded start covered by a journaled intent, no
intent started twice.

The tolerance is the start-latency bound the safety gate grants (``START_LATENCY_BOUND``), times
the time scale on a scaled clock: a start may come that much sooner after the one before it than
the minimum interval, never more (docs/design.md). Every check here is exact, in microseconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pumpctl.core.clock import seconds_to_us
from pumpctl.core.gate import describe
from pumpctl.core.model import DAY, Limits

#: Ledger causes of motion that pumpctl commanded (everything else is a pump fault).
COMMANDED_CAUSES = frozenset({"run"})


@dataclass(frozen=True)
class PhysicalPulse:
    """One commanded motion start from the ledger, in simulator time."""

    started: datetime
    elapsed_s: float


def commanded_starts(ledger: Iterable[Mapping[str, Any]]) -> list[PhysicalPulse]:
    return [
        PhysicalPulse(datetime.fromisoformat(str(e["at"])), float(e["elapsed_s"]))
        for e in ledger
        if e.get("event") == "motion.start" and e.get("cause") in COMMANDED_CAUSES
    ]


def check_starts(
    starts: Sequence[PhysicalPulse], limits: Limits, *, tolerance: timedelta
) -> list[str]:
    """Minimum interval and rolling 24 h count on physical commanded starts (true time).

    Two starts may be ``tolerance`` closer than the minimum interval, and the 24 h count is taken
    over windows ``tolerance`` shorter than 24 h, exactly as the gate grants them.
    """
    problems: list[str] = []
    ordered = sorted(starts, key=lambda p: p.elapsed_s)
    at_us = [seconds_to_us(p.elapsed_s) for p in ordered]
    least = timedelta(minutes=limits.min_interval_min) - tolerance
    for (a, a_us), (b, b_us) in itertools.pairwise(zip(ordered, at_us, strict=True)):
        gap = timedelta(microseconds=b_us - a_us)
        if gap < least:
            problems.append(
                f"starts at {a.started.isoformat()} and {b.started.isoformat()} are "
                f"{describe(gap)} apart (< {limits.min_interval_min} min less the "
                f"{describe(tolerance)} tolerance)"
            )
    window_us = (DAY - tolerance) // timedelta(microseconds=1)
    j = 0
    for i, pulse in enumerate(ordered):
        while at_us[j] <= at_us[i] - window_us:
            j += 1
        if i - j + 1 > limits.max_pulses_24h:
            problems.append(
                f"{i - j + 1} starts in the 24 h ending {pulse.started.isoformat()} "
                f"(> {limits.max_pulses_24h}; windows {describe(tolerance)} shorter than 24 h)"
            )
    return problems


def check_intents_cover_starts(
    starts: Sequence[PhysicalPulse], intent_walls: Sequence[datetime], slack_s: float = 120.0
) -> list[str]:
    """Every commanded start follows its own journaled intent; no intent started twice."""
    problems: list[str] = []
    intents = sorted(intent_walls)
    used: set[int] = set()
    for pulse in sorted(starts, key=lambda p: p.started):
        candidates = [
            i
            for i, wall in enumerate(intents)
            if wall <= pulse.started + timedelta(seconds=1)
            and (pulse.started - wall).total_seconds() <= slack_s
            and i not in used
        ]
        if not candidates:
            problems.append(f"start at {pulse.started.isoformat()} has no journaled intent")
            continue
        used.add(candidates[-1])
    return problems
