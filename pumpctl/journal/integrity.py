"""What the hash chain does not cover, checked against what it does (SR-28).

The chain proves the ``events`` table. Everything else in the file is checked against it:

- the schema (tables, indexes, the append-only triggers) must be exactly the one this pumpctl
  creates, so a dropped or altered trigger is found;
- the derived ``pulses``, ``pulse_starts``, ``pulse_runs`` and ``pulse_outcomes`` tables, which
  the safety gate reads, must hold exactly the rows the verified events give, so deleting or
  editing a row (with the triggers dropped and recreated) is found before any decision is made
  from them;
- SQLite's own page-level check (``PRAGMA quick_check``) finds a damaged page.

Each check is one pass, run when a journal is opened for writing and by ``pumpctl log verify``;
the append path stays as cheap as before.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pumpctl.journal.chain import Envelope
from pumpctl.journal.derive import (
    DERIVING_KINDS,
    OUTCOME_COLUMNS,
    PULSE_COLUMNS,
    RUN_COLUMNS,
    START_COLUMNS,
    OutcomeRow,
    PulseRow,
    RunRow,
    StartRow,
    outcome_row,
    outcome_slot,
    pulse_row,
    run_row,
    start_row,
)
from pumpctl.journal.events import EventKind

#: The operator's way out once the cause is understood (docs/journal.md, "Repair").
REPAIR_ACTION = (
    "find out who changed the state directory, then `pumpctl log repair JOURNAL --reason TEXT` "
    "rebuilds it from the verified chain and journals the repair"
)


class Diagnosis(StrEnum):
    """What is wrong with the first bad record."""

    EDITED = "edited"
    REMOVED = "removed"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    BROKEN_LINK = "broken-link"  # a record was re-hashed after an edit, or removed and renumbered
    REWRITTEN = "rewritten"  # the chain is consistent but differs from a published head
    CORRUPT = "corrupt"
    HEAD_MISSING = "head-missing"  # records exist but no head was published: a cut is possible
    HEAD_UNREADABLE = "head-unreadable"
    SCHEMA = "schema-changed"  # a trigger, index or table differs from the one pumpctl created
    DERIVED = "derived-mismatch"  # the gate's pulse tables differ from the verified records


#: What the operator does about each diagnosis that is not a broken chain.
_ACTIONS = {
    Diagnosis.HEAD_MISSING: (
        "compare the journal with an anchor kept elsewhere (`pumpctl log verify --anchor "
        "SEQ:HASH`), then `pumpctl log repair JOURNAL --reason TEXT` publishes its head again"
    ),
    Diagnosis.HEAD_UNREADABLE: (
        "compare the journal with an anchor kept elsewhere (`pumpctl log verify --anchor "
        "SEQ:HASH`), then `pumpctl log repair JOURNAL --reason TEXT` publishes its head again"
    ),
    Diagnosis.SCHEMA: REPAIR_ACTION,
    Diagnosis.DERIVED: REPAIR_ACTION,
    Diagnosis.CORRUPT: (
        "restore the journal from a backup or a shipped copy; delivery cannot resume on this file"
    ),
}
_TAMPERED_ACTION = (
    "the journal was changed after it was written: keep the file as evidence and start a new "
    "journal only after review; delivery cannot resume on it"
)
#: Diagnoses that ``pumpctl log repair`` may fix: the chain itself is intact.
REPAIRABLE = frozenset(
    {Diagnosis.HEAD_MISSING, Diagnosis.HEAD_UNREADABLE, Diagnosis.SCHEMA, Diagnosis.DERIVED}
)


@dataclass(frozen=True)
class Problem:
    diagnosis: Diagnosis
    seq: int
    message: str

    @property
    def action(self) -> str:
        """What the operator does next."""
        return _ACTIONS.get(self.diagnosis, _TAMPERED_ACTION)

    @property
    def where(self) -> str:
        """`` at record N`` for a problem with a record, empty for one with the whole file."""
        return f" at record {self.seq}" if self.seq else ""

    def line(self, path: Path) -> str:
        """The one line that names the problem and the operator's action."""
        return f"journal {path}: {self.diagnosis.value}{self.where}: {self.message}; {self.action}"


SchemaObject = tuple[str, str, str, str]


@functools.cache
def expected_schema(version: int | None = None) -> frozenset[SchemaObject]:
    """(type, name, table, sql) of every object a journal of schema ``version`` holds (by
    default the current version)."""
    from pumpctl.journal import schema  # noqa: PLC0415  (schema imports derive, which is ours)

    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        schema.migrate(conn, target=schema.SCHEMA_VERSION if version is None else version)
        return frozenset(_objects(conn))
    finally:
        conn.close()


def _objects(conn: sqlite3.Connection) -> Iterable[SchemaObject]:
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    )
    return ((str(t), str(n), str(tbl), str(sql)) for t, n, tbl, sql in rows)


