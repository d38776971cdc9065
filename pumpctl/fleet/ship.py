"""Ship one host journal to the fleet server: new records and the signed head, in one transaction.

The server is the cursor: the shipper asks it which record it holds last for the journal and
sends the rest, up to the head the daemon signed, streamed with ``COPY`` in chunks, then the
head. Either the whole transaction commits or nothing does, so a crash, a dropped connection or
a server restart at any point leaves the server as it was, and the next run picks up from
there. Records the server holds already are skipped by the server (a replay changes nothing);
a record that differs from the one it holds is a fork, refused by both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from pumpctl.errors import JournalTamperedError
from pumpctl.fleet.db import (
    REFUSAL_CLASS,
    FleetError,
    FleetRejectedError,
    connect,
    describe,
    load_psycopg,
    one_line,
    require_schema,
)
from pumpctl.fleet.source import Source, local_hash, open_source, read_records
from pumpctl.journal.chain import Head

_log = structlog.get_logger()

#: Rows per COPY chunk sent to the server (the transaction still spans the whole shipment).
BATCH_ROWS = 1000


@dataclass(frozen=True)
class ShipResult:
    """What one run did: records ``first..last`` of ``journal_id`` sent (none: up to date)."""

    journal_id: str
    server: str
    held_before: int
    head: Head
    shipped: int

    @property
    def line(self) -> str:
        if not self.shipped:
            return (
                f"journal {self.journal_id} is up to date on {self.server} (record {self.head.seq})"
            )
        return (
            f"shipped {self.shipped} records of journal {self.journal_id} "
            f"({self.held_before + 1}..{self.head.seq}, head signed) to {self.server}"
        )


def _server_head(conn: Any, journal_id: str) -> Head | None:
    row = conn.execute(
        "SELECT seq, hash FROM pumpctl.records WHERE journal_id = %s ORDER BY seq DESC LIMIT 1",
        (journal_id,),
    ).fetchone()
    return None if row is None else Head(int(row[0]), str(row[1]))


def _server_hash(conn: Any, journal_id: str, seq: int) -> str | None:
    row = conn.execute(
        "SELECT hash FROM pumpctl.records WHERE journal_id = %s AND seq = %s", (journal_id, seq)
    ).fetchone()
    return None if row is None else str(row[0])


def _send(conn: Any, source: Source, held: Head | None, batch_rows: int) -> int:
    """Stream the records after ``held`` and the signed head; returns the number sent."""
    sent = 0
    with conn.cursor() as cur:
        records = read_records(source.path, held, source.head.seq)
        pending = True
        while pending:
            with cur.copy(
                "COPY pumpctl.records (journal_id, seq, body, prev_hash, hash) FROM STDIN"
            ) as copy:
                count = 0
                for seq, body, prev_hash, digest in records:
                    copy.write_row((source.journal_id, seq, body, prev_hash, digest))
                    count += 1
                    if count == batch_rows:
                        break
                else:
                    pending = False
            sent += count
        cur.execute(
            "INSERT INTO pumpctl.heads (journal_id, seq, hash, key_id, signature)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                source.journal_id,
                source.head.seq,
                source.head.hash,
                source.seal.key_id,
                bytes.fromhex(source.seal.signature),
            ),
        )
    return sent


def _ship(conn: Any, source: Source, where: str, batch_rows: int) -> tuple[Head | None, int]:
    """One transaction: check the server's copy against the host's, then send what is new."""
    with conn.transaction():
        held = _server_head(conn, source.journal_id)
        if held is not None and held.seq >= source.head.seq:
            theirs = _server_hash(conn, source.journal_id, source.head.seq)
            if theirs != source.head.hash:
                raise FleetRejectedError(
                    f"fork: the fleet server {where} holds a different record "
                    f"{source.head.seq} of journal {source.journal_id}: the host journal "
                    "was rewritten or restored from an older copy"
                )
            if held.seq > source.head.seq and local_hash(source.path, held.seq) != held.hash:
                # The host has no record the server holds (a head read before another
                # shipper's run finds the record there: that is a race, not a rollback).
                raise FleetRejectedError(
                    f"journal {source.journal_id} on this host ends at signed record "
                    f"{source.head.seq}, but the fleet server {where} already holds records up "
                    f"to {held.seq}: the host journal was cut short or restored from an older "
                    "copy (the server keeps its records)"
                )
            return held, 0
        if held is not None and local_hash(source.path, held.seq) != held.hash:
            raise FleetRejectedError(
                f"fork: record {held.seq} of journal {source.journal_id} differs between "
                f"the host and the fleet server {where}: the host journal was rewritten"
            )
        return held, _send(conn, source, held, batch_rows)


def _record_refusal(conn: Any, source: Source, reason: str) -> None:
    """Leave the refusal where the data manager looks (fleet status); best effort only."""
    pg = load_psycopg()
    try:
        conn.rollback()
        with conn.transaction():
            conn.execute(
                "INSERT INTO pumpctl.refusals (journal_id, host_seq, reason) VALUES (%s, %s, %s)",
                (source.journal_id, source.head.seq, reason[:2000]),
            )
    except pg.Error as err:
        _log.warning("fleet.refusal_not_recorded", error=one_line(err))


def ship_journal(
    journal_path: Path, dsn: str, *, batch_rows: int = BATCH_ROWS, timeout_s: int = 10
) -> ShipResult:
    """Copy the journal's new records and its signed head to the fleet server at ``dsn``.

    Raises :class:`FleetError` when the server cannot be reached or used (try again later),
    :class:`FleetRejectedError` (exit 3) when it refuses the records, and
    :class:`JournalTamperedError` when the host journal itself does not verify.
    """
    pg = load_psycopg()
    source = open_source(journal_path)
    if local_hash(source.path, source.head.seq) != source.head.hash:
        raise JournalTamperedError(
            f"journal {journal_path}: record {source.head.seq} does not match the signed head; "
            "nothing is shipped (run pumpctl log verify)"
        )
    where = describe(dsn)
    conn = connect(dsn, timeout_s=timeout_s, application="pumpctl ship")
    try:
        require_schema(conn, where)
        try:
            held, sent = _ship(conn, source, where, batch_rows)
        except JournalTamperedError as err:  # a fork, or a host chain broken past the server's
            _record_refusal(conn, source, str(err))
            raise
        except pg.Error as err:
            state = getattr(err, "sqlstate", None) or ""
            if not state.startswith(REFUSAL_CLASS):
                raise
            refused = FleetRejectedError(
                f"the fleet server {where} refused journal {source.journal_id}: {one_line(err)}"
            )
            _record_refusal(conn, source, str(refused))
            raise refused from err
    except pg.Error as err:
        raise FleetError(
            f"shipping journal {source.journal_id} to {where} failed, nothing was committed "
            f"(the next run resumes): {one_line(err)}"
        ) from err
    finally:
        conn.close()
    if sent == 0:
        return ShipResult(source.journal_id, where, source.head.seq, source.head, 0)
    result = ShipResult(
        source.journal_id, where, 0 if held is None else held.seq, source.head, sent
    )
    _log.info(
        "fleet.shipped",
        journal_id=source.journal_id,
        records=sent,
        head=source.head.seq,
        server=where,
    )
    return result
