"""The safety gate: one test per reason code, and the rules around it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from pumpctl.core.clock import VirtualClock
from pumpctl.core.gate import GateContext, authorize, since_start
from pumpctl.core.model import (
    GateState,
    Limits,
    Outcome,
    Prescription,
    PulseRecord,
    Reason,
    Slot,
)
from pumpctl.core.planner import Planner


def due_slot(prescription: Prescription, clock: VirtualClock) -> Slot:
    slot = Planner(prescription).latest_at_or_before(clock.now())
    assert slot is not None
    return slot


def past_pulse(
    clock: VirtualClock,
    minutes_ago: float,
    *,
    outcome: Outcome | None = Outcome.DELIVERED,
    dose_ug: str = "5",
    delivered_ul: str | None = None,
    duration_s: str = "60",
) -> PulseRecord:
    return PulseRecord(
        slot_id=f"S-{minutes_ago}",
        intent_wall=clock.now() - timedelta(minutes=minutes_ago),
        intent_elapsed_s=clock.elapsed_s() - minutes_ago * 60,
        boot_id=clock.boot_id,
        dose_ug=Decimal(dose_ug),
        volume_ul=Decimal(dose_ug),
        duration_s=Decimal(duration_s),
        outcome=outcome,
        delivered_volume_ul=Decimal(delivered_ul) if delivered_ul else None,
    )


def decide(
    prescription: Prescription,
    clock: VirtualClock,
    history: list[PulseRecord],
    limits: Limits | None = None,
    state: GateState | None = None,
):  # type: ignore[no-untyped-def]
    ctx = GateContext(limits=limits or Limits(), state=state or GateState())
    return authorize(due_slot(prescription, clock), history, clock, ctx)


def test_on_time_first_pulse_is_allowed(prescription: Prescription, clock: VirtualClock) -> None:
    """With no history and nothing wrong, the due slot is allowed."""
    decision = decide(prescription, clock, [])
    assert decision.allowed, decision.details


def test_regular_cadence_is_allowed(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-05: the prescription's own 90-min cadence passes the exposure check at steady state."""
    history = [past_pulse(clock, 90 * k) for k in range(1, 16)]
    decision = decide(prescription, clock, history)
    assert decision.allowed, decision.details


