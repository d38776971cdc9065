"""The alarm vocabulary shared by every layer: which alarms exist and how urgent each can be.

Defined once here so the daemon's alarm model, the journal, reports and tests spell an alarm the
same way; the meaning and guidance of each kind live in ``pumpctl.daemon.alarm_catalogue``.
"""

from __future__ import annotations

from enum import StrEnum

#: How long ``pumpctl silence`` mutes an alarm by default, and at most (minutes).
DEFAULT_SILENCE_MIN = 15
MAX_SILENCE_MIN = 60


class Priority(StrEnum):
    """Alarm priority (IEC 60601-1-8 in spirit); members are listed most urgent first."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for the most urgent; for sorting."""
        return _RANK[self]


_RANK = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}


class AlarmKind(StrEnum):
    """Every alarm the daemon can raise; the value is the alarm's id and its journal name."""

    PUMP_ALARM_RESET = "pump-alarm-reset"
    PUMP_ALARM_STALL = "pump-alarm-stall"
    PUMP_ALARM_TIMEOUT = "pump-alarm-timeout"
    PUMP_ALARM_PROGRAM = "pump-alarm-program"
    PUMP_ALARM_UNKNOWN = "pump-alarm-unknown"
    UNINTENDED_FLOW = "unintended-flow"
    OVER_DELIVERY = "over-delivery"
    PARTIAL_DELIVERY = "partial-delivery"
    MISSED_PULSE = "missed-pulse"
    RESERVOIR_LOW = "reservoir-low"
    RESERVOIR_EMPTY = "reservoir-empty"
    LINK_FAULT = "link-fault"
    UNCERTAIN_PULSE = "uncertain-pulse"
    CLOCK_SUSPECT = "clock-suspect"
    JOURNAL_UNAVAILABLE = "journal-unavailable"
    CONFIG_RELOAD_REJECTED = "config-reload-rejected"
    NOTIFY_FAILED = "notify-failed"
    UNEXPLAINED_FLOW = "unexplained-flow"
    SETTINGS_MISMATCH = "settings-mismatch"
    PULSE_UNSENDABLE = "pulse-unsendable"
    OVERSHOOT_UNBOUNDED = "overshoot-unbounded"
    PUMP_CONFIG_CHANGED = "pump-config-changed"
    PUMP_DEVICE_SHARED = "pump-device-shared"
