"""The delivery loop's side of alarm notifications: what to send, and what came of it.

:class:`AlarmNotifications` listens to the alarm set and hands each raise, escalation,
acknowledgement and clearing to the :class:`~pumpctl.daemon.notifier.Notifier` (which never
blocks). :meth:`AlarmNotifications.settle`, called by the loop once per tick, journals every
attempt (``notify.attempt``) and raises ``notify-failed`` when a notification could not be
sent; a later notification that gets through clears that alarm's cause.

After a restart, :func:`unsent_alarms` finds alarms the journal shows raised and not yet
acknowledged or cleared, whose notification never got through (the daemon stopped first):
they are sent again, once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from pumpctl.daemon.alarm_catalogue import CATALOGUE, AlarmKind
from pumpctl.daemon.alarms import AlarmEvent, AlarmSet, Transition
from pumpctl.daemon.notifier import Attempt, Notification, Notifier
from pumpctl.errors import PumpctlError

if TYPE_CHECKING:
    from pumpctl.journal import Journal
    from pumpctl.journal.query import EventRow

_log = structlog.get_logger("pumpctl.notify")

_EVENTS = {
    Transition.RAISED: "raised",
    Transition.ESCALATED: "escalated",
    Transition.ACKNOWLEDGED: "acknowledged",
    Transition.CLEARED: "cleared",
}
_SLOT = re.compile(r"\bS\d{8}T\d{6}Z\b")


def slot_in(text: str) -> str | None:
    """The first slot id a detail text names (``slot S20260105T080000Z: ...``), if any."""
    match = _SLOT.search(text)
    return match.group(0) if match else None


def alarm_text(kind: str, detail: str) -> str:
    """The detail, then what the alarm means and what to do, from the catalogue."""
    try:
        spec = CATALOGUE[AlarmKind(kind)]
    except ValueError:
        return detail
    return f"{detail}\n\nMeaning: {spec.meaning}\nWhat to do: {spec.action}".strip()


class AlarmNotifications:
    """An alarm-set listener feeding the notifier, and the loop's journaling of its results."""

    def __init__(
        self, notifier: Notifier, *, pump: str = "", subject: str = "", timezone: str = ""
    ) -> None:
        self.notifier = notifier
        self.pump = pump
        self.subject = subject
        self.timezone = timezone
        self.sent = 0
        self.failed = 0

    def notification(
        self,
        event: str,
        *,
        alarm_id: str,
        kind: str,
        priority: str,
        detail: str,
        at: datetime,
        who: str | None = None,
        count: int = 1,
        key: str = "",
    ) -> Notification:
        return Notification(
            notification_id=f"{alarm_id}/{event}/{key or at.isoformat()}",
            event=event,
            alarm_id=alarm_id,
            kind=kind,
            priority=priority,
            text=alarm_text(kind, detail),
            at=at,
            pump=self.pump,
            subject=self.subject,
            slot=slot_in(detail),
            who=who,
            count=count,
            timezone=self.timezone,
        )

    def __call__(self, event: AlarmEvent) -> None:
        name = _EVENTS.get(event.transition)
        if name is None:
            return
        alarm = event.alarm
        self.notifier.submit(
            self.notification(
                name,
                alarm_id=alarm.alarm_id,
                kind=str(alarm.kind),
                priority=str(alarm.priority),
                detail=alarm.detail,
                at=event.at,
                who=event.who,
                count=alarm.count,
            )
        )

    def settle(self, journal: Journal, alarms: AlarmSet) -> list[Attempt]:
        """Journal every finished attempt; alarm on a final failure (loop thread only)."""
        results = self.notifier.drain()
        for result in results:
            n = result.notification
            try:
                journal.record_notify_attempt(
                    n.notification_id,
                    alarm_id=n.alarm_id,
                    event=n.event,
                    command=result.command,
                    attempt=result.attempt,
                    outcome=result.outcome,
                    final=result.final,
                    duration_s=result.duration_s,
                    exit_code=result.exit_code,
                    error=result.error,
                )
            except PumpctlError as err:
                _log.error("journal.write_failed", error=str(err), notification=n.notification_id)
            if result.outcome == "sent":
                self.sent += 1
                alarms.clear_cause(AlarmKind.NOTIFY_FAILED)
            elif result.final:
                self.failed += 1
                if n.alarm_id != AlarmKind.NOTIFY_FAILED.value or n.event != "raised":
                    alarms.raise_alarm(
                        AlarmKind.NOTIFY_FAILED,
                        f"{n.alarm_id} {n.event} via {result.command}: {result.outcome}"
                        + (f" ({result.error})" if result.error else ""),
                    )
        return results

    def resend_unsent(self, journal: Journal) -> int:
        """Send again, once, what a stopped daemon left unsent; returns how many."""
        count = 0
        for row in unsent_alarms(journal.events(kinds=_RESEND_KINDS)):
            payload = row.payload
            count += self.notifier.submit(
                self.notification(
                    "raised",
                    alarm_id=str(payload.get("alarm_id")),
                    kind=str(payload.get("code")),
                    priority=str(payload.get("priority")),
                    detail=str(payload.get("message") or ""),
                    at=row.wall,
                    key=f"seq{row.seq}",
                )
            )
        return count


_RESEND_KINDS = ("alarm.raised", "alarm.acknowledged", "alarm.cleared", "notify.attempt")


def unsent_alarms(rows: Iterable[EventRow]) -> list[EventRow]:
    """Latest ``alarm.raised`` per alarm not acknowledged, cleared or notified since."""
    open_raise: dict[str, EventRow] = {}
    for row in rows:
        alarm_id = str(row.payload.get("alarm_id"))
        if row.kind == "alarm.raised":
            open_raise[alarm_id] = row
        elif _settles(row):
            open_raise.pop(alarm_id, None)
    return sorted(open_raise.values(), key=lambda row: row.seq)


def _settles(row: EventRow) -> bool:
    """An acknowledgement, a clearing, or a raise notification that got through."""
    if row.kind in ("alarm.acknowledged", "alarm.cleared"):
        return True
    return row.kind == "notify.attempt" and _got_through(row.payload)


def _got_through(payload: Mapping[str, Any]) -> bool:
    return payload.get("outcome") == "sent" and payload.get("event") in ("raised", "escalated")
