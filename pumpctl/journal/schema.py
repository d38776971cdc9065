"""The journal's SQLite schema, its forward migrations, and the pragmas every connection gets.

The version lives in ``PRAGMA user_version``. Migrations only ever move forward, each in its
own transaction; a journal written by a newer pumpctl is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from pumpctl.journal.chain import Envelope
from pumpctl.journal.derive import DERIVING_KINDS, derive_rows

Migration = Callable[[sqlite3.Connection], None]

_V1 = """
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY,
    kind           TEXT    NOT NULL,
    wall_utc       TEXT    NOT NULL,
    utc_offset_min INTEGER NOT NULL,
    elapsed_s      REAL    NOT NULL,
    boot_id        TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL
);
CREATE INDEX events_wall ON events (wall_utc);
CREATE INDEX events_kind ON events (kind, seq);
-- Invariant: append-only. The schema refuses to change or remove a record; corrections are
-- new events that refer to the old one.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'journal is append-only: UPDATE of events refused'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'journal is append-only: DELETE of events refused'); END;
"""

# Derived from the events in the same transaction as each append, so the safety gate's history
# is one indexed query. Insert-only like the events: an outcome is a new row, the latest wins.
_V2 = """
CREATE TABLE pulses (
    intent_seq   INTEGER PRIMARY KEY REFERENCES events (seq),
    slot_id      TEXT    NOT NULL,
    intent_wall  TEXT    NOT NULL,
    elapsed_s    REAL    NOT NULL,
    boot_id      TEXT    NOT NULL,
    dose_ug      TEXT    NOT NULL,
    volume_ul    TEXT    NOT NULL,
    duration_s   TEXT    NOT NULL
);
CREATE INDEX pulses_wall ON pulses (intent_wall);
CREATE INDEX pulses_slot ON pulses (slot_id, intent_seq);
CREATE TABLE pulse_outcomes (
    seq                 INTEGER PRIMARY KEY REFERENCES events (seq),
    intent_seq          INTEGER NOT NULL REFERENCES pulses (intent_seq),
    outcome             TEXT    NOT NULL,
    delivered_volume_ul TEXT
);
CREATE INDEX pulse_outcomes_intent ON pulse_outcomes (intent_seq, seq);
CREATE TRIGGER pulses_no_update BEFORE UPDATE ON pulses
BEGIN SELECT RAISE(ABORT, 'journal is append-only: UPDATE of pulses refused'); END;
CREATE TRIGGER pulses_no_delete BEFORE DELETE ON pulses
BEGIN SELECT RAISE(ABORT, 'journal is append-only: DELETE of pulses refused'); END;
CREATE TRIGGER pulse_outcomes_no_update BEFORE UPDATE ON pulse_outcomes
BEGIN SELECT RAISE(ABORT, 'journal is append-only: UPDATE of pulse_outcomes refused'); END;
CREATE TRIGGER pulse_outcomes_no_delete BEFORE DELETE ON pulse_outcomes
BEGIN SELECT RAISE(ABORT, 'journal is append-only: DELETE of pulse_outcomes refused'); END;
"""


def _script(sql: str) -> Migration:
    def run(conn: sqlite3.Connection) -> None:
        for statement in _statements(sql):
            conn.execute(statement)

    return run


def _statements(sql: str) -> list[str]:
    """Split a script on statement ends, keeping trigger bodies (``BEGIN ... END;``) whole.

    ``executescript`` would commit the surrounding transaction, so migrations run statement by
    statement inside one.
    """
    statements: list[str] = []
    current = ""
    for line in sql.splitlines():
        if line.startswith("--") or not line.strip():
            continue
        current += line + "\n"
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def _derive_from(conn: sqlite3.Connection, *kinds: str) -> None:
    """Fill a migration's new derived tables from the journal's own records of ``kinds``.

    Each migration names only the kinds its tables hold: later migrations fill their own.
    """
    columns = "seq, kind, wall_utc, utc_offset_min, elapsed_s, boot_id, payload"
    marks = ", ".join("?" for _ in kinds)
    query = f"SELECT {columns} FROM events WHERE kind IN ({marks}) ORDER BY seq"  # noqa: S608
    rows = conn.execute(query, kinds).fetchall()
    for seq, *fields in rows:
        derive_rows(conn, seq, Envelope(*fields))


def derive_all(conn: sqlite3.Connection) -> None:
    """Fill every derived table from the journal's records (``log repair`` after a rebuild)."""
    _derive_from(conn, *(str(kind) for kind in DERIVING_KINDS))


