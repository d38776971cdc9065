"""Read-side queries over an open journal connection: the gate's pulse history and event listings.

The history is one indexed query over the derived ``pulses`` tables, never a replay of the events.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pumpctl.core.clock import seconds_to_us
from pumpctl.core.model import Moment, Outcome, PulseRecord
from pumpctl.journal.events import utc_text

# The start bound: the pump's confirmation of RUN, or else the first record that settled the
# pulse (any motion began before it was written); see PulseRecord.started. Whether its RUN was
# sent: see PulseRecord.run_sent.
_PULSE_SELECT = """
SELECT p.intent_seq, p.slot_id, p.intent_wall, p.elapsed_s, p.boot_id, p.dose_ug, p.volume_ul,
       p.duration_s, o.outcome, o.delivered_volume_ul,
       coalesce(s.wall_utc, f.wall_utc), coalesce(s.elapsed_s, f.elapsed_s),
       coalesce(s.boot_id, f.boot_id),
       EXISTS (SELECT 1 FROM pulse_runs WHERE intent_seq = p.intent_seq)
FROM pulses AS p
LEFT JOIN pulse_outcomes AS o
  ON o.seq = (SELECT max(seq) FROM pulse_outcomes WHERE intent_seq = p.intent_seq)
LEFT JOIN events AS s
  ON s.seq = (SELECT min(seq) FROM pulse_starts WHERE intent_seq = p.intent_seq)
LEFT JOIN events AS f
  ON f.seq = (SELECT min(seq) FROM pulse_outcomes WHERE intent_seq = p.intent_seq)
