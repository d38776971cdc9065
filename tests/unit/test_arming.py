"""The pre-armed pulse's decisions (pure): when an armed pulse may still fire, and when not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pumpctl.core import arming
from pumpctl.core.arming import Ahead, AtSlot, mark, why_disarm
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Slot

SLOT_TIME = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SLOT = Slot(
    slot_id="S20260302T080000Z",
    scheduled=SLOT_TIME,
    interval_min=90,
    dose_ug=Decimal(10),
    volume_ul=Decimal(10),
    rate_ul_per_min=Decimal(10),
    duration_s=Decimal(60),
)


def armed_at(clock: VirtualClock, *, lead_s: float = 2.0) -> arming.ArmedMark:
    clock.advance_to(SLOT_TIME - timedelta(seconds=lead_s))
    return mark(clock, SLOT, seq=42, lead_s=lead_s, wait=timedelta(0))


def at_slot(clock: VirtualClock, **changes: object) -> AtSlot:
    now = AtSlot(
        slot=SLOT,
        wall=clock.now(),
        elapsed_us=clock.elapsed_us(),
        boot_id=clock.boot_id,
        journal_kinds=(),
        pump_ready=True,
        suspended=False,
    )
    return replace(now, **changes)  # type: ignore[arg-type]


def test_an_armed_pulse_with_nothing_changed_goes_to_the_gate() -> None:
    """SR-27: armed and read back 2 s ahead; at the slot nothing changed, so no disarm."""
    clock = VirtualClock(SLOT_TIME - timedelta(minutes=5))
    armed = armed_at(clock)
    clock.advance_to(SLOT_TIME)
    assert why_disarm(armed, at_slot(clock)) is None


def test_quiet_records_do_not_disarm_but_every_other_kind_does() -> None:
    """SR-12 SR-19: a notification attempt or the gate's own record leaves it armed; an alarm,
    a suspension, a resumption, an operator action, a reload, a reservoir change, flow, or a
    kind this version does not know disarms it, named in plain words."""
    clock = VirtualClock(SLOT_TIME - timedelta(minutes=5))
    armed = armed_at(clock)
    clock.advance_to(SLOT_TIME)
    quiet = ("notify.attempt", "gate.decision", "slot.missed", "slot.scheduled")
    assert why_disarm(armed, at_slot(clock, journal_kinds=quiet)) is None
    for kind in (
        "alarm.raised",
        "delivery.suspended",
        "delivery.resumed",
        "operator.action",
        "prescription.change",
        "limits.change",
        "reservoir.changed",
        "flow.unexplained",
        "alarm.acknowledged",
        "some.future_kind",
    ):
        why = why_disarm(armed, at_slot(clock, journal_kinds=("notify.attempt", kind)))
        assert why == f"{kind} journaled since arming"


def test_a_suspension_then_resumption_inside_the_window_disarms() -> None:
    """SR-12: suspend at slot-1 s and resume at slot-0.5 s: both journaled, so the pulse is
    disarmed even though delivery is no longer suspended at the slot."""
    clock = VirtualClock(SLOT_TIME - timedelta(minutes=5))
    armed = armed_at(clock)
    clock.advance_to(SLOT_TIME)
    kinds = ("operator.action", "delivery.suspended", "operator.action", "delivery.resumed")
    why = why_disarm(armed, at_slot(clock, journal_kinds=kinds))
    assert why == "operator.action, delivery.suspended, delivery.resumed journaled since arming"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"slot": None}, "the slot is gone since arming (the prescription was reloaded)"),
        (
            {"slot": replace(SLOT, volume_ul=Decimal(12))},
            "the slot is different since arming (the prescription was reloaded)",
        ),
        ({"boot_id": "another-boot"}, "the machine restarted since arming"),
        ({"suspended": True}, "delivery is suspended"),
        ({"pump_ready": False}, "the pump is no longer ready (link lost or self-test failed)"),
        (
            {"pump_problem": "the pump raised alarm stall since arming"},
            "the pump raised alarm stall since arming",
        ),
    ],
)
def test_each_change_disarms_with_its_reason(changes: dict[str, object], expected: str) -> None:
    """SR-27 SR-12 SR-21: a reloaded slot, a reboot, a suspension, a pump no longer ready or one
    that raised an alarm since arming: the armed pulse is not started."""
    clock = VirtualClock(SLOT_TIME - timedelta(minutes=5))
    armed = armed_at(clock)
    clock.advance_to(SLOT_TIME)
    assert why_disarm(armed, at_slot(clock, **changes)) == expected


def test_a_wall_clock_step_while_armed_disarms() -> None:
    """SR-11: the wall clock stepped back (or forward) while armed: not started."""
    for step_s in (-30.0, 0.5):
        clock = VirtualClock(SLOT_TIME - timedelta(minutes=5))
        armed = armed_at(clock)
        clock.advance(1.0)
        clock.step_wall(step_s)
        why = why_disarm(armed, at_slot(clock))
        assert why is not None and why.startswith(f"the wall clock stepped {step_s:+.3f} s")


def test_a_step_within_the_tolerance_is_not_a_step() -> None:
    """SR-11: the two clocks disagreeing by less than 0.1 s (slewing) is no step."""
    clock = VirtualClock(SLOT_TIME - timedelta(minutes=5))
    armed = armed_at(clock)
    clock.advance(1.0)
    clock.step_wall(0.099)
    assert why_disarm(armed, at_slot(clock)) is None


def test_an_arm_held_past_its_lead_and_slack_is_stale() -> None:
    """SR-14: a host that suspended (both clocks moved) with a pulse armed: the pump went
    unwatched, so the pulse is not started however the gate would judge it."""
    clock = VirtualClock(SLOT_TIME - timedelta(minutes=5))
    armed = armed_at(clock, lead_s=2.0)
    clock.advance(2.0 + arming.ARM_SLACK_S)
    assert why_disarm(armed, at_slot(clock)) is None  # exactly at the bound: still valid
    clock.advance(0.000001)
    why = why_disarm(armed, at_slot(clock))
    assert why is not None and "longer than planned" in why
    clock.suspend(3600)
    assert "longer than planned" in str(why_disarm(armed, at_slot(clock)))


def test_a_wait_inside_the_window_extends_the_arm() -> None:
    """SR-02: armed for a slot the gate lets start 3 s after its time (the previous pulse's
    interval): the mark covers that wait, and not a moment more than the slack beyond it."""
    clock = VirtualClock(SLOT_TIME - timedelta(minutes=5))
    clock.advance_to(SLOT_TIME - timedelta(seconds=2))
    armed = mark(clock, SLOT, seq=1, lead_s=2.0, wait=timedelta(seconds=3))
    clock.advance(2.0 + 3.0 + arming.ARM_SLACK_S)
    assert why_disarm(armed, at_slot(clock)) is None
    clock.advance(0.001)
    assert why_disarm(armed, at_slot(clock)) is not None


def test_the_lead_scales_with_a_simulators_clock_but_is_capped() -> None:
    """The lead is real seconds: N x longer on an N x clock, at most ten simulated minutes."""

    class Scaled(VirtualClock):
        @property
        def scale(self) -> float:
            return 60.0

    assert arming.lead(VirtualClock(), 2.0) == timedelta(seconds=2)
    assert arming.lead(Scaled(), 2.0) == timedelta(seconds=120)
    assert arming.lead(Scaled(), 10.0) == arming.MAX_SCALED_LEAD


def test_ahead_reads_both_clocks_shifted_alike() -> None:
    """The gate asked as of the slot sees the wall and the elapsed clock moved together, so an
    interval it measures is the one it will measure at the slot."""
    clock = VirtualClock(SLOT_TIME - timedelta(seconds=2))
    ahead = Ahead(clock, timedelta(seconds=2))
    assert ahead.now() == SLOT_TIME
    assert ahead.elapsed_us() == clock.elapsed_us() + 2_000_000
    assert ahead.boot_id == clock.boot_id and ahead.scale == clock.scale


def test_the_quiet_window_is_twice_the_slowest_reading_plus_a_margin() -> None:
    """Issue 13: no routine pump check starts this close to an armed slot. Twice the slowest
    reading (a check can be two round trips) plus 20 ms for the host, on the clock's scale;
    never more than half a heartbeat, so the put-off check keeps the pump's watchdog fed."""
    assert arming.quiet(0.0127, heartbeat_s=3.0) == timedelta(microseconds=45_400)
    # At 40x a reading measured in clock seconds is already scaled; the margin is scaled too.
    assert arming.quiet(0.508, heartbeat_s=30.0, scale=40.0) == timedelta(seconds=1.816)
    assert arming.quiet(0.508, heartbeat_s=3.0, scale=40.0) == timedelta(seconds=1.5)
    assert arming.quiet(2.0, heartbeat_s=3.0) == timedelta(seconds=1.5)
