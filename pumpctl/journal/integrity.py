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
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pumpctl.core.model import Outcome
from pumpctl.journal.derive import DERIVING_KINDS
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


#: The deriving kinds as the ``kind`` column holds them.
DERIVING_KIND_TEXTS = frozenset(str(k) for k in DERIVING_KINDS)

#: The schema version that added ``pulse_starts`` (an older journal, read by ``log verify``
#: without migrating it, has no such table and no ``pulse.started`` records).
STARTS_VERSION = 4
#: The schema version that added ``pulse_runs`` (likewise absent from older journals).
RUNS_VERSION = 5

_RESOLVING_TEXTS = (str(EventKind.PULSE_OUTCOME), str(EventKind.PULSE_RECONCILED))
_OUTCOME_TEXTS = ", ".join(f"'{o.value}'" for o in Outcome)
#: The slot's latest intent before event ``e`` (as derive.derive_rows finds it when appending),
#: answered from ``pulses`` once that table has been checked against the intents.
_LATEST_INTENT = (
    "(SELECT max(intent_seq) FROM pulses WHERE slot_id = json_extract(e.payload, '$.slot_id')"
    " AND intent_seq < e.seq)"
)


@dataclass(frozen=True)
class _Derived:
    """How one derived table follows from the events: the kinds that give its rows, its key
    column, and the SQL condition under which a row ``t`` differs from what event ``e`` gives
    (``IS NOT`` compares NULLs too; the table's TEXT affinity applies to the JSON values as it
    did when ``derive_rows`` inserted them)."""

    table: str
    key: str
    kinds: tuple[str, ...]
    differs: str
    version: int


_PULSES = _Derived(
    "pulses",
    "intent_seq",
    (str(EventKind.PULSE_INTENT),),
    " OR ".join(
        (
            "t.slot_id IS NOT json_extract(e.payload, '$.slot_id')",
            "t.intent_wall IS NOT e.wall_utc",
            "t.elapsed_s IS NOT e.elapsed_s",
            "t.boot_id IS NOT e.boot_id",
            "t.dose_ug IS NOT json_extract(e.payload, '$.dose_ug')",
            "t.volume_ul IS NOT json_extract(e.payload, '$.volume_ul')",
            "t.duration_s IS NOT json_extract(e.payload, '$.duration_s')",
        )
    ),
    2,
)
_LINKED = (
    _Derived(
        "pulse_starts",
        "seq",
        (str(EventKind.PULSE_STARTED),),
        f"t.intent_seq IS NOT {_LATEST_INTENT}",
        STARTS_VERSION,
    ),
    _Derived(
        "pulse_runs",
        "seq",
        (str(EventKind.PULSE_RUN),),
        f"t.intent_seq IS NOT {_LATEST_INTENT}",
        RUNS_VERSION,
    ),
    _Derived(
        "pulse_outcomes",
        "seq",
        _RESOLVING_TEXTS,
        " OR ".join(
            (
                f"t.intent_seq IS NOT {_LATEST_INTENT}",
                "t.outcome IS NOT json_extract(e.payload, '$.outcome')",
                "t.delivered_volume_ul IS NOT json_extract(e.payload, '$.delivered_volume_ul')",
            )
        ),
        2,
    ),
)


def _marks(kinds: Sequence[str]) -> str:
    return ", ".join("?" for _ in kinds)


