"""The durable journal: an append-only, hash-chained SQLite file that the daemon writes.

``append`` returns only after SQLite's COMMIT has fsynced the write-ahead log, then publishes the
new head. When the journal cannot be written, ``append`` raises :class:`JournalError` and
``writable`` turns False, so the daemon denies delivery: a missed pulse, never an unrecorded one.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import stat
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog

from pumpctl.core.clock import Clock
from pumpctl.core.model import Outcome, PulseRecord
from pumpctl.errors import JournalError, JournalTamperedError
from pumpctl.journal import integrity, query, schema
from pumpctl.journal.chain import (
    GENESIS_HASH,
    Envelope,
    Head,
    Seal,
    canonical_json,
    link_hash,
    read_head,
    record_bytes,
    write_head,
)
from pumpctl.journal.derive import derive_rows
from pumpctl.journal.events import Appended, EventKind, EventRecorder
from pumpctl.journal.integrity import Diagnosis, Problem
from pumpctl.journal.reconcile import Reconciler
from pumpctl.journal.signing import HeadSigner, seal_head
from pumpctl.statefiles import StateFileError, refuse_journal_links

_log = structlog.get_logger()
_KIND_PATTERN = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")


def _describe(path: Path, err: sqlite3.Error, *, reading: bool = False) -> str:
    text = str(err)
    if isinstance(err, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return f"journal {path} is corrupt or not a pumpctl journal ({text})"
    if reading:
        return f"journal {path} cannot be read ({text})"
    if "readonly" in text or "unable to open" in text:
        return (
            f"journal {path} cannot be written ({text}); its directory must exist and be "
            "writable by the daemon"
        )
    if "full" in text:
        return f"journal {path} cannot be written: disk or journal size limit is full ({text})"
    return f"journal {path}: {text}"


def _is_damage(err: sqlite3.Error) -> bool:
    text = str(err)
    return isinstance(err, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text
    )


def journal_error(path: Path, err: sqlite3.Error) -> JournalError:
    """The error for a failed SQLite call: a damaged file is tampering's verdict (exit 3)."""
    if _is_damage(err):
        return JournalTamperedError(
            Problem(Diagnosis.CORRUPT, 0, f"corrupt or not a pumpctl journal ({err})").line(path)
        )
    return JournalError(_describe(path, err))


