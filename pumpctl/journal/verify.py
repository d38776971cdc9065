"""Verify a journal file's hash chain and say precisely what is wrong with it.

The verifier walks the records in order, recomputes each link and, at the first bad record,
diagnoses the attack or accident: a record edited, removed, inserted, moved, records cut off the
end (against the published head or an anchor the caller kept), or a damaged file (SR-20).
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pumpctl.errors import JournalError, JournalTamperedError
from pumpctl.journal import integrity
from pumpctl.journal.integrity import REPAIRABLE, Diagnosis, Problem

__all__ = [
    "REPAIRABLE",
    "Diagnosis",
    "Problem",
    "VerifyResult",
    "verify",
    "verify_signature_of",
]
from pumpctl.journal.chain import (
    GENESIS_HASH,
    Head,
    head_path,
    read_head,
    read_sealed_head,
    record_bytes,
)
from pumpctl.journal.query import iter_events, one_commit_tail
from pumpctl.journal.schema import schema_version
from pumpctl.journal.signing import KEY_KINDS, KeyRecord, SignatureError, check_sealed_head
from pumpctl.journal.store import connect
from pumpctl.statefiles import StateFileError

_SELECT = (
    "SELECT seq, kind, wall_utc, utc_offset_min, elapsed_s, boot_id, payload, prev_hash, hash"
    " FROM events ORDER BY seq"
)


@dataclass(frozen=True)
class VerifyResult:
    """The verdict: ``ok`` with the head, or the first problem found."""

    path: Path
    records: int
    head: Head | None
    problem: Problem | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.problem is None

    def raise_for_problem(self) -> None:
        """Raise :class:`JournalTamperedError` describing the problem, if there is one."""
        if self.problem is not None:
            raise JournalTamperedError(self.problem.line(self.path))


Row = tuple[int, str, str, int, float, str, str, str, str]


def _self_hash_ok(row: Row) -> bool:
    _, kind, wall, offset, elapsed, boot, payload, prev_hash, stored = row
    try:
        body = record_bytes((kind, wall, offset, elapsed, boot, payload))
        return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest() == stored
    except (ValueError, TypeError, AttributeError):
        return False


def _seq_with_hash(conn: sqlite3.Connection, digest: str) -> int | None:
    row = conn.execute("SELECT seq FROM events WHERE hash = ?", (digest,)).fetchone()
    return None if row is None else int(row[0])


def _diagnose(
    conn: sqlite3.Connection, row: Row, expected_seq: int, expected_prev: str, after: Row | None
) -> Problem:
    """Name what is wrong with ``row``, the first record that does not continue the chain."""
    seq, kind = row[0], row[1]
    if seq > expected_seq:
        missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
        return Problem(Diagnosis.REMOVED, expected_seq, f"record(s) {missing} are missing")
    intact = _self_hash_ok(row)
    linked = _seq_with_hash(conn, row[7]) if intact else None
    if linked is not None and linked > seq:
        return Problem(
            Diagnosis.REORDERED,
            seq,
            f"record {seq} ({kind}) is out of order: it was written after record {linked}",
        )
    if after is not None and after[7] == expected_prev and _self_hash_ok(after):
        return Problem(
            Diagnosis.INSERTED,
            seq,
            f"record {seq} ({kind}) was inserted: record {after[0]} links past it to the one "
            "before",
        )
    if not intact:
        return Problem(
            Diagnosis.EDITED,
            seq,
            f"record {seq} ({kind}) was changed after it was written: its hash does not match "
            "its content",
        )
    if linked is not None:
        return Problem(
            Diagnosis.INSERTED,
            linked + 1,
            f"record(s) {linked + 1}..{seq - 1} were inserted: record {seq} links to record "
            f"{linked}",
        )
    return Problem(
        Diagnosis.BROKEN_LINK,
        seq,
        f"record {seq} ({kind}) links to a hash no record has: record {seq - 1} was edited and "
        f"re-hashed, or records before {seq} were removed and the rest renumbered",
    )


def _file_truncated(path: Path) -> str | None:
    """Compare the file's size with the size its SQLite header declares."""
    try:
        with path.open("rb") as f:
            header = f.read(100)
        size = path.stat().st_size
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return None
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    pages = struct.unpack(">I", header[28:32])[0]
    if pages and size < pages * page_size:
        return f"the file is {size} bytes but its header declares {pages * page_size}"
    return None


