"""The status snapshot the control socket serves, and the one-line status systemd shows.

Every field is typed for scripts and metrics: times are ISO 8601 in UTC (``*_utc``), volumes
are numbers of microlitres (``*_ul``), the next slot, the journal head and the last pulse are
objects, and ``null`` means unknown.

The state is truthful (SR-29): ``delivering`` while a pulse runs, ``suspended`` under an
operator's or a safety suspension, ``blocked`` when the gate would refuse the next slot whenever
it comes (a latched high alarm, the pump, the reservoir, an uncertain pulse, the clock, the
journal), ``ready`` only when none of these holds. ``blocked_by`` lists each reason with its
detail, from the gate's own findings (:func:`pumpctl.core.gate.standing_findings`).

The delivery loop rebuilds the snapshot after every tick and every operator action; the control
thread only reads it, under a lock, so ``status`` never waits for the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pumpctl.core.alarm_kinds import Priority
from pumpctl.core.clock import Clock
from pumpctl.core.gate import Finding
from pumpctl.core.model import Reason, Slot
from pumpctl.daemon import notify
from pumpctl.daemon.annunciator import Annunciator
from pumpctl.daemon.reservoir import Reservoir
from pumpctl.daemon.state import DeliveryState, Therapy, json_number
from pumpctl.journal import Journal


class StatusBoard:
    """Builds and holds the latest status snapshot."""

    def __init__(
        self,
        *,
        therapy: Therapy,
        journal: Journal,
        clock: Clock,
        state: DeliveryState,
        annunciator: Annunciator,
        reservoir: Reservoir,
        blockers: Callable[[Slot], list[Finding]],
    ) -> None:
        self._therapy = therapy
        self._journal = journal
        self._clock = clock
        self._state = state
        self._annunciator = annunciator
        self._reservoir = reservoir
        self._blockers = blockers
        self._snapshot: dict[str, Any] = {"state": "starting"}
        self._lock = threading.Lock()
        #: More fields, each from its own callable run on the loop thread (the notifier's
        #: queue, for one); an extra never replaces a field above.
        self.extras: list[Callable[[], dict[str, Any]]] = []

    def next_slot_text(self) -> str:
        return self._therapy.planner.next_after(self._clock.now()).scheduled.isoformat()

    def update(self, nxt: Slot | None = None) -> None:
        """Rebuild the snapshot (on the loop thread) and tell systemd the next pulse."""
        now = self._clock.now()
        nxt = nxt or self._therapy.planner.next_after(now)
        head = self._journal.head
        safety_suspended = self._annunciator.safety_suspended
        blocked_by = self._blocked_by(nxt)
        reasons = {item["reason"] for item in blocked_by}
        delivering = self._state.delivering
        if delivering is not None:
            state = "delivering"
        elif Reason.SUSPENDED.value in reasons or safety_suspended:
            state = "suspended"
        elif blocked_by:
            state = "blocked"
        else:
            state = "ready"
        remaining = self._reservoir.remaining_ul
        alarms = self._annunciator.alarms
        snap: dict[str, Any] = {
            "state": state,
            "blocked_by": blocked_by,
            "delivering": None if delivering is None else self._delivering(delivering),
            "pump_ready": self._state.pump_ready,
            "suspended_reason": self._state.operator_suspended
            or (", ".join(sorted(safety_suspended)) or None),
            "last_pulse": self._state.last_pulse,
            "last_delivered_utc": _utc(self._state.last_delivered),
            "next_slot": {"slot_id": nxt.slot_id, "scheduled_utc": nxt.scheduled.isoformat()},
            "reservoir_ul": json_number(remaining),
            "journal_head": None if head is None else {"seq": head.seq, "hash": head.hash},
            "now_utc": now.isoformat(),
            # The prescription's zone (IANA name): `pumpctl status` shows the UTC times above
            # in it, with their offset.
            "timezone": self._therapy.prescription.timezone,
            "counts": dict(self._state.counts),
            "alarms": [a.to_dict(now) for a in alarms.active()],
        }
        for extra in self.extras:
            for key, value in extra().items():
                snap.setdefault(key, value)
        with self._lock:
            self._snapshot = snap
        annunciating = alarms.annunciating()
        text = f"next pulse {nxt.scheduled:%Y-%m-%d %H:%M}Z"
        if annunciating:
            text += f"; ALARM {annunciating[0].alarm_id}"
        notify.status(text)

    def _blocked_by(self, nxt: Slot) -> list[dict[str, str]]:
        """Each standing reason the gate would deny the next slot for, with what to look at."""
        items = []
        for reason, found in self._blockers(nxt):
            detail = found
            if reason is Reason.ALARM_ACTIVE:
                detail = self._alarm_detail()
            elif reason is Reason.SUSPENDED and self._state.operator_suspended is not None:
                detail = f"suspended by an operator: {self._state.operator_suspended}"
            items.append({"reason": reason.value, "detail": detail})
        return items

    def _alarm_detail(self) -> str:
        alarms = self._annunciator.alarms
        latched = [a.alarm_id for a in alarms.unacknowledged() if a.priority is Priority.HIGH]
        suspensions = sorted(self._annunciator.safety_suspended)
        parts = []
        if latched:
            parts.append("unacknowledged high alarm " + ", ".join(latched))
        if suspensions:
            parts.append("safety suspension " + ", ".join(suspensions))
        return "; ".join(parts) + " (pumpctl alarms; pumpctl ack ID --reason ...)"

    def _delivering(self, slot: Slot) -> dict[str, Any]:
        return {
            "slot_id": slot.slot_id,
            "scheduled_utc": slot.scheduled.isoformat(),
            "started_utc": _utc(self._state.delivering_started),
            "volume_ul": json_number(slot.volume_ul),
            "dose_ug": json_number(slot.dose_ug),
            "duration_s": json_number(slot.duration_s),
        }

    def snapshot(self) -> dict[str, Any]:
        """The latest snapshot (safe from any thread)."""
        with self._lock:
            return dict(self._snapshot)


def _utc(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()