def _table_difference(conn: sqlite3.Connection, spec: _Derived, version: int | None) -> str | None:
    """The first row (lowest record) of ``spec.table`` that is missing, changed or extra."""
    marks = _marks(spec.kinds)
    prefix = f"derived table {spec.table} does not match the chain"
    if version is not None and version < spec.version:  # the table does not exist yet
        row = conn.execute(
            f"SELECT min(seq) FROM events WHERE kind IN ({marks})",  # noqa: S608  (placeholders)
            spec.kinds,
        ).fetchone()
        if row[0] is None:
            return None
        return f"{prefix}: the row of record {row[0]} is missing"
    # Every record of the kinds: its row missing, or holding other values than it gives.
    wrong = conn.execute(
        f"SELECT e.seq, t.{spec.key} IS NULL FROM events AS e"  # noqa: S608  (constants)
        f" LEFT JOIN {spec.table} AS t ON t.{spec.key} = e.seq"
        f" WHERE e.kind IN ({marks}) AND (t.{spec.key} IS NULL OR {spec.differs})"
        " ORDER BY e.seq LIMIT 1",
        spec.kinds,
    ).fetchone()
    # Every row of the table: one that no record of the kinds gives.
    extra = conn.execute(
        f"SELECT t.{spec.key} FROM {spec.table} AS t"  # noqa: S608  (constants)
        f" LEFT JOIN events AS e ON e.seq = t.{spec.key} AND e.kind IN ({marks})"
        f" WHERE e.seq IS NULL ORDER BY t.{spec.key} LIMIT 1",
        spec.kinds,
    ).fetchone()
    if extra is not None and (wrong is None or int(extra[0]) < int(wrong[0])):
        return f"{prefix}: it holds a row (record {extra[0]}) that no verified record gives"
    if wrong is None:
        return None
    orphan = _orphan(conn, spec, int(wrong[0]))
    if orphan is not None:
        return orphan
    what = "is missing" if wrong[1] else "was changed"
    return f"{prefix}: the row of record {wrong[0]} {what}"


def _orphan(conn: sqlite3.Connection, spec: _Derived, seq: int) -> str | None:
    """Why record ``seq`` cannot give a row at all (a start, RUN or outcome for a slot with no
    intent before it, as ``derive_rows`` refuses it when appending), or None."""
    if spec is _PULSES:
        return None
    row = conn.execute(
        f"SELECT json_extract(e.payload, '$.slot_id'), {_LATEST_INTENT} FROM events AS e"  # noqa: S608
        " WHERE e.seq = ?",
        (seq,),
    ).fetchone()
    if row is None or row[1] is not None:
        return None
    return (
        f"a pulse record cannot be read back into the derived tables (record {seq}: slot_id = "
        f"{row[0]!r}: no pulse intent recorded for this slot before it; a start, RUN or outcome "
        "is allowed only after the slot's intent)"
    )


def _bad_outcome(conn: sqlite3.Connection) -> str | None:
    """A derived outcome (equal to its record's, once the tables matched) none of pumpctl's."""
    row = conn.execute(
        f"SELECT seq, outcome FROM pulse_outcomes WHERE outcome NOT IN ({_OUTCOME_TEXTS})"  # noqa: S608
        " ORDER BY seq LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return (
        f"a pulse record cannot be read back into the derived tables (record {row[0]}: outcome "
        f"{row[1]!r} is not a pulse outcome)"
    )


def _malformed(conn: sqlite3.Connection) -> str:
    kinds = sorted(DERIVING_KIND_TEXTS)
    row = conn.execute(
        f"SELECT min(seq) FROM events WHERE kind IN ({_marks(kinds)})"  # noqa: S608
        " AND NOT json_valid(payload)",
        kinds,
    ).fetchone()
    return f"record {row[0]}: its payload is not JSON"


def derived_problem(conn: sqlite3.Connection, *, version: int | None = None) -> str | None:
    """One line naming the first derived row that differs from the events, or None.

    The comparison runs inside SQLite, table by table: every record of a deriving kind must
    have its row with exactly the values :mod:`pumpctl.journal.derive` inserts for it (the
    slot's latest intent before it, for a start, RUN or outcome), and every row must come from
    such a record. ``log verify`` runs it on the snapshot whose chain it has just verified.

    Invariant (SR-28): the gate's history comes from these tables only after this check passed.
    """
    try:
        found = _table_difference(conn, _PULSES, version)
        for spec in _LINKED:
            found = found or _table_difference(conn, spec, version)
    except sqlite3.OperationalError as err:
        if "JSON" not in str(err):
            raise
        return f"a pulse record cannot be read back into the derived tables ({_malformed(conn)})"
    return found or _bad_outcome(conn)


def page_problem(conn: sqlite3.Connection) -> str | None:
    """SQLite's own check of every page and index (``PRAGMA quick_check``); None when ok."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
    if rows == ["ok"]:
        return None
    more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
    return f"SQLite's integrity check failed: {rows[0] if rows else 'no answer'}{more}"
