"""Tests for the alarm model: priorities, latching, acknowledgement, silence, missed pulses."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.alarms import (
    CATALOGUE,
    MAX_SILENCE_MIN,
    Alarm,
    AlarmError,
    AlarmEvent,
    AlarmKind,
    AlarmSet,
    Priority,
    Transition,
)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def events() -> list[AlarmEvent]:
    return []


@pytest.fixture
def alarms(clock: VirtualClock, events: list[AlarmEvent]) -> AlarmSet:
    return AlarmSet(clock, listeners=[events.append])


def test_catalogue_covers_every_kind_with_guidance() -> None:
    """Every alarm kind has a priority and non-empty meaning and action texts."""
    assert set(CATALOGUE) == set(AlarmKind)
    for kind, spec in CATALOGUE.items():
        assert spec.kind is kind
        assert spec.meaning.strip()
        assert spec.action.strip()


def test_each_priority_is_used_by_the_catalogue() -> None:
    """SR-22: the catalogue assigns high, medium and low priorities."""
    assert {spec.priority for spec in CATALOGUE.values()} == set(Priority)
    assert CATALOGUE[AlarmKind.UNINTENDED_FLOW].priority is Priority.HIGH
    assert CATALOGUE[AlarmKind.PARTIAL_DELIVERY].priority is Priority.MEDIUM
    assert CATALOGUE[AlarmKind.RESERVOIR_LOW].priority is Priority.LOW


def test_raise_reports_and_lists_by_urgency(alarms: AlarmSet, events: list[AlarmEvent]) -> None:
    """Raised alarms are listed most urgent first and each raise reaches the listener."""
    alarms.raise_alarm(AlarmKind.RESERVOIR_LOW, "120 ul left")
    alarms.raise_alarm(AlarmKind.PUMP_ALARM_STALL, "A?S")
    assert [a.alarm_id for a in alarms.active()] == ["pump-alarm-stall", "reservoir-low"]
    assert [(e.transition, e.alarm.alarm_id) for e in events] == [
        (Transition.RAISED, "reservoir-low"),
        (Transition.RAISED, "pump-alarm-stall"),
    ]


def test_condition_alarm_latches_until_acknowledged(
    alarms: AlarmSet, events: list[AlarmEvent]
) -> None:
    """SR-22: an alarm whose cause clears stays active until an operator acknowledges it."""
    alarms.raise_alarm(AlarmKind.LINK_FAULT, "timeout")
    latched = alarms.clear_cause(AlarmKind.LINK_FAULT)
    assert latched is not None and not latched.cause_present
    assert [a.alarm_id for a in alarms.unacknowledged()] == ["link-fault"]
    alarms.acknowledge("link-fault", reason="cable reseated", who="uid=1000")
    assert alarms.active() == []
    assert [e.transition for e in events] == [
        Transition.RAISED,
        Transition.CAUSE_CLEARED,
        Transition.ACKNOWLEDGED,
        Transition.CLEARED,
    ]


def test_acknowledged_condition_alarm_clears_when_cause_ends(alarms: AlarmSet) -> None:
    """An acknowledged alarm whose cause persists stays listed, then clears with its cause."""
    alarms.raise_alarm(AlarmKind.RESERVOIR_LOW)
    alarms.acknowledge("reservoir-low", reason="syringe ordered", who="ops")
    assert alarms.get("reservoir-low").acknowledged
    alarms.raise_alarm(AlarmKind.RESERVOIR_LOW, "still low")
    assert alarms.get("reservoir-low").acknowledged, "a refresh must not demand a new ack"
    assert alarms.clear_cause(AlarmKind.RESERVOIR_LOW) is None
    assert alarms.active() == []


def test_event_alarm_clears_on_acknowledge(alarms: AlarmSet, events: list[AlarmEvent]) -> None:
    """An event alarm (no lasting cause) is cleared by its acknowledgement, with who and why."""
    alarms.raise_alarm(AlarmKind.PARTIAL_DELIVERY, "slot s1: 40 of 50 ul")
    alarms.acknowledge("partial-delivery", reason="line kinked, fixed", who="uid=1000 pid=7")
    assert alarms.active() == []
    ack = next(e for e in events if e.transition is Transition.ACKNOWLEDGED)
    assert (ack.who, ack.reason) == ("uid=1000 pid=7", "line kinked, fixed")
    assert ack.alarm.ack_reason == "line kinked, fixed"


def test_acknowledge_requires_reason_and_known_id(alarms: AlarmSet) -> None:
    """Acknowledging needs a non-empty reason and an existing id; errors name the field."""
    alarms.raise_alarm(AlarmKind.OVER_DELIVERY)
    with pytest.raises(AlarmError, match="reason"):
        alarms.acknowledge("over-delivery", reason="  ", who="ops")
    with pytest.raises(AlarmError, match=r"alarm_id: no alarm 'nope'.*over-delivery"):
        alarms.acknowledge("nope", reason="x", who="ops")


def test_high_alarm_blocks_until_acknowledged(alarms: AlarmSet) -> None:
    """SR-12: high_active is true while a high-priority alarm is unacknowledged, false after."""
    assert not alarms.high_active
    alarms.raise_alarm(AlarmKind.RESERVOIR_LOW)
    assert not alarms.high_active, "a low alarm does not block delivery"
    alarms.raise_alarm(AlarmKind.UNINTENDED_FLOW, "infusing outside a pulse")
    assert alarms.high_active
    alarms.acknowledge("unintended-flow", reason="pump inspected", who="ops")
    assert not alarms.high_active


def test_silence_is_time_limited_and_still_blocks(
    alarms: AlarmSet, clock: VirtualClock, events: list[AlarmEvent]
) -> None:
    """SR-22: silence lasts 15 min by default, and a silenced high alarm still blocks delivery."""
    alarms.raise_alarm(AlarmKind.PUMP_ALARM_STALL)
    alarms.silence("pump-alarm-stall", who="ops")
    assert alarms.annunciating() == []
    assert alarms.high_active
    assert events[-1].transition is Transition.SILENCED
    clock.advance(timedelta(minutes=14, seconds=59).total_seconds())
    assert alarms.annunciating() == []
    clock.advance(1)
    assert [a.alarm_id for a in alarms.annunciating()] == ["pump-alarm-stall"]


@pytest.mark.parametrize("minutes", [0, -5, MAX_SILENCE_MIN + 1, 1.5, True])
def test_silence_out_of_range_is_refused(alarms: AlarmSet, minutes: object) -> None:
    """SR-22: silence cannot exceed the maximum, be non-positive or a non-integer."""
    alarms.raise_alarm(AlarmKind.PUMP_ALARM_STALL)
    with pytest.raises(AlarmError, match="minutes"):
        alarms.silence("pump-alarm-stall", who="ops", minutes=minutes)  # type: ignore[arg-type]


def test_silence_max_is_allowed(alarms: AlarmSet, clock: VirtualClock) -> None:
    """The maximum silence is accepted and ends exactly that many minutes later."""
    alarms.raise_alarm(AlarmKind.MISSED_PULSE)
    silenced = alarms.silence("missed-pulse", who="ops", minutes=MAX_SILENCE_MIN)
    assert silenced.silenced_until == clock.now() + timedelta(minutes=MAX_SILENCE_MIN)


def test_missed_pulse_escalates_after_two_in_a_row(
    alarms: AlarmSet, events: list[AlarmEvent]
) -> None:
    """SR-22: a missed pulse raises a medium alarm, the second in a row escalates it to high."""
    first = alarms.missed_pulse("s1")
    assert first.priority is Priority.MEDIUM
    assert not alarms.high_active
    second = alarms.missed_pulse("s2")
    assert second.priority is Priority.HIGH
    assert alarms.high_active
    assert events[-1].transition is Transition.ESCALATED


def test_escalation_requires_fresh_acknowledgement(alarms: AlarmSet) -> None:
    """SR-22: an escalated alarm loses an earlier silence and must be acknowledged again."""
    alarms.raise_alarm(AlarmKind.LINK_FAULT)
    alarms.silence("link-fault", who="ops")
    escalated = alarms.raise_alarm(AlarmKind.LINK_FAULT, priority=Priority.HIGH)
    assert escalated.silenced_until is None
    assert alarms.high_active


def test_delivered_pulse_resets_missed_run(alarms: AlarmSet) -> None:
    """SR-22: a delivered pulse between two misses prevents escalation."""
    alarms.missed_pulse("s1")
    alarms.acknowledge("missed-pulse", reason="pump was unplugged", who="ops")
    alarms.pulse_delivered()
    again = alarms.missed_pulse("s3")
    assert again.priority is Priority.MEDIUM
    assert alarms.missed_in_row == 1


def test_same_slot_counts_once(alarms: AlarmSet) -> None:
    """Reporting one missed slot twice does not escalate."""
    alarms.missed_pulse("s1")
    alarms.missed_pulse("s1")
    assert alarms.get("missed-pulse").priority is Priority.MEDIUM


def test_raise_never_lowers_priority(alarms: AlarmSet, events: list[AlarmEvent]) -> None:
    """Refreshing an escalated alarm at its catalogue priority keeps it high and counts it."""
    alarms.raise_alarm(AlarmKind.LINK_FAULT, priority=Priority.HIGH)
    refreshed = alarms.raise_alarm(AlarmKind.LINK_FAULT, "again")
    assert refreshed.priority is Priority.HIGH
    assert refreshed.count == 2
    assert events[-1].transition is Transition.REPEATED


def test_acknowledged_alarm_cannot_be_silenced_or_reacknowledged(alarms: AlarmSet) -> None:
    """Silencing or re-acknowledging an acknowledged alarm is refused with a clear error."""
    alarms.raise_alarm(AlarmKind.CLOCK_SUSPECT)
    alarms.acknowledge("clock-suspect", reason="ntp fixed", who="ops")
    with pytest.raises(AlarmError, match="nothing to silence"):
        alarms.silence("clock-suspect", who="ops")
    with pytest.raises(AlarmError, match="already acknowledged by ops"):
        alarms.acknowledge("clock-suspect", reason="again", who="ops")


def test_restore_reinstates_latched_alarms_silently(
    clock: VirtualClock, events: list[AlarmEvent]
) -> None:
    """SR-22: alarms rebuilt from the journal after a restart are active again, without events."""
    before = AlarmSet(clock)
    before.raise_alarm(AlarmKind.UNINTENDED_FLOW)
    after = AlarmSet(clock, listeners=[events.append])
    after.restore(before.active(), missed_in_row=1)
    assert after.high_active
    assert after.missed_pulse("s9").priority is Priority.HIGH
    assert [e.transition for e in events] == [Transition.RAISED]


def test_to_dict_is_json_ready(alarms: AlarmSet, clock: VirtualClock) -> None:
    """An alarm's dict carries id, priority, UTC ISO times, silence state and guidance."""
    alarm: Alarm = alarms.raise_alarm(AlarmKind.RESERVOIR_EMPTY, "0 ul")
    data = alarm.to_dict(clock.now())
    assert data["id"] == "reservoir-empty"
    assert data["priority"] == "high"
    assert data["raised_at"].endswith("+00:00")
    assert data["silenced"] is False
    assert data["action"] == CATALOGUE[AlarmKind.RESERVOIR_EMPTY].action


def test_operating_guide_lists_every_alarm_with_its_priority() -> None:
    """docs/operating.md has a row for each alarm kind with the catalogue's priority and texts."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operating.md").read_text()
    for kind, spec in CATALOGUE.items():
        lifetime = "condition" if spec.condition else "event"
        row = f"| `{kind}` | {spec.priority} | {lifetime} | {spec.meaning} | {spec.action} |"
        assert row in guide, f"docs/operating.md is out of date for {kind}"
