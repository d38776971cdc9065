"""The status snapshot the control socket serves, and the one-line status systemd shows.

Every field is typed for scripts and metrics: times are ISO 8601 in UTC (``*_utc``), volumes
are numbers of microlitres (``*_ul``), the next slot, the journal head and the last pulse are
objects, and ``null`` means unknown.

The delivery loop rebuilds the snapshot after every tick and every operator action; the control
thread only reads it, under a lock, so ``status`` never waits for the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pumpctl.core.clock import Clock
from pumpctl.core.model import Slot
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
    ) -> None:
        self._therapy = therapy
        self._journal = journal
        self._clock = clock
        self._state = state
        self._annunciator = annunciator
        self._reservoir = reservoir
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
        state = "ready" if self._state.pump_ready else "pump-not-ready"
        safety_suspended = self._annunciator.safety_suspended
        if self._state.operator_suspended is not None or safety_suspended:
            state = "suspended"
        remaining = self._reservoir.remaining_ul
        alarms = self._annunciator.alarms
        snap: dict[str, Any] = {
            "state": state,
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

    def snapshot(self) -> dict[str, Any]:
        """The latest snapshot (safe from any thread)."""
        with self._lock:
            return dict(self._snapshot)


def _utc(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()
