"""The operator log names each alarm once, with a count, however often its cause repeats."""

from __future__ import annotations

from structlog.testing import capture_logs

from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.alarm_log import AlarmLog
from pumpctl.daemon.alarms import AlarmKind, AlarmSet


def _loud(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in logs if line["log_level"] != "debug"]


def test_a_fault_repeated_at_every_heartbeat_is_logged_once() -> None:
    """A link fault raised 300 times with the same detail gives one warning line, then debug."""
    alarms = AlarmSet(VirtualClock(), [AlarmLog()])
    with capture_logs() as logs:
        for _ in range(300):
            alarms.raise_alarm(AlarmKind.LINK_FAULT, "no answer from the pump")
    loud = _loud(logs)
    assert [(line["event"], line["log_level"]) for line in loud] == [("alarm.raised", "warning")]
    assert sum(line["event"] == "alarm.repeated" for line in logs) == 299


def test_a_new_detail_and_the_end_are_logged_with_the_count() -> None:
    """A changed detail is logged again with its count, and so is the end of the cause."""
    clock = VirtualClock()
    alarms = AlarmSet(clock, [AlarmLog()])
    with capture_logs() as logs:
        for _ in range(5):
            alarms.raise_alarm(AlarmKind.LINK_FAULT, "timeout")
        alarms.raise_alarm(AlarmKind.LINK_FAULT, "port vanished")
        alarms.clear_cause(AlarmKind.LINK_FAULT)
    loud = _loud(logs)
    assert [line["event"] for line in loud] == [
        "alarm.raised",
        "alarm.raised",
        "alarm.cause_cleared",
    ]
    assert (loud[1]["count"], loud[1]["changed"], loud[1]["detail"]) == (6, True, "port vanished")
    assert loud[2]["count"] == 6


def test_high_alarms_are_errors_so_a_priority_filter_finds_them() -> None:
    """A high-priority alarm is logged at error, a low one at warning (journalctl -p warning)."""
    alarms = AlarmSet(VirtualClock(), [AlarmLog()])
    with capture_logs() as logs:
        alarms.raise_alarm(AlarmKind.PUMP_ALARM_STALL, "stalled")
        alarms.raise_alarm(AlarmKind.RESERVOIR_LOW, "80 uL left")
    assert [line["log_level"] for line in logs] == ["error", "warning"]