def _rows(conn: sqlite3.Connection) -> Iterator[Row]:
    has_events = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'"
    ).fetchone()[0]
    return iter(conn.execute(_SELECT) if has_events else ())


def _walk(
    conn: sqlite3.Connection, anchors: Sequence[Head], keep: list[Row] | None = None
) -> tuple[int, Head | None, Problem | None, dict[int, str]]:
    """One pass over the chain, with as little Python per record as the check allows: the
    link's bytes come from the previous verified hash, the record's bytes from
    :func:`record_bytes` (the one definition of what is hashed), nothing is decoded."""
    wanted = {a.seq for a in anchors}
    seen: dict[int, str] = {}
    expected_seq, expected_prev = 1, GENESIS_HASH
    link = bytes(32)  # the previous hash's bytes: GENESIS_HASH, then each verified record's
    sha256 = hashlib.sha256
    fromhex = bytes.fromhex
    rows = _rows(conn)
    for row in rows:
        seq, prev_hash, stored = row[0], row[7], row[8]
        try:
            good = (
                seq == expected_seq
                and prev_hash == expected_prev
                and sha256(link + record_bytes(row[1:7])).hexdigest() == stored
            )
        except (ValueError, TypeError, AttributeError):
            good = False
        if not good:
            problem = _diagnose(conn, row, expected_seq, expected_prev, next(rows, None))
            return expected_seq - 1, None, problem, seen
        if seq in wanted:
            seen[seq] = stored
        if keep is not None:
            keep.append(row)
        expected_seq, expected_prev, link = seq + 1, stored, fromhex(stored)
    last = expected_seq - 1
    return last, (Head(last, expected_prev) if last else None), None, seen


def _check_anchor(anchor: Head, label: str, last: int, seen: dict[int, str]) -> Problem | None:
    if anchor.seq == 0:  # published when the journal was created empty
        return None
    if anchor.seq > last:
        return Problem(
            Diagnosis.TRUNCATED,
            last + 1,
            f"the journal ends at record {last} but {label} is {anchor}: records "
            f"{last + 1}..{anchor.seq} were cut off",
        )
    if seen.get(anchor.seq) != anchor.hash:
        return Problem(
            Diagnosis.REWRITTEN,
            anchor.seq,
            f"record {anchor.seq} has hash {seen.get(anchor.seq)} but {label} is {anchor}: the "
            "chain up to it was rewritten",
        )
    return None


def _damaged(path: Path, err: BaseException) -> VerifyResult:
    return VerifyResult(
        path, 0, None, Problem(Diagnosis.CORRUPT, 0, f"the file is damaged ({err})")
    )


def _scan(
    path: Path, anchors: Sequence[Head], keep: list[Row] | None = None
) -> VerifyResult | tuple[int, Head | None, Problem | None, dict[int, str], Problem | None]:
    """Walk the chain; a damaged file becomes a CORRUPT result, an unreadable one an error."""
    try:
        conn = connect(path, writable=False)
    except JournalError as err:
        cause = err.__cause__
        if isinstance(cause, sqlite3.DatabaseError) and not isinstance(
            cause, sqlite3.OperationalError
        ):
            return _damaged(path, cause)
        raise
    try:
        page = integrity.page_problem(conn)
        if page is not None:
            return VerifyResult(path, 0, None, Problem(Diagnosis.CORRUPT, 0, page))
        # One read snapshot: the derived tables are compared with exactly the records walked.
        conn.execute("BEGIN")
        last, head, problem, seen = _walk(conn, anchors, keep)
        unchained = _integrity(conn) if problem is None else None
        conn.execute("COMMIT")
    except sqlite3.OperationalError as err:
        if "unable to open" in str(err):
            raise JournalError(f"journal {path} cannot be read ({err})") from err
        return _damaged(path, err)
    except sqlite3.DatabaseError as err:
        return _damaged(path, err)
    finally:
        conn.close()
    return last, head, problem, seen, unchained


