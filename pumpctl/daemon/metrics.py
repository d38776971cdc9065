"""Prometheus metrics in node-exporter's textfile form, from the daemon's status snapshot.

The daemon writes ``pumpctl-NAME.prom`` into ``[metrics] textfile_dir`` at most every
``interval_s``; node-exporter's textfile collector serves it. No port is opened, so this works
inside the unit's ``PrivateNetwork=yes``. The file is written beside its name and renamed into
place (``prometheus_client.write_to_textfile``), so a scrape never sees half a file. Every
series carries a ``pump`` label, so several daemons on one host stay apart.

Pure apart from the write: :func:`registry_for` builds the metrics from a snapshot and the
current time, and the tests parse its output back with ``prometheus_client.parser``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

#: Pulse outcomes always exported (zero until seen), so a rate() never starts from nothing.
OUTCOMES = ("DELIVERED", "PARTIAL", "OVER_DELIVERED", "NOT_DELIVERED", "UNCERTAIN", "MISSED")
PRIORITIES = ("high", "medium", "low")
STATES = ("starting", "ready", "delivering", "blocked", "suspended")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def textfile_path(folder: Path, name: str) -> Path:
    """``pumpctl.prom``, or ``pumpctl-NAME.prom`` for a named pump (template instances)."""
    safe = _SAFE_NAME.sub("_", name).strip("_.")
    return folder / (f"pumpctl-{safe}.prom" if safe else "pumpctl.prom")


def _timestamp(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def registry_for(snapshot: Mapping[str, Any], pump: str, now: datetime) -> CollectorRegistry:
    """The metrics of one daemon's status snapshot (``Daemon.snapshot()``) at ``now``."""
    registry = CollectorRegistry()
    labels = {"pump": pump}

    def gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, ["pump", *extra], registry=registry)

    pulses = gauge(
        "pumpctl_pulses",
        "Slots by outcome since the daemon started (a counter that restarts with it)",
        ("outcome",),
    )
    counts = snapshot.get("counts") or {}
    for outcome in sorted(set(OUTCOMES) | set(counts)):
        pulses.labels(outcome=outcome, **labels).set(float(counts.get(outcome, 0)))

    active = gauge("pumpctl_alarms_active", "Active alarms by priority", ("priority",))
    unacked = gauge(
        "pumpctl_alarms_unacknowledged", "Unacknowledged alarms by priority", ("priority",)
    )
    alarms = snapshot.get("alarms") or []
    for priority in PRIORITIES:
        mine = [a for a in alarms if a.get("priority") == priority]
        active.labels(priority=priority, **labels).set(len(mine))
        unacked.labels(priority=priority, **labels).set(
            sum(not a.get("acknowledged") for a in mine)
        )

    reservoir = snapshot.get("reservoir_ul")
    if reservoir is not None:
        gauge("pumpctl_reservoir_microlitres", "Volume left in the syringe (uL)").labels(
            **labels
        ).set(float(reservoir))

    last = _timestamp(snapshot.get("last_delivered_utc"))
    if last is not None:
        gauge(
            "pumpctl_last_delivered_pulse_timestamp_seconds",
            "When the last pulse that delivered fluid started (Unix time)",
        ).labels(**labels).set(last)
        gauge(
            "pumpctl_seconds_since_last_delivered_pulse",
            "Seconds since the last pulse that delivered fluid started",
        ).labels(**labels).set(max(0.0, now.timestamp() - last))

    nxt = snapshot.get("next_slot") or {}
    nxt_ts = _timestamp(nxt.get("scheduled_utc")) if isinstance(nxt, Mapping) else None
    if nxt_ts is not None:
        gauge(
            "pumpctl_next_slot_timestamp_seconds", "When the next slot is due (Unix time)"
        ).labels(**labels).set(nxt_ts)

    head = snapshot.get("journal_head") or {}
    gauge("pumpctl_journal_head_seq", "Sequence number of the journal's last record").labels(
        **labels
    ).set(float(head.get("seq", 0)) if isinstance(head, Mapping) else 0.0)

    gauge("pumpctl_pump_link_up", "1 when the pump answers and passed its self-test").labels(
        **labels
    ).set(1.0 if snapshot.get("pump_ready") else 0.0)
    state = gauge("pumpctl_state", "1 for the daemon's current state", ("state",))
    current = str(snapshot.get("state", "starting"))
    for name in sorted(set(STATES) | {current}):
        state.labels(state=name, **labels).set(1.0 if name == current else 0.0)

    notify = snapshot.get("notify")
    if isinstance(notify, Mapping):
        sent = gauge(
            "pumpctl_notifications", "Notification attempts since start by outcome", ("outcome",)
        )
        sent.labels(outcome="sent", **labels).set(float(notify.get("sent", 0)))
        sent.labels(outcome="failed", **labels).set(float(notify.get("failed", 0)))
        gauge("pumpctl_notifications_pending", "Notifications queued or running").labels(
            **labels
        ).set(float(notify.get("pending", 0)))

    gauge("pumpctl_metrics_timestamp_seconds", "When this file was written (Unix time)").labels(
        **labels
    ).set(now.timestamp())
    return registry


class TextfileWriter:
    """The snapshot's metrics in one file, written at most once per ``interval_s`` (elapsed)."""

    def __init__(self, folder: Path, pump: str, interval_s: float) -> None:
        self.path = textfile_path(folder, pump)
        self.pump = pump or "pumpctl"
        self.interval_s = interval_s
        self._last_elapsed: float | None = None

    def due(self, elapsed_s: float) -> bool:
        return self._last_elapsed is None or elapsed_s - self._last_elapsed >= self.interval_s

    def write(self, snapshot: Mapping[str, Any], now: datetime, elapsed_s: float) -> None:
        """Write now (atomically); raises ``OSError`` when the folder cannot be written."""
        self._last_elapsed = elapsed_s
        write_to_textfile(str(self.path), registry_for(snapshot, self.pump, now))
