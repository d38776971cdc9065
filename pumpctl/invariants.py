"""Safety invariants checked against ground truth: the simulator's ledger and the journal.

Used by ``pumpctl simulate`` after each pulse and at the end, by ``pumpctl demo`` and by the
reliability tests. The ledger says what the plunger physically did; the journal what pumpctl
recorded. A clean run has no violation: no two commanded starts closer than the minimum interval
less the tolerance, 24 h caps held, every commanded start covered by a journaled intent, no
intent started twice, and no volume the plunger moved that the journal does not account for
(SR-26: never erased unseen).

The tolerance is the start-latency bound the safety gate grants (``START_LATENCY_BOUND``), times
the time scale on a scaled clock: a start may come that much sooner after the one before it than
the minimum interval, never more (docs/design.md). Every check of time here is exact, in
microseconds.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
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
    slack = timedelta(seconds=slack_s)
    for pulse in sorted(starts, key=lambda p: p.started):
        # The intents from ``slack`` before the start to 1 s after it, by bisection: a year's
        # simulation checks thousands of starts against thousands of intents.
        first = bisect.bisect_left(intents, pulse.started - slack)
        after = bisect.bisect_right(intents, pulse.started + timedelta(seconds=1))
        latest = next((i for i in range(after - 1, first - 1, -1) if i not in used), None)
        if latest is None:
            problems.append(f"start at {pulse.started.isoformat()} has no journaled intent")
            continue
        used.add(latest)
    return problems


#: Journal records that account for volume: a pulse's intent (its commanded volume while its
#: outcome is unknown), its outcome or reconciliation (the measured volume), unexplained flow.
ACCOUNTING_KINDS = ("pulse.intent", "pulse.outcome", "pulse.reconciled", "flow.unexplained")


def journaled_volumes_ul(events: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Decimal]:
    """The volumes the journal accounts for, one per pulse and per unexplained flow.

    A pulse counts with its last measured volume, or with its commanded volume while none is
    known (UNCERTAIN, pending, settled by an operator: the conservative reading, SR-09);
    unexplained flow with the volume journaled for it (SR-26).
    """
    pulses: dict[str, Decimal] = {}
    flows: list[Decimal] = []
    for kind, payload in events:
        if kind == "pulse.intent":
            pulses[str(payload["slot_id"])] = Decimal(str(payload["volume_ul"]))
        elif kind in ("pulse.outcome", "pulse.reconciled"):
            delivered = payload.get("delivered_volume_ul")
            if delivered is not None:
                pulses[str(payload["slot_id"])] = Decimal(str(delivered))
        elif kind == "flow.unexplained" and payload.get("volume_ul") is not None:
            flows.append(Decimal(str(payload["volume_ul"])))
    return [*pulses.values(), *flows]


#: The simulator's ledger sums floats; its total is compared at this resolution.
LEDGER_ROUNDING_UL = Decimal("0.000001")


def check_volume_accounted(
    ledger_infused_ul: Decimal,
    events: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    step_ul: Callable[[Decimal], Decimal],
) -> list[str]:
    """SR-26: the plunger moved no more than the journal accounts for.

    Each record may fall short of the plunger by one printed step of the pump's totals around
    its volume (``step_ul``: the pump truncates what it shows); anything beyond that moved
    unseen.
    """
    volumes = journaled_volumes_ul(events)
    accounted = sum(volumes, Decimal(0))
    # Plus the ledger's own rounding: it sums floats, given here to 6 decimals.
    allowed = sum((step_ul(v) for v in volumes), LEDGER_ROUNDING_UL)
    unseen = ledger_infused_ul - accounted
    if unseen <= allowed:
        return []
    return [
        f"{unseen} uL moved that the journal does not account for (plunger "
        f"{ledger_infused_ul} uL, journal {accounted} uL in {len(volumes)} records)"
    ]
