"""The operator log's view of alarms: each alarm once, with a count, never once per heartbeat.

A link fault raises ``link-fault`` again at every heartbeat; the alarm model counts those
repeats (SR-22) and this listener turns them into log lines an operator can read:

- raised: one ``alarm.raised`` line, at error for a high alarm, warning otherwise;
- repeated with the same detail: a debug ``alarm.repeated`` line only;
- repeated with a new detail, or escalated: ``alarm.raised`` again, with its count so far;
- cause gone, acknowledged, silenced or cleared: one line with the total count of repeats.

Every transition is still journaled in full by the daemon; this is only the log.
"""

from __future__ import annotations

import structlog

from pumpctl.core.alarm_kinds import Priority
from pumpctl.daemon.alarms import AlarmEvent, Transition

_log = structlog.get_logger("pumpctl.alarms")


class AlarmLog:
    """An :class:`~pumpctl.daemon.alarms.AlarmSet` listener that logs without repeating itself."""

    def __init__(self) -> None:
        self._last_detail: dict[str, str] = {}

    def __call__(self, event: AlarmEvent) -> None:
        alarm = event.alarm
        fields = {
            "alarm_id": alarm.alarm_id,
            "kind": str(alarm.kind),
            "priority": str(alarm.priority),
            "detail": alarm.detail,
            "count": alarm.count,
        }
        loud = _log.error if alarm.priority is Priority.HIGH else _log.warning
        transition = event.transition
        if transition is Transition.RAISED:
            self._last_detail[alarm.alarm_id] = alarm.detail
            loud("alarm.raised", **fields)
        elif transition is Transition.REPEATED:
            if self._last_detail.get(alarm.alarm_id) == alarm.detail:
                _log.debug("alarm.repeated", **fields)
            else:
                self._last_detail[alarm.alarm_id] = alarm.detail
                loud("alarm.raised", **fields, changed=True)
        elif transition is Transition.ESCALATED:
            self._last_detail[alarm.alarm_id] = alarm.detail
            loud("alarm.raised", **fields, escalated=True)
        elif transition is Transition.CLEARED:
            self._last_detail.pop(alarm.alarm_id, None)
            _log.info("alarm.cleared", **fields, who=event.who)
        else:
            name = {
                Transition.CAUSE_CLEARED: "alarm.cause_cleared",
                Transition.ACKNOWLEDGED: "alarm.acknowledged",
                Transition.SILENCED: "alarm.silenced",
            }[transition]
            _log.info(name, **fields, who=event.who, reason=event.reason)
