"""Which slots a configuration gives, seen from outside the daemon: plan and config check.

The anchor is decided by :func:`pumpctl.daemon.configuration.resolve`, the one function the
daemon uses at start and on reload too. This module reads a journal read-only, as a daemon
starting now would read it: the prescription it last journaled and the gate's pulse history.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pumpctl.core.clock import Clock
from pumpctl.core.gate import history_since
from pumpctl.core.model import PulseRecord
from pumpctl.daemon.configuration import Cadence, resolve
from pumpctl.errors import JournalError
from pumpctl.journal import query, schema
from pumpctl.journal.store import connect


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


__all__ = ["Cadence", "JournalView", "read_journal", "resolve"]