"""


@dataclass(frozen=True)
class EventRow:
    """One journal record as read back."""

    seq: int
    kind: str
    wall: datetime
    utc_offset_min: int
    elapsed_s: float
    boot_id: str
    payload: dict[str, Any]
    hash: str


def _pulse(row: sqlite3.Row | tuple[Any, ...]) -> PulseRecord:
    (_, slot_id, wall, elapsed_s, boot_id, dose, volume, duration, outcome, delivered) = row[:10]
    start_wall, start_elapsed_s, start_boot, run_sent = row[10:14]
    started = None
    if start_wall is not None:
        started = Moment(
            datetime.fromisoformat(start_wall), seconds_to_us(float(start_elapsed_s)), start_boot
        )
    return PulseRecord(
        slot_id=slot_id,
        intent_wall=datetime.fromisoformat(wall),
        intent_elapsed_s=float(elapsed_s),
        boot_id=boot_id,
        dose_ug=Decimal(dose),
        volume_ul=Decimal(volume),
        duration_s=Decimal(duration),
        outcome=None if outcome is None else Outcome(outcome),
        delivered_volume_ul=None if delivered is None else Decimal(delivered),
        started=started,
        run_sent=bool(run_sent),
    )


def pulse_history(
    conn: sqlite3.Connection,
    since: datetime,
    pending_seqs: Collection[int] = (),
    *,
    boot_since: tuple[str, float] | None = None,
) -> list[PulseRecord]:
    """Pulses whose intent was recorded at or after ``since``, plus every still-pending one.

    Pending pulses are included whatever their age, because an uncertain pulse blocks the next
    one however long ago it was commanded (SR-09). ``boot_since`` (boot id, elapsed reading)
    adds the pulses of that boot from that elapsed reading on, whatever their wall time says.
    Ordered by journal sequence.
    """
    params: list[Any] = [utc_text(since)]
    if boot_since is not None:
        params.extend(boot_since)
    params.extend(pending_seqs)
    rows = conn.execute(history_sql(len(pending_seqs), by_boot=boot_since is not None), params)
    return [_pulse(r) for r in sorted(rows, key=lambda r: int(r[0]))]


def history_sql(pending_count: int, *, by_boot: bool = False) -> str:
    """The history query: each alternative is answered from its own index, then united."""
    where = "p.intent_wall >= ?"
    if by_boot:
        where += " OR (p.boot_id = ? AND p.elapsed_s >= ?)"
    if pending_count:
        where += f" OR p.intent_seq IN ({','.join('?' * pending_count)})"
    return f"{_PULSE_SELECT} WHERE {where}"


def pulses_by_seq(conn: sqlite3.Connection, intent_seqs: Collection[int]) -> list[PulseRecord]:
    """The pulses with these intent sequence numbers, in journal order."""
    if not intent_seqs:
        return []
    marks = ",".join("?" * len(intent_seqs))
    rows = conn.execute(
        f"{_PULSE_SELECT} WHERE p.intent_seq IN ({marks}) ORDER BY p.intent_seq",
        list(intent_seqs),
    )
    return [_pulse(r) for r in rows]


def pending_intent_seqs(conn: sqlite3.Connection) -> set[int]:
    """Intents whose latest outcome is missing or UNCERTAIN (a scan; run once at open)."""
    rows = conn.execute(
        f"{_PULSE_SELECT} WHERE o.outcome IS NULL OR o.outcome = ?",
        (Outcome.UNCERTAIN.value,),
    )
    return {int(r[0]) for r in rows}


def last_elapsed_by_boot(conn: sqlite3.Connection) -> dict[str, float]:
    """The last elapsed-clock reading journaled in each boot (the gate's reboot bound)."""
    rows = conn.execute("SELECT boot_id, MAX(elapsed_s) FROM events GROUP BY boot_id").fetchall()
    return {str(boot): float(elapsed) for boot, elapsed in rows}


def last_event_wall(conn: sqlite3.Connection) -> datetime | None:
    row = conn.execute("SELECT wall_utc FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else datetime.fromisoformat(row[0])


def iter_events(
    conn: sqlite3.Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: Collection[str] = (),
) -> Iterator[EventRow]:
    """Records in journal order (newest last), filtered by wall time and kind."""
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("wall_utc >= ?")
        params.append(utc_text(since))
    if until is not None:
        clauses.append("wall_utc < ?")
        params.append(utc_text(until))
    if kinds:
        clauses.append(f"kind IN ({','.join('?' * len(kinds))})")
        params.extend(kinds)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    columns = "seq, kind, wall_utc, utc_offset_min, elapsed_s, boot_id, payload, hash"
    sql = f"SELECT {columns} FROM events{where} ORDER BY seq"  # noqa: S608  (only placeholders and constant clauses are formatted in)
    for seq, kind, wall, offset, elapsed_s, boot_id, payload, hash_ in conn.execute(sql, params):
        yield EventRow(
            seq=seq,
            kind=kind,
            wall=datetime.fromisoformat(wall),
            utc_offset_min=offset,
            elapsed_s=elapsed_s,
            boot_id=boot_id,
            payload=json.loads(payload),
            hash=hash_,
        )


#: The kinds one commit may leave after the published head, besides a single record: a pulse
#: start (the gate's allow when not on record yet, the intent, the RUN record, of one slot).
PULSE_START_COMMITS = (
    ("gate.decision", "pulse.intent", "pulse.run"),
    ("pulse.intent", "pulse.run"),
)


def one_commit_tail(conn: sqlite3.Connection, after_seq: int) -> bool:
    """Whether the records after ``after_seq`` are what one commit writes: none or one record,
    or one pulse start of one slot. A crash can leave that much after the published head;
    more means the head was replaced or not written."""
    rows = conn.execute(
        "SELECT kind, payload FROM events WHERE seq > ? ORDER BY seq LIMIT 4", (after_seq,)
    ).fetchall()
    if len(rows) <= 1:
        return True
    kinds = tuple(str(kind) for kind, _ in rows)
    if kinds not in PULSE_START_COMMITS:
        return False
    slots = {json.loads(payload).get("slot_id") for _, payload in rows}
    return len(slots) == 1
