"""The gate's time rules: exact to the microsecond, measured from confirmed starts, no ratchet."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pumpctl.core.clock import ScaledClock, VirtualClock
from pumpctl.core.gate import GateContext, authorize, describe, latency_allowance
from pumpctl.core.model import (
    START_LATENCY_BOUND,
    Limits,
    Moment,
    Outcome,
    PulseRecord,
    Reason,
    Slot,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
LIMITS = Limits()  # 90 min, 16 pulses and 400 ug per 24 h


def slot_at(when: datetime) -> Slot:
    return Slot(
        slot_id="S-next",
        scheduled=when,
        interval_min=90,
        dose_ug=Decimal(5),
        volume_ul=Decimal(5),
        rate_ul_per_min=Decimal(5),
        duration_s=Decimal(60),
    )


def pulse(clock: VirtualClock, slot: datetime, started_late: timedelta) -> PulseRecord:
    """A delivered pulse for ``slot``, confirmed started ``started_late`` after it."""
    back = clock.now() - slot
    intent_us = clock.elapsed_us() - back // timedelta(microseconds=1)
    started = slot + started_late
    return PulseRecord(
        slot_id=f"S-{slot.isoformat()}",
        intent_wall=slot,
        intent_elapsed_s=intent_us / 1_000_000,
        boot_id=clock.boot_id,
        dose_ug=Decimal(5),
        volume_ul=Decimal(5),
        duration_s=Decimal(60),
        outcome=Outcome.DELIVERED,
        delivered_volume_ul=Decimal(5),
        started=Moment(
            started, intent_us + started_late // timedelta(microseconds=1), clock.boot_id
        ),
    )


def test_a_start_confirmed_within_the_bound_does_not_delay_the_next_slot() -> None:
    """SR-02: a previous start confirmed up to the bound after its slot leaves the next on time."""
    slot = T0 + timedelta(minutes=90, microseconds=123_457)
    clock = VirtualClock(slot, elapsed_s=50_000.0)
    previous = pulse(clock, slot - timedelta(minutes=90), START_LATENCY_BOUND)
    decision = authorize(slot_at(slot), [previous], clock, GateContext(limits=LIMITS))
    assert decision.allowed, decision.details


def test_lateness_beyond_the_bound_is_waited_for_exactly() -> None:
    """SR-02: a start confirmed 5 s late holds the next slot back by the excess, to the µs."""
    slot = T0 + timedelta(minutes=90)
    clock = VirtualClock(slot, elapsed_s=50_000.0)
    previous = pulse(clock, T0, timedelta(seconds=5))
    decision = authorize(slot_at(slot), [previous], clock, GateContext(limits=LIMITS))
    assert decision.reasons == (Reason.MIN_INTERVAL,)
    assert decision.interval_clears_in == timedelta(seconds=4)
    clock.advance(timedelta(seconds=4) - timedelta(microseconds=1))
    assert not authorize(slot_at(slot), [previous], clock, GateContext(limits=LIMITS)).allowed
    clock.advance(timedelta(microseconds=1))
    assert authorize(slot_at(slot), [previous], clock, GateContext(limits=LIMITS)).allowed


def test_interval_is_measured_from_the_confirmed_start_not_the_intent() -> None:
    """SR-02: the pump's confirmation, later than the intent, is what the interval runs from."""
    slot = T0 + timedelta(minutes=90)
    clock = VirtualClock(slot, elapsed_s=50_000.0)
    previous = pulse(clock, T0, timedelta(minutes=3))
    decision = authorize(slot_at(slot), [previous], clock, GateContext(limits=LIMITS))
    assert Reason.MIN_INTERVAL in decision.reasons
    assert "87 min since the last pulse started" in decision.details[0]


