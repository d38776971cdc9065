"""Which slots a configuration gives: one answer for plan, config check, simulate and the daemon.

A date-time anchor is the first slot. A time-of-day anchor (``anchor = "08:00"``) is placed when
the configuration is loaded, at the latest moment at or before then that the prescription's
clock showed that time; from there the cadence runs on, every interval after the last. It is
not re-anchored each day. Once a daemon has journaled the prescription it follows, the journal's
anchor stays in force for as long as the configured prescription is otherwise the same and its
time of day still matches. A restart, a reload and ``pumpctl plan`` then all see the slots the
daemon follows (SR-32).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime, time
from pathlib import Path
from typing import Any

from pumpctl.config import Config
from pumpctl.core.clock import Clock
from pumpctl.core.gate import history_since
from pumpctl.core.model import Prescription, PulseRecord
from pumpctl.core.planner import describe_anchor
from pumpctl.daemon.service import prescription_dict
from pumpctl.errors import JournalError
from pumpctl.journal import query, schema
from pumpctl.journal.store import connect


@dataclass(frozen=True)
class Cadence:
    """The prescription in force, its anchor resolved, and where that anchor came from."""

    prescription: Prescription
    #: The journal's anchor is in force (a daemon already follows this cadence).
    from_journal: bool
    #: The configured time of day, for a time-of-day anchor.
    time_of_day: time | None = None

    def describe(self) -> str:
        """One line saying when the slots are, truthfully: the anchor and what keeps it."""
        return describe_anchor(self.prescription, self.time_of_day, from_journal=self.from_journal)


def resolve(config: Config, journaled: Mapping[str, Any] | None) -> Cadence:
    """The cadence ``config`` gives, given the prescription last journaled (None: no journal).

    Invariant: the daemon at start and on reload, ``plan``, ``config check``, ``simulate`` and
    ``demo`` all place slots through this one function.
    """
    p = config.prescription
    tod = config.anchor_time_of_day
    configured = Cadence(p, from_journal=False, time_of_day=tod)
    if tod is None or not journaled or not journaled.get("anchor"):
        return configured
    if dict(journaled) != dict(prescription_dict(p), anchor=journaled["anchor"]):
        return configured
    anchor = datetime.fromisoformat(str(journaled["anchor"]))
    if anchor.astimezone(p.zone).time() != tod:
        return configured
    return Cadence(replace(p, anchor=anchor), from_journal=True, time_of_day=tod)


@dataclass(frozen=True)
class JournalView:
    """What a read-only look at a journal tells the planner: the cadence and the pulse history."""

    prescription: dict[str, Any] | None
    history: list[PulseRecord]
    boot_last_elapsed_s: dict[str, float]


def read_journal(path: Path, clock: Clock) -> JournalView | None:
    """The last journaled prescription and the gate's history now; None without a journal.

    The history is the one the daemon's gate would read at ``clock.now()`` (the pulses of this
    boot found by elapsed time too). Opens the journal read-only: nothing is written, no head is
    published. A journal from an older pumpctl is brought forward in a private in-memory copy.
    """
    if not path.exists():
        return None
    now = clock.now()
    since = history_since(now)
    boot_since = (clock.boot_id, clock.elapsed_s() - (now - since).total_seconds())
    try:
        with closing(_current_schema(connect(path, writable=False))) as conn:
            changes = list(query.iter_events(conn, kinds=("prescription.change",)))
            new = changes[-1].payload.get("new") if changes else None
            pending = sorted(query.pending_intent_seqs(conn))
            history = query.pulse_history(conn, since, pending, boot_since=boot_since)
            boots = query.last_elapsed_by_boot(conn)
    except (sqlite3.Error, ValueError) as err:
        raise JournalError(f"journal {path} cannot be read: {err}") from err
    return JournalView(dict(new) if isinstance(new, dict) else None, history, boots)


def _current_schema(conn: sqlite3.Connection) -> sqlite3.Connection:
    """``conn``, or an in-memory copy migrated forward when the file's schema is older."""
    if schema.schema_version(conn) >= schema.SCHEMA_VERSION:
        return conn
    copy = sqlite3.connect(":memory:", isolation_level=None)
    with closing(conn):
        conn.backup(copy)
    schema.migrate(copy)
    return copy