def _v2(conn: sqlite3.Connection) -> None:
    _script(_V2)(conn)
    _derive_from(conn, "pulse.intent", "pulse.outcome", "pulse.reconciled")


#: Forward migrations; entry ``i`` takes a journal from version ``i`` to ``i + 1``.
# The gate's history also finds the current boot's pulses by elapsed time, so that a forward
# wall-clock step cannot hide a recent pulse (SR-11).
_V3 = """
CREATE INDEX pulses_boot_elapsed ON pulses (boot_id, elapsed_s);
"""

# When the pump confirmed each pulse's RUN: the safety gate measures intervals from it (SR-02).
_V4 = """
CREATE TABLE pulse_starts (
    seq        INTEGER PRIMARY KEY REFERENCES events (seq),
    intent_seq INTEGER NOT NULL REFERENCES pulses (intent_seq)
);
CREATE INDEX pulse_starts_intent ON pulse_starts (intent_seq, seq);
CREATE TRIGGER pulse_starts_no_update BEFORE UPDATE ON pulse_starts
BEGIN SELECT RAISE(ABORT, 'journal is append-only: UPDATE of pulse_starts refused'); END;
CREATE TRIGGER pulse_starts_no_delete BEFORE DELETE ON pulse_starts
BEGIN SELECT RAISE(ABORT, 'journal is append-only: DELETE of pulse_starts refused'); END;
"""


def _v4(conn: sqlite3.Connection) -> None:
    _script(_V4)(conn)
    _derive_from(conn, "pulse.started")


# Which pulses had their RUN sent: such a pulse counts as a start for the minimum interval and
# the 24 h count even when it proved NOT_DELIVERED, since the pump may have started (SR-02).
_V5 = """
CREATE TABLE pulse_runs (
    seq        INTEGER PRIMARY KEY REFERENCES events (seq),
    intent_seq INTEGER NOT NULL REFERENCES pulses (intent_seq)
);
CREATE INDEX pulse_runs_intent ON pulse_runs (intent_seq, seq);
CREATE TRIGGER pulse_runs_no_update BEFORE UPDATE ON pulse_runs
BEGIN SELECT RAISE(ABORT, 'journal is append-only: UPDATE of pulse_runs refused'); END;
CREATE TRIGGER pulse_runs_no_delete BEFORE DELETE ON pulse_runs
BEGIN SELECT RAISE(ABORT, 'journal is append-only: DELETE of pulse_runs refused'); END;
"""


def _v5(conn: sqlite3.Connection) -> None:
    _script(_V5)(conn)
    _derive_from(conn, "pulse.run")


MIGRATIONS: tuple[Migration, ...] = (_script(_V1), _v2, _script(_V3), _v4, _v5)
SCHEMA_VERSION = len(MIGRATIONS)


#: The page size of a new journal. Every record appends one page to the write-ahead log per
#: B-tree it touches (an intent: seven), so a smaller page writes fewer bytes per commit for
#: the same tree shape; a journal created with SQLite's default of 4096 keeps it.
PAGE_SIZE = 2048


def configure(conn: sqlite3.Connection, *, writable: bool) -> None:
    """Pragmas for every connection: WAL, and a commit that returns only after fsync."""
    if writable:
        # Only an empty file takes a page size; it must come before WAL mode is entered.
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode = WAL")
    # Invariant: synchronous=FULL on every connection, so COMMIT fsyncs the WAL (SR-08, SR-19).
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, *, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema forward to ``target``; returns the version found before.

    Raises ``ValueError`` for a journal newer than this code knows.
    """
    found = schema_version(conn)
    if found > SCHEMA_VERSION:
        raise ValueError(
            f"journal schema version = {found}: this pumpctl reads versions up to "
            f"{SCHEMA_VERSION}; upgrade pumpctl"
        )
    for version in range(found, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return found
