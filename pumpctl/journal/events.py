"""The journal's event kinds and one typed helper per kind over the generic ``append``.

Every helper turns domain values into a JSON payload (decimals as exact strings, times as UTC
ISO 8601) and appends it; the payload fields of each kind are documented in ``docs/journal.md``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from pumpctl.core.alarm_kinds import AlarmKind, Priority
from pumpctl.core.model import Decision, Outcome, Reason, Slot
from pumpctl.journal.signing import key_payload


class EventKind(StrEnum):
    """Every kind of record the daemon writes."""

    DAEMON_START = "daemon.start"
    DAEMON_STOP = "daemon.stop"
    PRESCRIPTION_CHANGE = "prescription.change"
    LIMITS_CHANGE = "limits.change"
    SLOT_SCHEDULED = "slot.scheduled"
    GATE_DECISION = "gate.decision"
    TOTALS_CLEARING = "totals.clearing"
    PULSE_ARMED = "pulse.armed"
    PULSE_DISARMED = "pulse.disarmed"
    PULSE_INTENT = "pulse.intent"
    PULSE_RUN = "pulse.run"
    PULSE_STARTED = "pulse.started"
    PULSE_OUTCOME = "pulse.outcome"
    SLOT_MISSED = "slot.missed"
    PULSE_RECONCILED = "pulse.reconciled"
    FLOW_UNEXPLAINED = "flow.unexplained"
    ALARM_RAISED = "alarm.raised"
    ALARM_ACKNOWLEDGED = "alarm.acknowledged"
    ALARM_SILENCED = "alarm.silenced"
    ALARM_CLEARED = "alarm.cleared"
    DELIVERY_SUSPENDED = "delivery.suspended"
    DELIVERY_RESUMED = "delivery.resumed"
    RESERVOIR_CHANGED = "reservoir.changed"
    OPERATOR_ACTION = "operator.action"
    CORRECTION = "journal.correction"
    REPAIRED = "journal.repaired"
    NOTIFY_ATTEMPT = "notify.attempt"
    KEY_ENROLLED = "key.enrolled"
    KEY_ROTATED = "key.rotated"


class Appended(NamedTuple):
    """Where a record landed: its sequence number and chain hash."""

    seq: int
    hash: str


def utc_text(when: datetime) -> str:
    """A timezone-aware time as the journal writes it: UTC, microseconds, ``+00:00``."""
    if when.tzinfo is None:
        raise ValueError(f"time {when.isoformat()} is naive: allowed timezone-aware times only")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _opt_time(when: datetime | None) -> str | None:
    return None if when is None else utc_text(when)


def _opt_dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _require(field: str, value: str) -> str:
    if not value.strip():
        raise ValueError(f"{field} = {value!r}: allowed a non-empty text")
    return value


class EventRecorder(ABC):
    """Typed helpers for each event kind; subclasses provide the durable ``append``."""

    @abstractmethod
    def append(self, kind: EventKind | str, payload: Mapping[str, Any]) -> Appended:
        """Durably append one record; returns only after it is on disk."""

    def append_many(
        self,
        records: Sequence[tuple[EventKind | str, Mapping[str, Any]]],
        *,
        publish: bool = True,
    ) -> list[Appended]:
        """Durably append several records; a store that can commits them at once and, with
        ``publish=False``, publishes its head only at :meth:`publish_head`."""
        return [self.append(kind, payload) for kind, payload in records]

    def publish_head(self) -> None:  # noqa: B027 - nothing held back by the default above
        """Publish a head held back by ``append_many(..., publish=False)`` (if any)."""

    def checkpoint(self) -> None:  # noqa: B027 - a store without a write-ahead log has none
        """Fold the write-ahead log into the database now, while nothing waits on it.

        Called once a bolus is armed, ahead of its slot, so that the store's own automatic
        checkpoint does not fall into the intent's commit between the slot and RUN. Best effort:
        a checkpoint that cannot run now changes nothing that was committed.
        """

    def record_daemon_start(
        self,
        version: str,
        config_digest: str,
        *,
        config_path: str | None = None,
        identity: Mapping[str, Any] | None = None,
    ) -> Appended:
        """``identity`` adds what a report's header shows: ``subject``, ``pump``,
        ``prescription`` and ``limits`` as JSON-ready mappings (none of them decides anything)."""
        payload: dict[str, Any] = {
            "version": version,
            "config_digest": config_digest,
            "config_path": config_path,
        }
        for key, value in (identity or {}).items():
            if key in payload:
                raise ValueError(f"identity key {key!r}: allowed keys other than {sorted(payload)}")
            payload[key] = value
        return self.append(EventKind.DAEMON_START, payload)

    def record_daemon_stop(self, reason: str) -> Appended:
        return self.append(EventKind.DAEMON_STOP, {"reason": reason})

    def record_prescription_change(
        self, who: str, old: Mapping[str, Any] | None, new: Mapping[str, Any], why: str
    ) -> Appended:
        """SR-21: who changed the prescription, from what to what, and why."""
        return self.append(
            EventKind.PRESCRIPTION_CHANGE,
            {"who": _require("who", who), "old": old, "new": new, "why": _require("why", why)},
        )

    def record_limits_change(
        self, who: str, old: Mapping[str, Any] | None, new: Mapping[str, Any], why: str
    ) -> Appended:
        """SR-21: who changed the safety limits, from what to what, and why."""
        return self.append(
            EventKind.LIMITS_CHANGE,
            {"who": _require("who", who), "old": old, "new": new, "why": _require("why", why)},
        )

    def record_slot_scheduled(self, slot: Slot) -> Appended:
        return self.append(EventKind.SLOT_SCHEDULED, _slot_payload(slot))

    def record_gate_decision(self, slot_id: str, decision: Decision) -> Appended:
        return self.append(EventKind.GATE_DECISION, _decision_payload(slot_id, decision))

    def record_pulse_start(
        self,
        slot: Slot,
        *,
        pump_settings: Mapping[str, Any],
        decision: Decision | None = None,
    ) -> Appended:
        """The gate's allow (when not yet on record), the intent (SR-08) and the RUN record of
        an armed pulse, in one commit: RUN follows at once, so nothing else can come between
        them, and the slot's path costs one fsync instead of three. The caller publishes the
        head (:meth:`publish_head`) once RUN is out."""
        intent = _slot_payload(slot)
        intent["pump_settings"] = dict(pump_settings)
        records: list[tuple[EventKind | str, Mapping[str, Any]]] = []
        if decision is not None:
            records.append((EventKind.GATE_DECISION, _decision_payload(slot.slot_id, decision)))
        records.append((EventKind.PULSE_INTENT, intent))
        records.append((EventKind.PULSE_RUN, {"slot_id": _require("slot_id", slot.slot_id)}))
        # The head file follows right after RUN (publish_head): durable is the commit itself.
        return self.append_many(records, publish=False)[-1]

    def record_totals_clearing(self, slot_id: str, totals_ul: Decimal) -> Appended:
        """SR-26: the pump's totals read ``totals_ul`` (as expected) and are about to be cleared
        for ``slot_id``'s bolus. On disk before the clear, so a daemon killed between the clear
        and ``pulse.armed`` leaves zero totals its successor can account for: either reading
        (``totals_ul`` or zero) is then explained, and nothing else is. Moves no fluid."""
        return self.append(
            EventKind.TOTALS_CLEARING,
            {"slot_id": _require("slot_id", slot_id), "totals_ul": str(totals_ul)},
        )

    def record_armed(self, slot: Slot, *, read_back: Mapping[str, Any]) -> Appended:
        """The bolus for ``slot`` is programmed and read back (SR-27) ahead of its slot.

        Moves no fluid and counts as nothing: no delivery, no start, no attempt. Only an intent
        makes a pulse count; an armed slot without one was never started.
        """
        payload = _slot_payload(slot)
        payload["read_back"] = dict(read_back)
        appended = self.append(EventKind.PULSE_ARMED, payload)
        self.checkpoint()  # the slot's intent commits into a short log (pulse onset, #13)
        return appended

    def record_disarmed(self, slot_id: str, why: str, *, armed_utc: datetime | None) -> Appended:
        """The armed bolus for ``slot_id`` will not be started: something changed since arming.

        The slot is then missed (never re-armed, never caught up); nothing moved for it.
        """
        return self.append(
            EventKind.PULSE_DISARMED,
            {
                "slot_id": _require("slot_id", slot_id),
                "why": _require("why", why),
                "armed_utc": _opt_time(armed_utc),
            },
        )

    def record_intent(
        self, slot: Slot, *, pump_settings: Mapping[str, Any] | None = None
    ) -> Appended:
        """SR-08: the pulse counts as delivered from the moment this returns."""
        payload = _slot_payload(slot)
        payload["pump_settings"] = dict(pump_settings or {})
        return self.append(EventKind.PULSE_INTENT, payload)

    def record_run(self, slot_id: str) -> Appended:
        """RUN is about to be sent for ``slot_id`` (after its intent and programming).

        Reconciliation needs it: zero totals prove nothing moved only if RUN was never sent;
        after a RUN, zero totals may be totals a power cycle cleared, so the pulse stays UNCERTAIN.
        """
        return self.append(EventKind.PULSE_RUN, {"slot_id": _require("slot_id", slot_id)})

    def record_started(self, slot_id: str) -> Appended:
        """The pump answered RUN for ``slot_id``: it answers only once the plunger is moving.

        The record's own time is the latest the pulse can have started; the safety gate measures
        the next pulse's interval from it (SR-02, docs/design.md).
        """
        return self.append(EventKind.PULSE_STARTED, {"slot_id": _require("slot_id", slot_id)})

    def record_outcome(
        self,
        slot_id: str,
        outcome: Outcome,
        *,
        delivered_volume_ul: Decimal | None,
        started: datetime | None = None,
        ended: datetime | None = None,
        detail: str = "",
        totals_trusted: bool = True,
    ) -> Appended:
        """``totals_trusted`` False: the pump's totals prove nothing for this pulse (a power
        reset after RUN); reconciliation must then wait for an operator (SR-09)."""
        payload: dict[str, Any] = {
            "slot_id": slot_id,
            "outcome": Outcome(outcome).value,
            "delivered_volume_ul": _opt_dec(delivered_volume_ul),
            "started_utc": _opt_time(started),
            "ended_utc": _opt_time(ended),
            "detail": detail,
        }
        if not totals_trusted:
            payload["totals_trusted"] = False
        return self.append(EventKind.PULSE_OUTCOME, payload)

    def record_unexplained_flow(
        self,
        *,
        volume_ul: Decimal | None,
        dose_ug: Decimal | None,
        totals_ul: Decimal,
        expected_ul: Decimal | None,
        since: datetime | None,
        moving: bool,
        where: str,
        pump_reset: bool = False,
    ) -> Appended:
        """SR-26: the pump's totals show volume no pulse commanded (``volume_ul``; ``None``
        when they fell instead: cleared outside pumpctl, or by a power reset the pump reported,
        ``pump_reset``). ``since`` is when they last read as expected; the record's own time is
        when the flow was found, which is where every limit places it (the latest moment it
        can have happened)."""
        payload: dict[str, Any] = {
            "volume_ul": _opt_dec(volume_ul),
            "dose_ug": _opt_dec(dose_ug),
            "totals_ul": str(totals_ul),
            "expected_ul": _opt_dec(expected_ul),
            "since_utc": _opt_time(since),
            "moving": moving,
            "where": _require("where", where),
        }
        if pump_reset:
            payload["pump_reset"] = True
        return self.append(EventKind.FLOW_UNEXPLAINED, payload)

    def record_missed(
        self,
        slot_id: str,
        scheduled: datetime,
        *,
        reasons: Sequence[Reason] = (),
        detail: str = "",
    ) -> Appended:
        """SR-10: a slot that could not start within its grace window; never delivered late."""
        return self.append(
            EventKind.SLOT_MISSED,
            {
                "slot_id": slot_id,
                "scheduled_utc": utc_text(scheduled),
                "reasons": [Reason(r).value for r in reasons],
                "detail": detail,
            },
        )

    def record_alarm(
        self,
        alarm_id: str,
        code: AlarmKind | str,
        priority: Priority | str,
        message: str,
        *,
        slot_id: str | None = None,
        missed_in_row: int | None = None,
    ) -> Appended:
        """``slot_id`` and ``missed_in_row``: the missed slot and how many in a row (SR-22);
        a restarted daemon continues the count from them (SR-30)."""
        payload: dict[str, Any] = {
            "alarm_id": alarm_id,
            "code": str(code),
            "priority": Priority(priority).value,
            "message": message,
            "slot_id": slot_id,
        }
        if missed_in_row is not None:
            payload["missed_in_row"] = missed_in_row
        return self.append(EventKind.ALARM_RAISED, payload)

    def record_alarm_acknowledged(self, alarm_id: str, who: str, *, note: str = "") -> Appended:
        return self.append(
            EventKind.ALARM_ACKNOWLEDGED,
            {"alarm_id": alarm_id, "who": _require("who", who), "note": note},
        )

    def record_alarm_silenced(self, alarm_id: str, who: str, until: datetime) -> Appended:
        return self.append(
            EventKind.ALARM_SILENCED,
            {"alarm_id": alarm_id, "who": _require("who", who), "until_utc": utc_text(until)},
        )

    def record_alarm_cleared(self, alarm_id: str, *, why: str = "") -> Appended:
        return self.append(EventKind.ALARM_CLEARED, {"alarm_id": alarm_id, "why": why})

    def record_suspend(self, who: str, reason: str, *, cause: str = "operator") -> Appended:
        """``cause``: ``operator``, or the alarm id whose acknowledgement ends it (SR-06)."""
        return self.append(
            EventKind.DELIVERY_SUSPENDED,
            {"who": _require("who", who), "reason": reason, "cause": _require("cause", cause)},
        )

    def record_resume(self, who: str, reason: str, *, cause: str = "operator") -> Appended:
        """``cause``: the suspension this ends, as in :meth:`record_suspend`."""
        return self.append(
            EventKind.DELIVERY_RESUMED,
            {"who": _require("who", who), "reason": reason, "cause": _require("cause", cause)},
        )

    def record_reservoir_change(self, volume_ul: Decimal, who: str, reason: str) -> Appended:
        return self.append(
            EventKind.RESERVOIR_CHANGED,
            {"volume_ul": str(volume_ul), "who": _require("who", who), "reason": reason},
        )

    def record_operator_action(
        self, peer: Mapping[str, Any], action: str, arguments: Mapping[str, Any] | None = None
    ) -> Appended:
        """SR-23: what an operator asked over the control socket, with the peer's identity."""
        return self.append(
            EventKind.OPERATOR_ACTION,
            {"peer": dict(peer), "action": _require("action", action), "arguments": arguments},
        )

    def record_notify_attempt(
        self,
        notification_id: str,
        *,
        alarm_id: str,
        event: str,
        command: str,
        attempt: int,
        outcome: str,
        final: bool,
        duration_s: float = 0.0,
        exit_code: int | None = None,
        error: str = "",
    ) -> Appended:
        """One try to tell a person about an alarm: which command, and whether it got through."""
        return self.append(
            EventKind.NOTIFY_ATTEMPT,
            {
                "notification_id": _require("notification_id", notification_id),
                "alarm_id": alarm_id,
                "event": event,
                "command": command,
                "attempt": attempt,
                "outcome": outcome,
                "final": final,
                "duration_s": duration_s,
                "exit_code": exit_code,
                "error": error,
            },
        )

    def record_correction(
        self, refers_to_seq: int, who: str, why: str, correction: Mapping[str, Any]
    ) -> Appended:
        """A correction never changes a record: it is a new one that names the old one."""
        if refers_to_seq < 1:
            raise ValueError(f"refers_to_seq = {refers_to_seq}: allowed a sequence number >= 1")
        return self.append(
            EventKind.CORRECTION,
            {
                "refers_to_seq": refers_to_seq,
                "who": _require("who", who),
                "why": _require("why", why),
                "correction": dict(correction),
            },
        )

    def record_repair(
        self, who: str, reason: str, found: Sequence[str], actions: Sequence[str]
    ) -> Appended:
        """``pumpctl log repair`` put back what the chain does not cover, from the chain: what it
        found, what it did, who and why."""
        return self.append(
            EventKind.REPAIRED,
            {
                "who": _require("who", who),
                "reason": _require("reason", reason),
                "found": list(found),
                "actions": list(actions),
            },
        )

    def record_key_enrolled(
        self,
        journal_id: str,
        public_key: bytes,
        *,
        previous_key_id: str | None = None,
        reason: str = "",
    ) -> Appended:
        """A key signs this journal's heads from this record on; nobody vouches for it when it
        replaces ``previous_key_id`` (the old key was lost)."""
        return self.append(
            EventKind.KEY_ENROLLED,
            key_payload(journal_id, public_key, previous_key_id=previous_key_id, reason=reason),
        )

    def record_key_rotated(
        self,
        journal_id: str,
        public_key: bytes,
        *,
        previous_key_id: str,
        rotation_signature: bytes,
        reason: str,
    ) -> Appended:
        """A new key takes over from this record on; the outgoing key signed it."""
        return self.append(
            EventKind.KEY_ROTATED,
            key_payload(
                journal_id,
                public_key,
                previous_key_id=previous_key_id,
                rotation_signature=rotation_signature,
                reason=_require("reason", reason),
            ),
        )


def _slot_payload(slot: Slot) -> dict[str, Any]:
    return {
        "slot_id": slot.slot_id,
        "scheduled_utc": utc_text(slot.scheduled),
        "interval_min": slot.interval_min,
        "dose_ug": str(slot.dose_ug),
        "volume_ul": str(slot.volume_ul),
        "rate_ul_per_min": str(slot.rate_ul_per_min),
        "duration_s": str(slot.duration_s),
    }


def _decision_payload(slot_id: str, decision: Decision) -> dict[str, Any]:
    return {
        "slot_id": slot_id,
        "allowed": decision.allowed,
        "reasons": [Reason(r).value for r in decision.reasons],
        "details": list(decision.details),
        "predicted_level_fraction": decision.predicted_level_fraction,
    }