def test_no_pulse_starts_even_a_microsecond_before_its_slot() -> None:
    """SR-10: never early: one microsecond before its slot a pulse is refused."""
    slot = T0 + timedelta(minutes=90)
    clock = VirtualClock(slot - timedelta(microseconds=1), elapsed_s=50_000.0)
    decision = authorize(slot_at(slot), [], clock, GateContext(limits=LIMITS))
    assert decision.reasons == (Reason.STALE_SLOT,)
    clock.advance(timedelta(microseconds=1))
    assert authorize(slot_at(slot), [], clock, GateContext(limits=LIMITS)).allowed


def test_the_pulse_24_h_back_leaves_the_window_at_the_caps_spacing() -> None:
    """SR-03: at an interval of 24 h / cap, the pulse a day back, started late, no longer counts."""
    limits = Limits(max_pulses_24h=16, max_dose_24h_ug=Decimal(80))
    slot = T0 + timedelta(hours=24)
    clock = VirtualClock(slot, elapsed_s=200_000.0)
    history = [
        pulse(clock, T0 + timedelta(minutes=90 * k), timedelta(milliseconds=700)) for k in range(16)
    ]
    decision = authorize(slot_at(slot), history, clock, GateContext(limits=limits))
    assert decision.allowed, decision.details


def test_the_allowance_scales_with_the_clock() -> None:
    """At 1440 x the start-latency bound is 1440 x longer in clock time."""
    base = VirtualClock(T0)
    assert latency_allowance(base) == START_LATENCY_BOUND
    assert latency_allowance(ScaledClock(1440.0, base=base)) == START_LATENCY_BOUND * 1440


def test_describe_prints_durations_exactly() -> None:
    """Denial texts show the exact duration, not a rounded float."""
    assert describe(timedelta(minutes=89, seconds=59, microseconds=500_000)) == "89 min 59.5 s"
    assert describe(timedelta(minutes=90)) == "90 min"
    assert describe(timedelta(microseconds=1)) == "0.000001 s"
    assert describe(timedelta(seconds=-3)) == "-3 s"
    assert describe(timedelta(0)) == "0 s"


def test_a_not_delivered_pulse_whose_run_was_sent_counts_for_the_minimum_interval() -> None:
    """SR-02: a pump that started and stalled at once moved nothing (NOT_DELIVERED), yet started:
    the next pulse waits the minimum interval from that start. A pulse refused before its RUN
    went out is no start and holds nothing back."""
    slot = T0 + timedelta(minutes=90)
    clock = VirtualClock(slot, elapsed_s=50_000.0)
    started_late = timedelta(minutes=3)
    stalled = replace(
        pulse(clock, T0, started_late),
        outcome=Outcome.NOT_DELIVERED,
        delivered_volume_ul=Decimal(0),
        run_sent=True,
    )
    decision = authorize(slot_at(slot), [stalled], clock, GateContext(limits=LIMITS))
    assert decision.reasons == (Reason.MIN_INTERVAL,)
    assert decision.interval_clears_in == started_late - START_LATENCY_BOUND
    never_sent = replace(stalled, run_sent=False)
    assert authorize(slot_at(slot), [never_sent], clock, GateContext(limits=LIMITS)).allowed


def test_a_not_delivered_pulse_whose_run_was_sent_counts_for_the_24_h_count() -> None:
    """SR-02 SR-03: the 24 h count is of starts, so a started-and-stalled pulse takes a place."""
    limits = Limits(max_pulses_24h=1)
    slot = T0 + timedelta(hours=12)
    clock = VirtualClock(slot, elapsed_s=50_000.0)
    stalled = replace(
        pulse(clock, T0, timedelta(0)),
        outcome=Outcome.NOT_DELIVERED,
        delivered_volume_ul=Decimal(0),
        run_sent=True,
    )
    decision = authorize(slot_at(slot), [stalled], clock, GateContext(limits=limits))
    assert Reason.MAX_PULSES_24H in decision.reasons
    assert Reason.MAX_DOSE_24H not in decision.reasons  # it moved nothing: no dose counted
    never_sent = replace(stalled, run_sent=False)
    assert authorize(slot_at(slot), [never_sent], clock, GateContext(limits=limits)).allowed
