"""Read the fleet back: which journals the server holds, and each one's records as report input.

Records are read only up to the journal's signed head and their chain is checked again here,
so a report from the server says as much about integrity as one from the host file. Reports
go through :func:`pumpctl.report.report_from_events`, the single-host fold.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pumpctl.journal.chain import GENESIS_HASH, Head
from pumpctl.journal.query import EventRow
from pumpctl.journal.signing import (
    KEY_KINDS,
    KeyRecord,
    SignatureError,
    head_message,
    rotation_message,
    verify_signature,
)
from pumpctl.report.assemble import CONTEXT_KINDS, READ_MARGIN
from pumpctl.report.build import journal_urn
from pumpctl.report.model import Integrity

#: A last record stamped more than this after the server received it: the host clock is ahead.
CLOCK_AHEAD_TOLERANCE = timedelta(minutes=2)


@dataclass(frozen=True)
class JournalSummary:
    """One shipped journal as the server holds it.

    ``last_wall`` is the host's own time on its last signed record; ``last_shipped`` is the
    server's time when that head arrived. A record cannot be written after it was shipped, so
    ``last_wall`` later than ``last_shipped`` measures how far the host's clock runs ahead.
    """

    journal_id: str
    study: str
    subject_id: str
    pump_label: str
    signed_seq: int
    signed_key_id: str | None
    last_wall: datetime | None
    last_shipped: datetime | None
    unvouched_keys: int
    #: Shipments refused since the last accepted one, and the latest refusal's reason.
    refusals: int = 0
    last_refusal: str | None = None
    last_refused_at: datetime | None = None

    @property
    def clock_ahead(self) -> timedelta | None:
        """How far the host clock ran ahead of the server's, beyond the tolerance (or None)."""
        if self.last_wall is None or self.last_shipped is None:
            return None
        ahead = self.last_wall - self.last_shipped
        return ahead if ahead > CLOCK_AHEAD_TOLERANCE else None

    def notes(self) -> list[str]:
        """What a data manager should look at for this journal, one sentence each."""
        found: list[str] = []
        if self.refusals:
            when = (
                ""
                if self.last_refused_at is None
                else self.last_refused_at.isoformat("T", "minutes")
            )
            never = " (nothing of it was ever accepted)" if not self.signed_seq else ""
            found.append(
                f"{self.refusals} shipment(s) refused since the last accepted one{never}, "
                f"latest {when}: {self.last_refusal}"
            )
        ahead = self.clock_ahead
        if ahead is not None:
            minutes = int(ahead.total_seconds() // 60)
            found.append(
                f"the host clock runs about {minutes} min ahead of the server's (its last record "
                "is stamped after the server received it); its times in reports are the host's"
            )
        return found

    def as_json(self) -> dict[str, Any]:
        ahead = self.clock_ahead
        return {
            "journal_id": self.journal_id,
            "study": self.study,
            "subject_id": self.subject_id,
            "pump_label": self.pump_label,
            "records": self.signed_seq,
            "signed_key_id": self.signed_key_id,
            "last_record": self.last_wall,
            "last_shipped": self.last_shipped,
            "unvouched_keys": self.unvouched_keys,
            "refusals": self.refusals,
            "last_refusal": self.last_refusal,
            "last_refused_at": self.last_refused_at,
            "clock_ahead_s": None if ahead is None else int(ahead.total_seconds()),
            "notes": self.notes(),
        }


_SUMMARY = """
WITH ids AS (
    SELECT journal_id FROM pumpctl.journals
    UNION SELECT journal_id FROM pumpctl.refusals
), refused AS (
    SELECT r.journal_id, count(*) AS n, max(r.refused_at) AS latest,
           (array_agg(r.reason ORDER BY r.refused_at DESC))[1] AS reason
      FROM pumpctl.refusals AS r
      LEFT JOIN pumpctl.journals AS x ON x.journal_id = r.journal_id
     WHERE x.last_shipped IS NULL OR r.refused_at > x.last_shipped
     GROUP BY r.journal_id
)
SELECT i.journal_id, coalesce(j.study, ''), coalesce(j.subject_id, ''),
       coalesce(j.pump_label, ''), coalesce(j.signed_seq, 0), j.signed_key_id,
       j.last_wall, j.last_shipped,
       (SELECT count(*) FROM pumpctl.keys AS k WHERE k.journal_id = i.journal_id AND NOT k.vouched),
       coalesce(f.n, 0), f.reason, f.latest
FROM ids AS i
LEFT JOIN pumpctl.journals AS j ON j.journal_id = i.journal_id
LEFT JOIN refused AS f ON f.journal_id = i.journal_id
"""


def list_journals(
    conn: Any,
    *,
    study: str | None = None,
    subject: str | None = None,
    pump: str | None = None,
    journal_id: str | None = None,
    refused_only: bool = False,
) -> list[JournalSummary]:
    """Shipped journals matching every filter given, by study, subject, pump, then journal.

    ``journal_id`` may be a prefix (``fleet status`` prints the first 12 characters). With
    ``refused_only``, journals the server never accepted a record of but refused are listed too.
    """
    clauses: list[str] = []
    params: list[Any] = []
    if not refused_only:
        clauses.append("j.journal_id IS NOT NULL")
    for column, value in (
        ("j.study", study),
        ("j.subject_id", subject),
        ("j.pump_label", pump),
    ):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if journal_id is not None:
        clauses.append("starts_with(i.journal_id, %s)")
        params.append(journal_id)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    order = " ORDER BY j.study, j.subject_id, j.pump_label, i.journal_id"
    rows = conn.execute(_SUMMARY + where + order, params).fetchall()
    return [
        JournalSummary(
            journal_id=r[0],
            study=r[1],
            subject_id=r[2],
            pump_label=r[3],
            signed_seq=int(r[4]),
            signed_key_id=r[5],
            last_wall=r[6],
            last_shipped=r[7],
            unvouched_keys=int(r[8]),
            refusals=int(r[9]),
            last_refusal=r[10],
            last_refused_at=r[11],
        )
        for r in rows
    ]


def _event(seq: int, body: str, digest: str) -> EventRow:
    doc = json.loads(body)
    return EventRow(
        seq=seq,
        kind=doc["kind"],
        wall=datetime.fromisoformat(doc["wall_utc"]),
        utc_offset_min=int(doc["utc_offset_min"]),
        elapsed_s=float(doc["elapsed_s"]),
        boot_id=doc["boot_id"],
        payload=doc["payload"],
        hash=digest,
    )


def read_journal(
    conn: Any, journal: JournalSummary, *, since: datetime | None = None
) -> tuple[list[EventRow], Integrity, str | None]:
    """The journal's records up to its signed head, re-verified, as the report reads a file,
    with the journal's URN (:func:`pumpctl.report.build.journal_urn`, as the host's report has).

    With ``since``, only what the single-host report reads for that period: the records from a
    margin before it, plus the whole-therapy context records before that. The chain is checked
    over every record either way (hashing is cheap; parsing is what ``since`` saves).
    """
    first_kept = None if since is None else since - READ_MARGIN
    events: list[EventRow] = []
    key_events: list[EventRow] = []
    problem: str | None = None
    expected_seq, prev = 1, GENESIS_HASH
    first_hash: str | None = None
    cursor = conn.cursor(name=f"pumpctl_read_{journal.journal_id}")
    cursor.itersize = 5000
    cursor.execute(
        "SELECT seq, kind, wall_utc, body, prev_hash, hash FROM pumpctl.records"
        " WHERE journal_id = %s AND seq <= %s ORDER BY seq",
        (journal.journal_id, journal.signed_seq),
    )
    sha256, fromhex = hashlib.sha256, bytes.fromhex
    for seq, kind, wall, body, prev_hash, digest in cursor:
        if problem is None and (
            seq != expected_seq
            or prev_hash != prev
            or sha256(fromhex(prev_hash) + body.encode("utf-8")).hexdigest() != digest
        ):
            problem = f"record {seq} of the server's copy does not continue the chain"
        expected_seq, prev = seq + 1, digest
        if seq == 1:
            first_hash = digest
        if kind in KEY_KINDS:
            key_events.append(_event(seq, body, digest))
        if first_kept is None or wall >= first_kept or kind in CONTEXT_KINDS:
            events.append(_event(seq, body, digest))
    cursor.close()
    if problem is None and expected_seq - 1 != journal.signed_seq:
        problem = (
            f"the server holds {expected_seq - 1} records but signed head {journal.signed_seq}"
        )
    if problem is None and prev != _signed_hash(conn, journal):
        problem = "the last record does not match the signed head"
    signer: str | None = None
    if problem is None and journal.signed_seq:
        try:
            signer = _check_signed_head(conn, journal, Head(journal.signed_seq, prev), key_events)
        except SignatureError as err:
            problem = f"the server's copy: {err}"
    conn.rollback()
    records = expected_seq - 1
    warnings: Sequence[str] = ()
    if journal.last_shipped is not None:
        signed = "" if signer is None else f", head signed by key {signer}"
        warnings = (
            f"fleet copy, last shipped {journal.last_shipped.isoformat(timespec='seconds')}"
            f"{signed}: the host journal may hold newer records",
        )
    integrity = Integrity(
        ok=problem is None,
        records=records,
        head_seq=records or None,
        head_hash=prev if records else None,
        problem=problem,
        warnings=tuple(warnings),
    )
    return events, integrity, None if first_hash is None else journal_urn(first_hash)


def _check_signed_head(
    conn: Any, journal: JournalSummary, head: Head, key_events: Sequence[EventRow]
) -> str:
    """Check the signed head again, here, with the keys the shipped chain itself names.

    The server checked it on insert; checking it again at read time means that someone who
    edits the server's tables behind its triggers must also forge the host's signature. The
    first key is the journal's own (as on the server, trusted on first use); each rotation must
    carry the outgoing key's signature, and a replacement must have been accepted by an
    administrator (``fleet accept-key``). Returns the signing key's id.
    """
    row = conn.execute(
        "SELECT key_id, signature FROM pumpctl.heads WHERE journal_id = %s AND seq = %s",
        (journal.journal_id, head.seq),
    ).fetchone()
    if row is None:
        raise SignatureError(f"no signed head is held for record {head.seq}")
    accepted = {
        str(r[0])
        for r in conn.execute(
            "SELECT key_id FROM pumpctl.accepted_keys WHERE journal_id = %s",
            (journal.journal_id,),
        ).fetchall()
    }
    keys = [KeyRecord.from_payload(e.seq, e.kind, e.payload) for e in key_events]
    if not keys or keys[0].kind != "key.enrolled":
        raise SignatureError("the chain does not begin its keys with an enrolment")
    current = keys[0]
    for record in keys[1:]:
        if record.journal_id != journal.journal_id:
            raise SignatureError(f"record {record.seq} is a key record for another journal")
        if record.kind == "key.rotated":
            message = rotation_message(journal.journal_id, record.public_key)
            if not verify_signature(current.public_key, message, record.rotation_signature or b""):
                raise SignatureError(
                    f"record {record.seq} rotates to key {record.key_id}, but the rotation "
                    f"signature does not verify with key {current.key_id}"
                )
        elif record.key_id not in accepted:
            raise SignatureError(
                f"record {record.seq} replaced key {current.key_id} by {record.key_id} without "
                "the old key's signature, and nobody accepted it"
            )
        current = record
    if current.journal_id != journal.journal_id or str(row[0]) != current.key_id:
        raise SignatureError(
            f"head {head.seq} is signed by key {row[0]}, but key {current.key_id} is in force"
        )
    if not verify_signature(
        current.public_key, head_message(journal.journal_id, head), bytes(row[1])
    ):
        raise SignatureError(
            f"the signature of head {head.seq} does not verify with key {current.key_id}"
        )
    return current.key_id


def _signed_hash(conn: Any, journal: JournalSummary) -> str | None:
    row = conn.execute(
        "SELECT signed_hash FROM pumpctl.journals WHERE journal_id = %s", (journal.journal_id,)
    ).fetchone()
    return None if row is None else row[0]