def connect(path: Path, *, writable: bool) -> sqlite3.Connection:
    """A configured connection; read-only ones never create or change the file."""
    if not writable:
        return _connect_read_only(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as err:
        raise JournalError(_describe(path, err)) from err
    try:
        schema.configure(conn, writable=writable)
    except sqlite3.Error as err:
        conn.close()
        raise journal_error(path, err) from err
    return conn


#: SQLite's primary result codes for "cannot open" and "cannot write" (sqlite3.h).
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_CANTOPEN = 3, 8, 14


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open for reading, also as a user who may read the files but not write their folder.

    A WAL journal read with ``mode=ro`` still needs its ``-shm`` index, which SQLite creates
    beside it; a read-only user cannot. When no write-ahead log holds records (the daemon is
    stopped and closed it cleanly), the file alone is the whole journal and is opened
    ``immutable``, which needs neither. A non-empty log means the daemon is running or did not
    close it: then only a user who can open the log reads the journal, never a stale copy.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise JournalError(f"journal {path} does not exist") from None
    except OSError as err:
        raise JournalError(f"journal {path} cannot be read: {err.strerror}") from err
    if stat.S_ISDIR(info.st_mode):
        raise JournalError(f"journal {path} is a directory; allowed a journal file")
    if not os.access(path, os.R_OK):
        raise JournalError(f"journal {path} cannot be read: permission denied")
    uri = path.resolve().as_uri()
    try:
        return _open_probed(f"{uri}?mode=ro")
    except sqlite3.Error as err:
        code = getattr(err, "sqlite_errorcode", 0) & 0xFF
        if code not in (_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_CANTOPEN):
            raise JournalError(_describe(path, err, reading=True)) from err
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise JournalError(
                f"journal {path} is in use by a running daemon (or was not closed cleanly) and "
                f"this user cannot open its write-ahead log {wal.name}: run as the daemon's "
                "user or a member of its group"
            ) from err
    try:
        return _open_probed(f"{uri}?mode=ro&immutable=1")
    except sqlite3.Error as err:
        raise JournalError(_describe(path, err, reading=True)) from err


def _open_probed(uri: str) -> sqlite3.Connection:
    """Connect and read once: SQLite reports most open problems only at the first read."""
    conn = sqlite3.connect(uri, uri=True)
    try:
        schema.configure(conn, writable=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


class Journal(EventRecorder, Reconciler):
    """The daemon's journal: append events, read the gate's history, reconcile pending pulses.

    Thread-safe (one lock around the connection). One writer per file: the daemon's
    single-instance lock guarantees it.
    """

    def __init__(self, path: str | Path, clock: Clock, *, local_tz: tzinfo | None = None) -> None:
        self.path = Path(path)
        self.clock = clock
        self._local_tz = local_tz
        self._lock = threading.Lock()
        self._signer: HeadSigner | None = None
        if not self.path.parent.is_dir():
            raise JournalError(
                f"journal {self.path}: state directory {self.path.parent} does not exist"
            )
        # Invariant: a link planted in the state directory is refused, never followed.
        refuse_journal_links(self.path)
        self._conn = connect(self.path, writable=True)
        try:
            self._open_schema()
            self._head = self._read_db_head()
            self._check_published_head()
            self._check_unchained()
            self._pending = query.pending_intent_seqs(self._conn)
            #: The newest record's wall time when this journal was opened: where the runs
            #: before this one stopped writing (backfill of missed slots, SR-10, SR-30).
            self.wall_at_open = query.last_event_wall(self._conn)
        except sqlite3.Error as err:
            self._conn.close()
            raise journal_error(self.path, err) from err
        except BaseException:
            self._conn.close()
            raise
        self._writable = True

    def _open_schema(self) -> None:
        try:
            if schema.schema_version(self._conn) == 0:
                tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if tables:
                    raise JournalError(
                        f"journal {self.path} is an SQLite file but not a pumpctl journal "
                        "(schema version 0 with tables in it)"
                    )
            schema.migrate(self._conn)
        except ValueError as err:
            raise JournalError(f"journal {self.path}: {err}") from err
        except sqlite3.Error as err:
            raise journal_error(self.path, err) from err

    def _read_db_head(self) -> Head | None:
        row = self._conn.execute(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return None if row is None else Head(int(row[0]), str(row[1]))

    def _refuse(self, diagnosis: Diagnosis, message: str) -> JournalTamperedError:
        return JournalTamperedError(Problem(diagnosis, 0, message).line(self.path))

    def _check_published_head(self) -> None:
        """Refuse to extend a chain that has lost records since its head was published, or
        whose head is missing or unreadable: the same verdicts as ``pumpctl log verify``."""
        try:
            published = read_head(self.path)
        except (OSError, ValueError, StateFileError) as err:
            raise self._refuse(
                Diagnosis.HEAD_UNREADABLE, f"its head cannot be read ({err})"
            ) from err
        last = 0 if self._head is None else self._head.seq
        if published is None:
            if last:
                raise self._refuse(
                    Diagnosis.HEAD_MISSING,
                    f"{last} records but no published head: records cut off the end could "
                    "not be detected",
                )
            # A new journal publishes its empty head at once, so a missing head is never normal.
            write_head(self.path, Head(0, GENESIS_HASH))
            return
        if published.seq > last:
            raise JournalTamperedError(
                f"journal {self.path} ends at record {last} but its published head is "
                f"{published}: records were cut off (run `pumpctl log verify`)"
            )
        if last > published.seq + 1 and not query.one_commit_tail(self._conn, published.seq):
            raise self._refuse(
                Diagnosis.HEAD_MISSING,
                f"{last - published.seq} records follow the published head {published}; at "
                "most one commit is expected after a crash",
            )
        if published.seq == 0:
            return
        row = self._conn.execute("SELECT hash FROM events WHERE seq = ?", (published.seq,))
        found = row.fetchone()
        if found is None or found[0] != published.hash:
            raise JournalTamperedError(
                f"journal {self.path}: record {published.seq} does not match the published "
                f"head {published} (run `pumpctl log verify`)"
            )

    def _check_unchained(self) -> None:
        """SR-28: the schema and the derived tables the gate reads agree with the chain.

        One pass over the pulse records at open; appends keep them in step afterwards.
        """
        schema_text = integrity.schema_problem(self._conn)
        if schema_text is not None:
            raise self._refuse(Diagnosis.SCHEMA, schema_text)
        derived = integrity.derived_problem(self._conn)
        if derived is not None:
            raise self._refuse(Diagnosis.DERIVED, derived)

    @property
    def writable(self) -> bool:
        """False after a failed write, until an append succeeds again; deny delivery while False."""
        return self._writable

    @property
    def head(self) -> Head | None:
        """The last record's sequence number and hash (None for an empty journal)."""
        return self._head

    @property
    def signer(self) -> HeadSigner | None:
        """The key that signs each published head (None: heads are published unsigned)."""
        return self._signer

    def attach_signer(self, signer: HeadSigner | None) -> None:
        """Sign every head published from now on with ``signer``, starting with the current one.

        Raises :class:`JournalError` when the current head cannot be republished.
        """
        with self._lock:
            self._signer = signer
            if self._head is not None:
                self._publish(self._head, self._head.seq)

    def _publish(self, head: Head, seq: int) -> None:
        seal: Seal | None = None if self._signer is None else seal_head(self._signer, head)
        try:
            write_head(self.path, head, seal)
        except (OSError, StateFileError) as err:
            self._writable = False
            raise JournalError(
                f"journal {self.path}: record {seq} is committed but its head could "
                f"not be published ({err})"
            ) from err

    def append(self, kind: EventKind | str, payload: Mapping[str, Any]) -> Appended:
        """Durably append one record; returns ``(seq, hash)`` only once it is on disk (SR-19).

        Raises ``ValueError`` for a bad kind or payload (nothing is written) and
        :class:`JournalError` when the journal cannot be written.
        """
        return self._append([(kind, payload)], publish=True)[0]

    def append_many(
        self,
        records: Sequence[tuple[EventKind | str, Mapping[str, Any]]],
        *,
        publish: bool = True,
    ) -> list[Appended]:
        """Durably append several records in one commit (one fsync, one head publication):
        all of them are on disk when this returns, or none is. The chain is the same as if each
        had been appended alone; the slot's gate record, intent and RUN record go this way.

        ``publish=False`` leaves the head file at the previous record until
        :meth:`publish_head` (or the next append): the records are durable all the same (the
        head file only lets ``log verify`` see a cut-off tail), so the armed pulse's RUN does
        not wait for a second device flush.
        """
        return self._append(records, publish=publish)

    def _append(
        self, records: Sequence[tuple[EventKind | str, Mapping[str, Any]]], *, publish: bool
    ) -> list[Appended]:
        envs = [self._envelope(kind, payload) for kind, payload in records]
        with self._lock:
            appended, touched = self._commit(envs)
            self._head = Head(appended[-1].seq, appended[-1].hash)
            for intent_seq, outcome in touched:
                if outcome is None or outcome is Outcome.UNCERTAIN:
                    self._pending.add(intent_seq)
                else:
                    self._pending.discard(intent_seq)
            if publish:
                self._publish(self._head, self._head.seq)
            self._writable = True
        for (kind, _), done in zip(records, appended, strict=True):
            _log.debug("journal.appended", seq=done.seq, hash=done.hash, kind=str(kind))
        return appended

    def publish_head(self) -> None:
        """Publish the current head (after ``append_many(..., publish=False)``)."""
        with self._lock:
            if self._head is not None:
                self._publish(self._head, self._head.seq)

    def checkpoint(self) -> None:
        """A passive WAL checkpoint: copies committed pages into the database file without
        waiting on readers. An error is logged, not raised: the records are already durable in
        the log, and SQLite's automatic checkpoint still runs later."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as err:
                _log.warning("journal.checkpoint_failed", error=str(err))

    def _envelope(self, kind: EventKind | str, payload: Mapping[str, Any]) -> Envelope:
        kind = str(kind)
        if not _KIND_PATTERN.match(kind):
            raise ValueError(f"kind = {kind!r}: allowed dotted lowercase words like 'pulse.intent'")
        try:
            payload_json = canonical_json(dict(payload))
        except (TypeError, ValueError) as err:
            raise ValueError(f"payload of {kind}: {err}") from err
        now = self.clock.now()
        wall_utc = now.astimezone(UTC).isoformat(timespec="microseconds")
        offset = now.astimezone(self._local_tz).utcoffset()
        offset_min = 0 if offset is None else int(offset.total_seconds() // 60)
        elapsed_s = float(self.clock.elapsed_s())
        return Envelope(kind, wall_utc, offset_min, elapsed_s, self.clock.boot_id, payload_json)

    def _commit(
        self, envs: Sequence[Envelope]
    ) -> tuple[list[Appended], list[tuple[int, Outcome | None]]]:
        conn = self._conn
        appended: list[Appended] = []
        touched: list[tuple[int, Outcome | None]] = []
        env = envs[0]
        try:
            conn.execute("BEGIN IMMEDIATE")
            # The head is read inside the write transaction, so the chain can never fork.
            row = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (1, GENESIS_HASH) if row is None else (int(row[0]) + 1, str(row[1]))
            for env in envs:
                digest = link_hash(prev, record_bytes(env))
                conn.execute(
                    "INSERT INTO events (seq, kind, wall_utc, utc_offset_min, elapsed_s, boot_id,"
                    " payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, *env, prev, digest),
                )
                derived = derive_rows(conn, seq, env)
                if derived is not None:
                    touched.append(derived)
                appended.append(Appended(seq, digest))
                seq, prev = seq + 1, digest
            conn.execute("COMMIT")
        except (ValueError, KeyError) as err:
            self._rollback()
            raise ValueError(f"{env.kind}: {err}") from err
        except sqlite3.Error as err:
            self._rollback()
            self._writable = False
            _log.error("journal.write_failed", path=str(self.path), error=str(err))
            raise JournalError(_describe(self.path, err)) from err
        return appended, touched

    def _rollback(self) -> None:
        # The transaction may already be gone (SQLITE_FULL rolls back by itself).
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Hold the connection; a failed read is a :class:`JournalError`, never a raw one."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as err:
                raise journal_error(self.path, err) from err

    def pulse_history(self, since: datetime) -> list[PulseRecord]:
        """The safety gate's history: intents since ``since`` plus every pending one (SR-09).

        Also every pulse of the current boot whose elapsed reading lies within the same span
        before now, so a wall clock stepped forward cannot push a recent pulse out of the
        window (SR-11). A superset only makes the gate stricter.
        """
        span_s = max(0.0, (self.clock.now() - since).total_seconds())
        boot_since = (self.clock.boot_id, self.clock.elapsed_s() - span_s)
        with self._reading():
            return query.pulse_history(
                self._conn, since, sorted(self._pending), boot_since=boot_since
            )

    def pending_pulses(self) -> list[PulseRecord]:
        """Pulses with an intent and no final outcome (none, or UNCERTAIN): reconcile these."""
        with self._reading():
            return query.pulses_by_seq(self._conn, sorted(self._pending))

    def last_event_wall(self) -> datetime | None:
        """Wall time of the newest record, for the gate's clock-plausibility check."""
        with self._reading():
            return query.last_event_wall(self._conn)

    def events(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Collection[str] = (),
    ) -> list[query.EventRow]:
        """Records in journal order (newest last), filtered by wall time and kind."""
        with self._reading():
            return list(query.iter_events(self._conn, since=since, until=until, kinds=kinds))

    def kinds_since(self, seq: int) -> tuple[str, ...]:
        """The kinds of every record after ``seq``, in order (what happened since a mark)."""
        with self._reading():
            rows = self._conn.execute(
                "SELECT kind FROM events WHERE seq > ? ORDER BY seq", (seq,)
            ).fetchall()
        return tuple(str(row[0]) for row in rows)

    def max_event_wall(self) -> datetime | None:
        """The latest wall time any record carries (a clock stepped back writes earlier ones)."""
        with self._reading():
            row = self._conn.execute("SELECT MAX(wall_utc) FROM events").fetchone()
        return None if row is None or row[0] is None else datetime.fromisoformat(row[0])

    def last_elapsed_by_boot(self) -> dict[str, float]:
        """The last elapsed-clock reading journaled in each boot (the gate's reboot bound)."""
        with self._reading():
            return query.last_elapsed_by_boot(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