def test_min_interval(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-02: a pulse 80 min after the previous one is denied with min-interval."""
    decision = decide(prescription, clock, [past_pulse(clock, 80)])
    assert Reason.MIN_INTERVAL in decision.reasons


def test_max_pulses_24h(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-03: the 17th pulse in a rolling 24 h is denied with max-pulses-24h."""
    history = [past_pulse(clock, 90 * k) for k in range(1, 16)]  # 15 in the last 22.5 h
    limits = Limits(max_pulses_24h=15)
    decision = decide(prescription, clock, history, limits)
    assert decision.reasons == (Reason.MAX_PULSES_24H,)


def test_max_dose_24h(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-03: a pulse that takes the rolling 24 h dose past the cap is denied with max-dose-24h."""
    history = [past_pulse(clock, 90 * k) for k in range(1, 5)]  # 20 ug
    decision = decide(prescription, clock, history, Limits(max_dose_24h_ug=Decimal(24)))
    assert decision.reasons == (Reason.MAX_DOSE_24H,)


def test_pulse_volume_over_limit(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-04: a pulse larger than the volume limit is denied, never shrunk to fit."""
    rx = replace(prescription, concentration_ug_per_ml=Decimal(40))  # 5 ug -> 125 uL
    decision = decide(rx, clock, [])
    assert decision.reasons == (Reason.PULSE_VOLUME,)


def test_dose_per_pulse_over_limit(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-04: a dose above the per-pulse limit is denied, not clamped."""
    decision = decide(prescription, clock, [], Limits(max_dose_per_pulse_ug=Decimal(4)))
    assert Reason.PULSE_VOLUME in decision.reasons


def test_zero_volume_is_never_a_pulse(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-01: a zero volume (the pump's 'continuous' setting) is refused as unbounded."""
    slot = replace(due_slot(prescription, clock), volume_ul=Decimal(0))
    decision = authorize(slot, [], clock, GateContext(limits=Limits()))
    assert Reason.PULSE_VOLUME in decision.reasons


def test_pulse_duration(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-05: a 30-min 'pulse' is denied by the pulse-duration limit."""
    rx = replace(prescription, pulse_duration_s=1800)
    decision = decide(rx, clock, [])
    assert Reason.PULSE_DURATION in decision.reasons


def test_exposure_catches_a_slow_pulse_even_with_a_wide_duration_limit(
    prescription: Prescription, clock: VirtualClock
) -> None:
    """SR-05: the exposure model alone refuses a 30-min pulse in a 90-min regimen."""
    rx = replace(prescription, pulse_duration_s=1800)
    history = [past_pulse(clock, 90 * k, duration_s="1800") for k in range(1, 8)]
    limits = Limits(max_pulse_duration_s=600)
    decision = decide(rx, clock, history, limits)
    assert Reason.EXPOSURE in decision.reasons


def test_exposure_catches_pulses_45_min_apart(
    prescription: Prescription, clock: VirtualClock
) -> None:
    """SR-05: with the interval limit at its 60-min floor, pulses 45 min apart are still refused."""
    limits = Limits(min_interval_min=60)
    history = [past_pulse(clock, 61), past_pulse(clock, 106)]
    rx = replace(prescription, interval_min=60)
    decision = decide(rx, clock, history, limits)
    assert Reason.MIN_INTERVAL not in decision.reasons
    # 61 min since the last pulse passes the interval rule; the model does the refusing here.
    history_45 = [past_pulse(clock, 45 * k) for k in range(1, 6)]
    limits_wide = Limits(min_interval_min=60, max_pulses_24h=24)
    ctx = GateContext(limits=limits_wide)
    slot = due_slot(rx, clock)
    decision = authorize(slot, history_45, clock, ctx)
    assert Reason.EXPOSURE in decision.reasons


def test_uncertain_pending(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-09: while a pulse is UNCERTAIN no other pulse is delivered."""
    history = [past_pulse(clock, 300, outcome=None)]
    decision = decide(prescription, clock, history)
    assert decision.reasons == (Reason.UNCERTAIN_PENDING,)


def test_uncertain_counts_as_fully_delivered(
    prescription: Prescription, clock: VirtualClock
) -> None:
    """SR-09: an UNCERTAIN pulse counts as its full dose in the 24 h dose cap."""
    history = [past_pulse(clock, 200, outcome=Outcome.UNCERTAIN)]
    decision = decide(prescription, clock, history, Limits(max_dose_24h_ug=Decimal(9)))
    assert Reason.MAX_DOSE_24H in decision.reasons


def test_partial_counts_measured_dose_and_still_counts_as_a_pulse(
    prescription: Prescription, clock: VirtualClock
) -> None:
    """SR-07: a PARTIAL pulse counts for the interval and its measured dose for the dose cap."""
    partial = past_pulse(clock, 60, outcome=Outcome.PARTIAL, delivered_ul="2")
    assert partial.counted_dose_ug == Decimal(2)
    decision = decide(prescription, clock, [partial])
    assert Reason.MIN_INTERVAL in decision.reasons


def test_not_delivered_does_not_count(prescription: Prescription, clock: VirtualClock) -> None:
    """A pulse the pump proved it never started does not block the next slot."""
    history = [past_pulse(clock, 30, outcome=Outcome.NOT_DELIVERED)]
    assert decide(prescription, clock, history).allowed


def test_alarm_active(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-12: no pulse while a high-priority alarm is active."""
    decision = decide(prescription, clock, [], state=GateState(alarm_active=True))
    assert decision.reasons == (Reason.ALARM_ACTIVE,)


def test_suspended(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-12: no pulse while delivery is suspended."""
    decision = decide(prescription, clock, [], state=GateState(suspended=True))
    assert decision.reasons == (Reason.SUSPENDED,)


def test_pump_not_ready(prescription: Prescription, clock: VirtualClock) -> None:
    """No pulse before the pump has passed its self-test."""
    decision = decide(prescription, clock, [], state=GateState(pump_ready=False))
    assert decision.reasons == (Reason.PUMP_NOT_READY,)


def test_reservoir(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-17: a pulse the reservoir cannot cover is denied."""
    decision = decide(prescription, clock, [], state=GateState(reservoir_ul=Decimal("4.9")))
    assert decision.reasons == (Reason.RESERVOIR,)


def test_journal_unavailable(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-19: no pulse when it could not be recorded: a missed pulse, never an unrecorded one."""
    decision = decide(prescription, clock, [], state=GateState(journal_writable=False))
    assert decision.reasons == (Reason.JOURNAL_UNAVAILABLE,)


def test_clock_suspect_when_wall_is_behind_the_journal(
    prescription: Prescription, clock: VirtualClock
) -> None:
    """SR-11: a wall clock behind the last journaled event makes the gate deny."""
    state = GateState(last_journal_wall=clock.now() + timedelta(minutes=5))
    decision = decide(prescription, clock, [], state=state)
    assert decision.reasons == (Reason.CLOCK_SUSPECT,)


def test_stale_slot_after_grace(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-10: a slot past its grace window is never delivered late."""
    slot = due_slot(prescription, clock)
    clock.advance(11 * 60)
    decision = authorize(slot, [], clock, GateContext(limits=Limits()))
    assert decision.reasons == (Reason.STALE_SLOT,)


def test_stale_slot_before_its_time(prescription: Prescription, clock: VirtualClock) -> None:
    """SR-10: a slot is not started before its scheduled time."""
    slot = Planner(prescription).next_after(clock.now())
    decision = authorize(slot, [], clock, GateContext(limits=Limits()))
    assert decision.reasons == (Reason.STALE_SLOT,)


def test_every_applicable_reason_is_reported(
    prescription: Prescription, clock: VirtualClock
) -> None:
    """SR-04: the gate lists all reasons, not only the first it finds."""
    state = GateState(alarm_active=True, suspended=True, reservoir_ul=Decimal(0))
    decision = decide(prescription, clock, [past_pulse(clock, 30)], state=state)
    assert {
        Reason.ALARM_ACTIVE,
        Reason.SUSPENDED,
        Reason.RESERVOIR,
        Reason.MIN_INTERVAL,
        Reason.EXPOSURE,
    } <= set(decision.reasons)
    assert len(decision.details) >= len(decision.reasons)


def test_wall_step_forward_does_not_shorten_the_interval(
    prescription: Prescription, clock: VirtualClock
) -> None:
    """SR-11: within one boot a wall-clock jump forward does not make an early pulse possible."""
    history = [past_pulse(clock, 30)]
    clock.step_wall(3 * 3600)
    assert since_start(history[0], clock, GateContext(limits=Limits())) == timedelta(minutes=30)
    slot = due_slot(prescription, clock)
    decision = authorize(slot, history, clock, GateContext(limits=Limits()))
    assert Reason.MIN_INTERVAL in decision.reasons


def test_reboot_with_rtc_ahead_uses_the_uptime_bound(
    prescription: Prescription, clock: VirtualClock
) -> None:
    """SR-11: after a reboot whose RTC runs a day ahead, a recent pulse still blocks the slot."""
    history = [past_pulse(clock, 20)]
    boot_end = {clock.boot_id: clock.elapsed_s()}
    clock.reboot(downtime_s=60, wall_error_s=86_400)
    ctx = GateContext(limits=Limits(), boot_last_elapsed_s=boot_end)
    since = since_start(history[0], clock, ctx)
    assert since <= timedelta(minutes=21.1)  # 20 min before the shutdown + a few seconds of uptime
    decision = authorize(due_slot(prescription, clock), history, clock, ctx)
    assert Reason.MIN_INTERVAL in decision.reasons


def test_reboot_with_correct_rtc_allows_after_uptime(
    prescription: Prescription, clock: VirtualClock
) -> None:
    """After a reboot, the wall clock is believed only as far as the uptime bound allows."""
    history = [past_pulse(clock, 80)]
    boot_end = {clock.boot_id: clock.elapsed_s()}
    clock.reboot(downtime_s=3600)
    ctx = GateContext(limits=Limits(), boot_last_elapsed_s=boot_end)
    # The wall says 141 min; the bound (80 min + 5 s of uptime) is what the gate uses until
    # enough uptime has passed.
    assert since_start(history[0], clock, ctx) < timedelta(minutes=81)
    clock.advance(11 * 60)
    assert since_start(history[0], clock, ctx) > timedelta(minutes=90)
