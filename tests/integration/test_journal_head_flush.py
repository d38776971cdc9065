"""SR-20: what a power cut leaves of the journal and its head is what open and verify accept.

An append commits (SQLite's COMMIT fsyncs the WAL), then writes its head in place and
fdatasyncs it before it returns; the pulse start's commit holds its head back until RUN is out
(``publish_head``). A power cut at any moment, including between a commit and its head's
flush, therefore leaves at most one commit after the durable head, which open and
``log verify`` accept, and never more, which they refuse. The power cut is modelled by what
reached the disk: every committed record and the head file as it was at its last fdatasync.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.errors import JournalTamperedError
from pumpctl.journal import Journal
from pumpctl.journal.chain import Head, head_path, read_head
from pumpctl.journal.verify import Diagnosis, verify

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Disk:
    """What a power cut leaves of the head file: its content at the last fdatasync of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_bytes: bytes | None = None
        #: (seq of the head flushed, last committed seq at that moment), one per head flush.
        self.flushes: list[tuple[int, int]] = []
        #: Where to leave a power-cut copy at each head flush, just before it (None: don't).
        self.cuts_into: Path | None = None
        self.cuts: list[Path] = []

    def last_committed(self) -> int:
        if not self.path.exists():
            return 0
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'events'")
            if not tables.fetchone()[0]:
                return 0
            return int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
        finally:
            conn.close()

    def power_cut(self, into: Path) -> Path:
        """A copy of the journal as a power cut now would leave it."""
        into.mkdir()
        copy = into / self.path.name
        for suffix in ("", "-wal"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                shutil.copyfile(source, Path(f"{copy}{suffix}"))
        if self.head_bytes is not None:
            head_path(copy).write_bytes(self.head_bytes)
        return copy


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    recorder = Disk(tmp_path / "journal.db")
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        is_head = os.readlink(f"/proc/self/fd/{fd}") == str(head_path(recorder.path))
        if is_head and recorder.cuts_into is not None and recorder.head_bytes is not None:
            # The power fails after the commit, before its head reaches the disk.
            cut = recorder.power_cut(recorder.cuts_into / f"mid-{len(recorder.cuts)}")
            recorder.cuts.append(cut)
        real(fd)
        if is_head:
            recorder.head_bytes = head_path(recorder.path).read_bytes()
            head = read_head(recorder.path)
            assert head is not None
            recorder.flushes.append((head.seq, recorder.last_committed()))

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    yield recorder


def _slot(n: int, clock: VirtualClock) -> Slot:
    return Slot(f"s{n}", clock.now(), 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))


def _steps(journal: Journal, clock: VirtualClock) -> Iterator[str]:
    """The daemon's appends over two pulses; yields after each, naming it."""
    journal.record_daemon_start("0.1.0", "digest")
    yield "daemon.start"
    for n in range(2):
        slot = _slot(n, clock)
        journal.record_pulse_start(slot, pump_settings={"volume_ul": "50"})
        yield f"pulse start {n} (head held back for RUN)"
        journal.publish_head()
        yield f"head after RUN {n}"
        journal.record_started(slot.slot_id)
        yield f"started {n}"
        clock.advance(60)
        journal.record_outcome(slot.slot_id, Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
        yield f"outcome {n}"
        clock.advance(5340)


def test_each_head_is_durable_before_its_append_returns(disk: Disk) -> None:
    """SR-20: every head is flushed while it is the journal's last record, before the append
    (or ``publish_head`` after RUN) returns; only the pulse start's commit is held back, for
    the moment RUN takes."""
    clock = VirtualClock(T0)
    with Journal(disk.path, clock) as journal:
        for step in _steps(journal, clock):
            durable = disk.flushes[-1][0]
            assert journal.head is not None
            if step.startswith("pulse start"):
                assert durable < journal.head.seq, step
            else:
                assert durable == journal.head.seq, step
    # Every head published was flushed (the new journal's empty head first), each while no
    # later record was committed yet.
    assert [seq for seq, _ in disk.flushes] == [0, 1, 3, 4, 5, 7, 8, 9], disk.flushes
    for head_seq, committed in disk.flushes:
        assert head_seq == committed, disk.flushes


def test_a_power_cut_at_any_point_leaves_a_journal_that_opens_and_verifies(
    disk: Disk, tmp_path: Path
) -> None:
    """SR-20: after every append of two pulses, and between every commit and its head's flush,
    what a power cut leaves (all committed records, the head at its last flush) is at most one
    commit past the durable head: verify passes and the daemon opens it."""
    clock = VirtualClock(T0)
    disk.cuts_into = tmp_path
    copies: list[Path] = []
    with Journal(disk.path, clock) as journal:
        for n, _ in enumerate(_steps(journal, clock)):
            copies.append(disk.power_cut(tmp_path / f"after-{n}"))
    assert len(disk.cuts) == 7  # one per head flush after the new journal's first
    lags: set[int] = set()
    for copy in [*copies, *disk.cuts]:
        result = verify(copy)
        assert result.ok, (copy.parent.name, result.problem)
        durable = read_head(copy)
        assert durable is not None
        lags.add(result.records - durable.seq)
        with Journal(copy, VirtualClock(T0)):
            pass
    # The cuts did leave records past the durable head (the case the rule is for), one
    # commit at most: a single record, or the pulse start's intent and RUN.
    assert lags == {0, 1, 2}, lags


def test_a_truncation_is_seen_against_the_published_head(disk: Disk) -> None:
    """SR-20: cutting the last record off is reported as truncated."""
    clock = VirtualClock(T0)
    journal = Journal(disk.path, clock)
    try:
        journal.record_daemon_start("0.1.0", "digest")
        journal.record_daemon_stop("test")
        placed = journal.head
    finally:
        journal.close()
    assert placed is not None and read_head(disk.path) == placed
    conn = sqlite3.connect(disk.path)
    conn.execute("DROP TRIGGER events_no_delete")
    conn.execute("DELETE FROM events WHERE seq = ?", (placed.seq,))
    conn.commit()
    conn.close()
    result = verify(disk.path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.TRUNCATED


def test_two_commits_past_the_durable_head_are_still_refused(disk: Disk, tmp_path: Path) -> None:
    """SR-20: what is accepted is no wider than what a power cut leaves: a head two commits
    behind is head-missing for verify and refused at open."""
    clock = VirtualClock(T0)
    with Journal(disk.path, clock) as journal:
        journal.record_daemon_start("0.1.0", "digest")
        first = journal.head
        journal.record_daemon_stop("a")
        journal.record_daemon_stop("b")
    assert first is not None
    stale = disk.power_cut(tmp_path / "stale")
    put_back: Callable[[Head], None] = lambda head: head_path(stale).write_text(  # noqa: E731
        f'{{"hash":"{head.hash}","seq":{head.seq}}}'.ljust(399) + "\n"
    )
    put_back(first)
    result = verify(stale)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.HEAD_MISSING
    with pytest.raises(JournalTamperedError, match="head-missing"):
        Journal(stale, VirtualClock(T0))
