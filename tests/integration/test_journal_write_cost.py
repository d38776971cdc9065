"""What one commit writes: pages of the write-ahead log per record (issue 13, journal commits;
docs/journal.md, "Write cost").

Counted, not timed: the number of WAL frames a commit appends is a property of the schema and
the page size, the same on any host.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Slot
from pumpctl.journal import Journal, schema
from pumpctl.journal.verify import verify

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WAL_HEADER, FRAME_HEADER = 32, 24


def _slot(n: int) -> Slot:
    return Slot(f"slot-{n:04d}", T0, 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])


def _frames(path: Path, page_size: int) -> int:
    wal = Path(f"{path}-wal")
    size = wal.stat().st_size if wal.exists() else 0
    return max(0, size - WAL_HEADER) // (page_size + FRAME_HEADER)


def test_pages_written_per_commit(tmp_path: Path) -> None:
    """An intent touches the events table, its two indexes, the pulses table and its three
    indexes: at most about 7 pages a commit on average (page splits add a few); any other
    record touches 3. The head read inside the transaction writes nothing."""
    path = tmp_path / "journal.db"
    count = 40  # few enough that no automatic checkpoint resets the log (1000 frames)
    with Journal(path, VirtualClock(T0)) as journal:
        journal.record_intent(_slot(0))
        size = _page_size(path)
        before = _frames(path, size)
        for n in range(1, count + 1):
            journal.record_intent(_slot(n), pump_settings={"VOL": "50", "RAT": "50"})
        after_intents = _frames(path, size)
        for _ in range(count):
            journal.append("operator.action", {"peer": {"uid": 1000, "pid": 42}, "action": "x"})
        after_others = _frames(path, size)
    per_intent = (after_intents - before) / count
    per_other = (after_others - after_intents) / count
    assert 7 <= per_intent <= 8
    assert 3 <= per_other <= 4
    # A new journal's pages are 2048 bytes: an intent's commit writes about 15 KB, not 30.
    assert size == 2048
    assert per_intent * (size + FRAME_HEADER) < 16_500


def test_a_journal_created_with_4096_byte_pages_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a new (empty) file takes the smaller page size: a journal written by an earlier
    pumpctl (SQLite's default 4096) is opened, appended to and verified as it is."""
    path = tmp_path / "journal.db"
    monkeypatch.setattr(schema, "PAGE_SIZE", 4096)
    with Journal(path, VirtualClock(T0)) as journal:
        journal.record_intent(_slot(0))
    monkeypatch.undo()
    assert schema.PAGE_SIZE == 2048
    with Journal(path, VirtualClock(T0)) as journal:
        journal.record_intent(_slot(1))
    assert _page_size(path) == 4096
    result = verify(path)
    assert result.ok and result.records == 2


def test_arming_folds_the_log_into_the_database_before_the_slot(tmp_path: Path) -> None:
    """Once a bolus is armed the write-ahead log is checkpointed, so SQLite's automatic
    checkpoint (every 1000 pages) does not land in the slot's intent commit, between the slot
    and RUN (issue 13, onset tail). Seen from the database file alone: without the log beside it,
    it already holds every record up to ``pulse.armed``."""
    path = tmp_path / "journal.db"
    with Journal(path, VirtualClock(T0)) as journal:
        journal.record_daemon_start("0.1.0", "digest")
        for n in range(20):
            journal.record_pulse_start(_slot(n), pump_settings={"volume_ul": "50"})
        armed = journal.record_armed(_slot(20), read_back={"volume": "50"})
        alone = tmp_path / "alone.db"
        alone.write_bytes(path.read_bytes())  # the database file without its -wal
        with sqlite3.connect(alone) as conn:
            last = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        assert last == armed.seq
