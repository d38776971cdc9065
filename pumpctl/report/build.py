"""Build a :class:`Report` from a journal file: verify it, read it read-only, fold its records.

The journal is opened read-only and never changed; a tampered or damaged journal still gives a
report, whose integrity verdict says so. The fold itself is
:func:`pumpctl.report.assemble.report_from_events`, which other record sources call directly.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from pumpctl.errors import JournalError
from pumpctl.journal.events import utc_text
from pumpctl.journal.query import EventRow, iter_events
from pumpctl.journal.store import connect
from pumpctl.journal.verify import Row, verify
from pumpctl.report import stats
from pumpctl.report.assemble import CONTEXT_KINDS, READ_MARGIN, report_from_events
from pumpctl.report.model import Integrity, Report

#: Namespace of the journal URNs (uuid5 of the first record's hash): stable for a journal's life.
JOURNAL_NAMESPACE = uuid.UUID("6f1d0c52-4c8e-4a57-9b51-7f1b6d2c9a10")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a report is built and written.

    A report allocates hundreds of thousands of small acyclic objects (records, rows); the
    collector would rescan them again and again, which cost a ten-year report about 40 % of
    its time. Reference counting still frees everything; the collector resumes afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def journal_urn(first_record_hash: str) -> str:
    """The journal's stable name: ``urn:uuid:`` derived from its first record's chain hash.

    The first record is never rewritten without breaking the chain, and it carries its own
    wall time and boot id, so two journals do not share it; copies and moves keep it.
    """
    return f"urn:uuid:{uuid.uuid5(JOURNAL_NAMESPACE, first_record_hash)}"


def read_events(path: Path, since: datetime | None = None) -> tuple[list[EventRow], str | None]:
    """Records in journal order, read-only, from ``since`` (less a margin) plus the context,
    and the journal's URN (None when it has no records).

    A damaged file raises :class:`JournalError`.
    """
    conn = connect(path, writable=False)
    try:
        first = conn.execute("SELECT hash FROM events ORDER BY seq LIMIT 1").fetchone()
        urn = None if first is None else journal_urn(str(first[0]))
        if since is None:
            return list(iter_events(conn)), urn
        context = iter_events(conn, kinds=CONTEXT_KINDS, until=since - READ_MARGIN)
        recent = iter_events(conn, since=since - READ_MARGIN)
        # Journal order even if the wall clock once stepped back between the two reads.
        return sorted([*context, *recent], key=lambda e: e.seq), urn
    except (sqlite3.Error, ValueError) as err:
        raise JournalError(f"journal {path}: records cannot be read ({err})") from err
    finally:
        conn.close()


def events_from_rows(
    rows: Sequence[Row], since: datetime | None = None
) -> tuple[list[EventRow], str | None]:
    """What :func:`read_events` returns, from the rows verification already read (one pass
    over the journal instead of two). The same filter: context kinds from the start, every
    record from ``since`` less the margin, compared as the journal's UTC text as SQL does."""
    urn = journal_urn(rows[0][8]) if rows else None
    if since is not None:
        margin = utc_text(since - READ_MARGIN)
        rows = [r for r in rows if r[2] >= margin or r[1] in CONTEXT_KINDS]
    loads, parse = json.loads, datetime.fromisoformat
    try:
        return [
            EventRow(seq, kind, parse(wall), offset, elapsed, boot, loads(payload), hash_)
            for seq, kind, wall, offset, elapsed, boot, payload, _, hash_ in rows
        ], urn
    except ValueError as err:
        raise JournalError(f"journal records cannot be read ({err})") from err


def integrity_of(path: Path, keep: list[Row] | None = None) -> Integrity:
    """The chain's verdict; ``keep`` receives the records found good (see :func:`verify`)."""
    result = verify(path, keep=keep)
    problem = None
    if result.problem is not None:
        p = result.problem
        problem = f"{p.diagnosis.value} at record {p.seq}: {p.message}"
    head = result.head
    return Integrity(
        ok=result.ok,
        records=result.records,
        head_seq=None if head is None else head.seq,
        head_hash=None if head is None else head.hash,
        problem=problem,
        warnings=tuple(result.warnings),
    )


def build_report(
    journal_path: Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    curve: stats.CurveMode = "always",
) -> Report:
    """Everything the journal says about ``[start, end)`` (default: all of it)."""
    if start is not None and end is not None and end <= start:
        raise ValueError(
            f"--to = {end.isoformat()}: allowed a time after --from = {start.isoformat()}"
        )
    with paused_gc():
        rows: list[Row] = []
        integrity = integrity_of(journal_path, rows)
        if integrity.ok and len(rows) == integrity.records:
            events, urn = events_from_rows(rows, since=start)
        else:  # a broken chain: the report still shows every record the file holds
            events, urn = read_events(journal_path, since=start)
        del rows
        return report_from_events(
            events,
            integrity,
            source=str(journal_path),
            journal_id=urn,
            start=start,
            end=end,
            now=now,
            curve=curve,
        )
