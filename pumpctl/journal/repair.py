"""``pumpctl log repair``: put back what the chain does not cover, from the chain, on record.

Only findings that leave the hash chain itself intact are repaired (:data:`REPAIRABLE`): a
missing or unreadable head is published again at the verified chain's end, a changed schema
(dropped or altered triggers or indexes, an added object) is put back as pumpctl creates it, and
the derived pulse tables are rebuilt from the verified records. An edited, removed, inserted or
reordered record, a rewritten chain or a damaged file is never "repaired": that journal is
evidence. Every repair is itself journaled (``journal.repaired``), with who, why and what was
found, so the journal keeps the story.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from pumpctl.core.clock import SystemClock
from pumpctl.errors import JournalError, JournalTamperedError
from pumpctl.journal import integrity, schema
from pumpctl.journal.chain import GENESIS_HASH, Head, head_path, write_head
from pumpctl.journal.integrity import REPAIRABLE, Diagnosis
from pumpctl.journal.store import Journal, connect
from pumpctl.journal.verify import verify
from pumpctl.statefiles import refuse_journal_links, refuse_link

#: More rounds than there are kinds of repairable finding: each round fixes one kind.
_MAX_ROUNDS = 6
_ORDER = {"table": 0, "index": 1, "trigger": 2}


def repair(path: Path, *, who: str, reason: str) -> list[str]:
    """Repair ``path``'s repairable findings and journal the repair; returns what was found.

    Raises :class:`JournalTamperedError` for a finding that may not be repaired, and
    :class:`JournalError` when the file cannot be read or written. The daemon must not be
    running (the caller holds the state lock).
    """
    if not reason.strip():
        raise JournalError("reason: a repair needs a non-empty reason")
    refuse_journal_links(path)
    refuse_link(head_path(path), "journal head")
    found: list[str] = []
    actions: list[str] = []
    for _ in range(_MAX_ROUNDS):
        result = verify(path)
        problem = result.problem
        if problem is None:
            break
        if problem.diagnosis not in REPAIRABLE:
            raise JournalTamperedError(problem.line(path))
        found.append(f"{problem.diagnosis.value}: {problem.message}")
        if problem.diagnosis is Diagnosis.HEAD_UNREADABLE:
            aside = _move_aside(head_path(path))
            actions.append(f"unreadable head kept as {aside.name}")
        elif problem.diagnosis is Diagnosis.HEAD_MISSING:
            head = result.head or Head(0, GENESIS_HASH)
            write_head(path, head)
            actions.append(f"head published again at {head}")
        else:
            _rebuild(path)
            actions.append("schema and derived pulse tables rebuilt from the verified records")
    else:  # pragma: no cover - every round fixes one kind of finding
        raise JournalError(f"journal {path}: repair did not converge")
    if not found:
        return []
    with Journal(path, SystemClock()) as journal:
        journal.record_repair(who, reason, found, actions)
    return found


def _move_aside(target: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = target.with_name(f"{target.name}.damaged-{stamp}")
    os.rename(target, aside)
    return aside


def _rebuild(path: Path) -> None:
    """Drop every schema object but the events table and create them again, then derive."""
    conn = connect(path, writable=True)
    try:
        expected = integrity.expected_schema()
        events_sql = {sql for kind, name, _, sql in expected if (kind, name) == ("table", "events")}
        found = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
        if not any((t, n) == ("table", "events") and s in events_sql for t, n, s in found):
            raise JournalTamperedError(
                f"journal {path}: schema-changed: the events table itself was altered; this "
                "journal cannot be repaired, keep it as evidence"
            )
        # The derived tables are dropped whole; their rows come back from the events.
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for kind, name, _ in sorted(found, key=lambda r: -_ORDER.get(str(r[0]), 3)):
                if (kind, name) != ("table", "events"):
                    with contextlib.suppress(sqlite3.OperationalError):  # gone with its table
                        conn.execute(f'DROP {kind} IF EXISTS "{name}"')
            for kind, name, _, sql in sorted(expected, key=lambda r: (_ORDER[r[0]], r[1])):
                if (kind, name) != ("table", "events"):
                    conn.execute(sql)
            schema.derive_all(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as err:
        raise JournalError(f"journal {path}: repair failed ({err})") from err
    finally:
        conn.close()