def schema_problem(conn: sqlite3.Connection, *, version: int | None = None) -> str | None:
    """One line naming the first schema object missing, changed or added, or None."""
    expected = expected_schema(version)
    found = set(_objects(conn))
    by_name = {(t, n): sql for t, n, _, sql in found}
    for kind, name, _, sql in sorted(expected):
        have = by_name.get((kind, name))
        if have is None:
            what = "append-only trigger" if kind == "trigger" else kind
            return f"the {what} {name} is missing from the journal's schema"
        if have != sql:
            return f"the {kind} {name} differs from the schema pumpctl created"
    names = {(t, n) for t, n, _, _ in expected}
    for kind, name, _, _ in sorted(found):
        if (kind, name) not in names:
            return f"the journal holds a {kind} {name} that pumpctl did not create"
    return None


def _expected_rows(
    conn: sqlite3.Connection,
) -> tuple[list[PulseRow], list[StartRow], list[RunRow], list[OutcomeRow]]:
    marks = ", ".join("?" for _ in DERIVING_KINDS)
    columns = "seq, kind, wall_utc, utc_offset_min, elapsed_s, boot_id, payload"
    sql = f"SELECT {columns} FROM events WHERE kind IN ({marks}) ORDER BY seq"  # noqa: S608  (placeholders only)
    rows = conn.execute(sql, [str(k) for k in DERIVING_KINDS])
    pulses: list[PulseRow] = []
    starts: list[StartRow] = []
    runs: list[RunRow] = []
    outcomes: list[OutcomeRow] = []
    latest: dict[str, int] = {}
    for seq, *fields in rows:
        env = Envelope(*fields)
        if env.kind == EventKind.PULSE_INTENT:
            row = pulse_row(int(seq), env)
            latest[row[1]] = row[0]
            pulses.append(row)
        elif env.kind == EventKind.PULSE_STARTED:
            starts.append(start_row(int(seq), env, latest.get(outcome_slot(env))))
        elif env.kind == EventKind.PULSE_RUN:
            runs.append(run_row(int(seq), env, latest.get(outcome_slot(env))))
        else:
            outcomes.append(outcome_row(int(seq), env, latest.get(outcome_slot(env))))
    return pulses, starts, runs, outcomes


def _first_difference(
    table: str, expected: Sequence[tuple[Any, ...]], found: Sequence[tuple[Any, ...]]
) -> str | None:
    want = {int(row[0]): tuple(row) for row in expected}
    have = {int(row[0]): tuple(row) for row in found}
    for key in sorted(set(want) | set(have)):
        if key not in have:
            return (
                f"derived table {table} does not match the chain: the row of record {key} is "
                "missing"
            )
        if key not in want:
            return (
                f"derived table {table} does not match the chain: it holds a row (record {key}) "
                "that no verified record gives"
            )
        if want[key] != have[key]:
            return (
                f"derived table {table} does not match the chain: the row of record {key} was "
                "changed"
            )
    return None


#: The schema version that added ``pulse_starts`` (an older journal, read by ``log verify``
#: without migrating it, has no such table and no ``pulse.started`` records).
STARTS_VERSION = 4
#: The schema version that added ``pulse_runs`` (likewise absent from older journals).
RUNS_VERSION = 5


def derived_problem(conn: sqlite3.Connection, *, version: int | None = None) -> str | None:
    """One line naming the first derived row that differs from the verified events, or None.

    Invariant (SR-28): the gate's history comes from these tables only after this check passed.
    """
    try:
        pulses, starts, runs, outcomes = _expected_rows(conn)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as err:
        return f"a pulse record cannot be read back into the derived tables ({err})"
    found_pulses = conn.execute(
        f"SELECT {PULSE_COLUMNS} FROM pulses ORDER BY intent_seq"  # noqa: S608  (constant)
    ).fetchall()
    found_outcomes = conn.execute(
        f"SELECT {OUTCOME_COLUMNS} FROM pulse_outcomes ORDER BY seq"  # noqa: S608  (constant)
    ).fetchall()
    found_starts: list[Any] = []
    if version is None or version >= STARTS_VERSION:
        found_starts = conn.execute(
            f"SELECT {START_COLUMNS} FROM pulse_starts ORDER BY seq"  # noqa: S608  (constant)
        ).fetchall()
    found_runs: list[Any] = []
    if version is None or version >= RUNS_VERSION:
        found_runs = conn.execute(
            f"SELECT {RUN_COLUMNS} FROM pulse_runs ORDER BY seq"  # noqa: S608  (constant)
        ).fetchall()
    return (
        _first_difference("pulses", pulses, found_pulses)
        or _first_difference("pulse_starts", starts, found_starts)
        or _first_difference("pulse_runs", runs, found_runs)
        or _first_difference("pulse_outcomes", outcomes, found_outcomes)
    )


def page_problem(conn: sqlite3.Connection) -> str | None:
    """SQLite's own check of every page and index (``PRAGMA quick_check``); None when ok."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
    if rows == ["ok"]:
        return None
    more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
    return f"SQLite's integrity check failed: {rows[0] if rows else 'no answer'}{more}"