def _integrity(conn: sqlite3.Connection) -> Problem | None:
    """What the chain does not cover, checked against it: the schema and the derived tables
    (compared in SQLite with the records the walk has just verified, in the same snapshot)."""
    schema = integrity.schema_problem(conn, version=schema_version(conn))
    if schema is not None:
        return Problem(Diagnosis.SCHEMA, 0, schema)
    version = schema_version(conn)
    derived = integrity.derived_problem(conn, version=version) if version >= 2 else None
    if derived is not None:
        return Problem(Diagnosis.DERIVED, 0, derived)
    return None


def verify(
    path: str | Path, anchor: Head | None = None, *, keep: list[Row] | None = None
) -> VerifyResult:
    """Check the whole chain of the journal at ``path``, against its head file and ``anchor``.

    ``keep``, when given, receives every record the walk found good, in order (the report
    decodes them instead of reading the journal a second time).

    Raises :class:`JournalError` only when the file cannot be read at all (missing, no
    permission); every sign of tampering or damage is reported in the result.
    """
    path = Path(path)
    try:
        published = read_head(path)
    except (OSError, ValueError, StateFileError) as err:
        return VerifyResult(
            path, 0, None, Problem(Diagnosis.HEAD_UNREADABLE, 0, f"its head cannot be read ({err})")
        )
    truncated = _file_truncated(path)
    if truncated is not None:
        return VerifyResult(path, 0, None, Problem(Diagnosis.TRUNCATED, 0, truncated))
    labelled = [(published, "the published head"), (anchor, "the anchor")]
    points = [(point, label) for point, label in labelled if point is not None]
    scanned = _scan(path, [point for point, _ in points if point.seq], keep)
    if isinstance(scanned, VerifyResult):
        return scanned
    last, head, problem, seen, unchained = scanned
    for point, label in points:
        problem = problem or _check_anchor(point, label, last, seen)
    if problem is None and last and published is None:
        problem = Problem(
            Diagnosis.HEAD_MISSING,
            0,
            f"{last} records but no published head ({head_path(path).name}): records cut off "
            "the end could not be detected",
        )
    if (
        problem is None
        and published is not None
        and last > published.seq + 1
        and not _one_commit_tail(path, published.seq)
    ):
        problem = Problem(
            Diagnosis.HEAD_MISSING,
            0,
            f"{last - published.seq} records follow the published head {published}; at most "
            "one commit is expected after a crash, so the head was replaced or not written",
        )
    return VerifyResult(path, last, head, problem or unchained)


def _one_commit_tail(path: Path, after_seq: int) -> bool:
    """What a crash between a commit and its head publication can leave (query.one_commit_tail)."""
    conn = connect(path, writable=False)
    try:
        return one_commit_tail(conn, after_seq)
    finally:
        conn.close()


def verify_signature_of(path: str | Path, trusted: bytes) -> str:
    """Check the published head's signature of a journal whose chain verified; returns the key id.

    ``trusted`` is the raw public key the caller trusts (``pumpctl keys show`` on the host).
    Raises :class:`SignatureError` saying what does not check out, :class:`JournalError` when
    the journal cannot be read.
    """
    path = Path(path)
    try:
        sealed = read_sealed_head(path)
    except (OSError, ValueError, StateFileError) as err:
        raise SignatureError(f"the published head cannot be read ({err})") from err
    if sealed is None:
        raise SignatureError("the journal has no published head to check the signature of")
    conn = connect(path, writable=False)
    try:
        records = [
            KeyRecord.from_payload(e.seq, e.kind, e.payload)
            for e in iter_events(conn, kinds=KEY_KINDS)
        ]
    except (sqlite3.Error, ValueError) as err:
        raise JournalError(f"journal {path}: key records cannot be read ({err})") from err
    finally:
        conn.close()
    head, seal = sealed
    return check_sealed_head(records, trusted, head, seal)
