"""The SR-08 check that every physical start follows its own journaled intent."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pumpctl.invariants import PhysicalPulse, check_intents_cover_starts

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def start(seconds: float) -> PhysicalPulse:
    return PhysicalPulse(at(seconds), seconds)


def naive(starts: Sequence[PhysicalPulse], walls: Sequence[datetime], slack_s: float) -> list[str]:
    """The check as first written: every intent compared with every start."""
    problems: list[str] = []
    intents = sorted(walls)
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


def test_a_start_with_its_intent_just_before_passes() -> None:
    """SR-08: an intent 2 s before the start covers it."""
    assert check_intents_cover_starts([start(100)], [at(98)]) == []


def test_a_start_without_an_intent_is_named() -> None:
    """SR-08: a start with no intent in the 120 s before it (or 1 s after) is a violation."""
    (problem,) = check_intents_cover_starts([start(500)], [at(379)])
    assert problem == f"start at {at(500).isoformat()} has no journaled intent"
    assert check_intents_cover_starts([start(500)], [at(380)]) == []
    assert check_intents_cover_starts([start(500)], [at(501)]) == []
    assert len(check_intents_cover_starts([start(500)], [at(501.000001)])) == 1


def test_one_intent_never_covers_two_starts() -> None:
    """SR-08: a pulse started twice on one intent is found (the second start has none)."""
    (problem,) = check_intents_cover_starts([start(100), start(130)], [at(99)])
    assert at(130).isoformat() in problem


def test_the_bisected_check_agrees_with_the_all_pairs_one() -> None:
    """Random starts and intents, clustered so that ranges overlap and intents run out: the
    fast check names the same starts as the one that compares every pair."""
    rng = random.Random(13)  # noqa: S311 - reproducible test data
    outcomes: set[int] = set()
    for _ in range(300):
        starts = [start(rng.choice((0, 60, 200, 260)) + rng.uniform(0, 150)) for _ in range(6)]
        # Most starts get an intent up to 150 s before (or a little after) them, some do not.
        walls = [at(s.elapsed_s - rng.uniform(-1.5, 150)) for s in starts if rng.random() < 0.85]
        slack_s = rng.choice((30.0, 120.0))
        expected = naive(starts, walls, slack_s)
        assert check_intents_cover_starts(starts, walls, slack_s) == expected
        outcomes.add(len(expected))
    assert {0, 1, 2} <= outcomes  # passing and failing cases both drawn
