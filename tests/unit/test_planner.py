"""The planner: stable slot ids, profiles, due windows."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from pumpctl.core.model import Prescription, ProfileWindow
from pumpctl.core.planner import Planner, slot_id_for
from tests.builders import T0, make_prescription


def test_fixed_interval_slots_are_evenly_spaced(prescription: Prescription) -> None:
    """A 90-min prescription yields 16 slots in 24 h, 90 min apart, starting at the anchor."""
    slots = Planner(prescription).slots_between(T0, T0 + timedelta(hours=24))
    assert len(slots) == 16
    assert slots[0].scheduled == T0
    assert {b.scheduled - a.scheduled for a, b in itertools.pairwise(slots)} == {
        timedelta(minutes=90)
    }


def test_slot_ids_are_stable_across_planners(prescription: Prescription) -> None:
    """The same prescription gives the same slot ids, however the planner is asked."""
    late = T0 + timedelta(days=400, minutes=7)
    a = Planner(prescription).latest_at_or_before(late)
    planner = Planner(prescription)
    planner.slots_between(T0, T0 + timedelta(days=3))
    b = planner.latest_at_or_before(late)
    assert a is not None and b is not None
    assert a.slot_id == b.slot_id == slot_id_for(a.scheduled)
    assert a.scheduled <= late < a.scheduled + timedelta(minutes=90)


def test_nothing_before_the_anchor(prescription: Prescription) -> None:
    """No slot exists before the first-pulse anchor."""
    planner = Planner(prescription)
    assert planner.latest_at_or_before(T0 - timedelta(seconds=1)) is None
    assert planner.next_after(T0 - timedelta(days=2)).scheduled == T0


def test_due_only_within_grace(prescription: Prescription) -> None:
    """SR-10: a slot is due from its time until its grace window closes, then never again."""
    planner = Planner(prescription)
    assert planner.due(T0 + timedelta(minutes=10), grace_min=10) is not None
    assert planner.due(T0 + timedelta(minutes=10, seconds=1), grace_min=10) is None
    nxt = planner.due(T0 + timedelta(minutes=90), grace_min=10)
    assert nxt is not None and nxt.scheduled == T0 + timedelta(minutes=90)


def test_night_profile_uses_its_own_interval() -> None:
    """A night window with a 120-min interval spaces night slots 120 min apart."""
    rx = make_prescription(
        anchor=datetime(2026, 1, 5, 20, 0, tzinfo=UTC),
        timezone="Europe/Paris",
        profile=(ProfileWindow(time(22, 0), time(6, 0), 120),),
    )
    slots = Planner(rx).slots_between(rx.anchor, rx.anchor + timedelta(hours=12))
    gaps = [
        (a.scheduled.astimezone(rx.zone).time(), (b.scheduled - a.scheduled).total_seconds() / 60)
        for a, b in itertools.pairwise(slots)
    ]
    for local, gap in gaps:
        night = local >= time(22, 0) or local < time(6, 0)
        assert gap == (120 if night else 90), (local, gap)


def test_profile_slots_survive_dst(prescription: Prescription) -> None:
    """SR-11: across a DST change slots stay at their UTC spacing, none doubled or skipped."""
    rx = replace(
        prescription,
        anchor=datetime(2026, 3, 28, 0, 0, tzinfo=UTC),
        timezone="Europe/Paris",
        profile=(ProfileWindow(time(23, 0), time(5, 0), 120),),
    )
    slots = Planner(rx).slots_between(rx.anchor, rx.anchor + timedelta(days=2))
    gaps = {(b.scheduled - a.scheduled) for a, b in itertools.pairwise(slots)}
    assert gaps <= {timedelta(minutes=90), timedelta(minutes=120)}
    assert len({s.slot_id for s in slots}) == len(slots)


def test_derived_volume_and_rate_are_exact(prescription: Prescription) -> None:
    """Derived pump settings are exact decimals: 5 ug at 1 mg/mL is 5 uL at 5 uL/min over 60 s."""
    slot = Planner(prescription).slot(0)
    assert str(slot.volume_ul) == "5"
    assert slot.rate_ul_per_min == 5
    assert slot.duration_s == 60


def test_year_long_sums_have_no_drift() -> None:
    """A year of 7.5 ug pulses at 0.8 mg/mL sums to exactly 5840 x 9.375 uL (no float drift)."""
    rx = make_prescription(dose_ug=Decimal("7.5"), concentration_ug_per_ml=Decimal(800))
    slots = Planner(rx).slots_between(T0, T0 + timedelta(days=365))
    assert len(slots) == 5840
    assert sum(s.volume_ul for s in slots) == Decimal("54750")
    assert sum(s.dose_ug for s in slots) == Decimal("43800")
