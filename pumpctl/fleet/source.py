"""The host journal as the shipper sees it: opened read-only, read in short chunks, checked.

The signed head is read first; records are then read up to it, each chunk its own short read
so the daemon's writes and checkpoints never wait on a shipper. Every record's link and hash
are checked before it leaves the host: a broken journal is reported here, not by the server.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pumpctl.errors import JournalError, JournalTamperedError
from pumpctl.fleet.db import FleetError
from pumpctl.journal.chain import GENESIS_HASH, Head, Seal, read_sealed_head, record_bytes
from pumpctl.journal.store import connect

#: Records read per chunk (one short read transaction each).
CHUNK_RECORDS = 2000
_HEAD_READ_TRIES = 3


class ShippedRecord(tuple[int, str, str, str]):
    """(seq, body, prev_hash, hash): the exact hashed bytes and the chain link of one record."""

    __slots__ = ()


@dataclass(frozen=True)
class Source:
    """A host journal ready to ship: its signed head names the journal and the key."""

    path: Path
    head: Head
    seal: Seal

    @property
    def journal_id(self) -> str:
        return self.seal.journal_id


def open_source(path: Path) -> Source:
    """The journal's signed head, or one clear error when there is nothing signed to ship."""
    if not path.exists():
        raise JournalError(f"journal {path} does not exist")
    for attempt in range(_HEAD_READ_TRIES):
        try:
            sealed = read_sealed_head(path)
            break
        except (OSError, ValueError) as err:
            # The daemon rewrites the head in place; a read may catch it half-written.
            if attempt == _HEAD_READ_TRIES - 1:
                raise JournalError(f"journal {path}: its head cannot be read ({err})") from err
            time.sleep(0.05)
    if sealed is None:
        raise FleetError(f"journal {path} has no published head yet: nothing to ship")
    head, seal = sealed
    if seal is None:
        raise FleetError(
            f"journal {path}: its head is not signed; start the daemon once with this pumpctl "
            "(it enrols a signing key), then ship"
        )
    return Source(path, head, seal)


def local_hash(path: Path, seq: int) -> str | None:
    """The hash of the host journal's record ``seq`` (None: it has no such record)."""
    conn = connect(path, writable=False)
    try:
        row = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
    except sqlite3.Error as err:
        raise JournalError(f"journal {path}: records cannot be read ({err})") from err
    finally:
        conn.close()
    return None if row is None else str(row[0])


def read_records(path: Path, after: Head | None, upto: int) -> Iterator[ShippedRecord]:
    """Records ``after.seq + 1 .. upto`` with their hashed bytes, each link checked on the way
    (the first against ``after``, the record the server holds last).

        Raises :class:`JournalTamperedError` at the first record that does not continue the chain.
    """
    conn = connect(path, writable=False)
    try:
        seq, prev = (0, GENESIS_HASH) if after is None else (after.seq, after.hash)
        while seq < upto:
            rows = conn.execute(
                "SELECT seq, kind, wall_utc, utc_offset_min, elapsed_s, boot_id, payload,"
                " prev_hash, hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (seq, upto, CHUNK_RECORDS),
            ).fetchall()
            if not rows:
                raise JournalTamperedError(
                    f"journal {path} ends at record {seq} but its signed head is record {upto}"
                )
            for row in rows:
                body = record_bytes(row[1:7])
                digest = hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
                if row[0] != seq + 1 or row[7] != prev or digest != row[8]:
                    raise JournalTamperedError(
                        f"journal {path}: record {seq + 1} does not continue the chain; "
                        "nothing is shipped (run pumpctl log verify)"
                    )
                seq, prev = row[0], row[8]
                yield ShippedRecord((seq, body.decode("ascii"), row[7], row[8]))
    except sqlite3.Error as err:
        raise JournalError(f"journal {path}: records cannot be read ({err})") from err
    finally:
        conn.close()
