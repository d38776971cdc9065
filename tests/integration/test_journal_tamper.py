"""Tampering with the journal file is detected by verify, with the right diagnosis (SR-20)."""

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.errors import JournalTamperedError
from pumpctl.journal import Journal
from pumpctl.journal.chain import Envelope, Head, head_path, link_hash, record_bytes
from pumpctl.journal.verify import Diagnosis, verify

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
COLUMNS = ("seq", "kind", "wall_utc", "utc_offset_min", "elapsed_s", "boot_id", "payload")
Row = list[object]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A closed journal of 11 records: three pulses with outcomes, alarms, start and stop."""
    clock = VirtualClock(T0)
    journal_path = tmp_path / "journal.db"
    with Journal(journal_path, clock) as j:
        j.record_daemon_start("0.1.0", "digest")
        for n in range(3):
            slot = Slot(f"s{n}", clock.now(), 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))
            j.record_intent(slot)
            clock.advance(60)
            j.record_outcome(slot.slot_id, Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
            clock.advance(5340)
        j.record_alarm("a1", "occlusion", "high", "stall")
        j.record_alarm_acknowledged("a1", "op:alice")
        j.record_alarm_cleared("a1")
        j.record_daemon_stop("SIGTERM")
    assert verify(journal_path).ok
    return journal_path


def attack(path: Path, change: Callable[[list[Row]], list[Row]]) -> None:
    """Rewrite the events table as an attacker would: drop the triggers, then write anything."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("DROP TRIGGER events_no_delete")
        rows = [list(r) for r in conn.execute("SELECT * FROM events ORDER BY seq")]
        conn.execute("DELETE FROM events")
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(r) for r in change(rows)],
        )
    conn.close()


def rehash(row: Row, prev_hash: str) -> Row:
    """Give a forged row a valid link to ``prev_hash``, as an attacker who knows the scheme."""
    env = Envelope(*row[1:7])  # type: ignore[arg-type]
    return [*row[:7], prev_hash, link_hash(prev_hash, record_bytes(env))]


def renumber(rows: list[Row]) -> list[Row]:
    return [[i, *row[1:]] for i, row in enumerate(rows, start=1)]


EDITS: dict[str, object] = {
    "kind": "pulse.outcome",
    "wall_utc": "2026-03-01T07:00:00.000000+00:00",
    "utc_offset_min": 120,
    "elapsed_s": 1.5,
    "boot_id": "other-boot",
    "payload": '{"dose_ug":"50","slot_id":"s0","volume_ul":"500"}',
    "prev_hash": "11" * 32,
    "hash": "22" * 32,
}


@pytest.mark.parametrize("column", list(EDITS))
def test_editing_any_field_is_diagnosed_as_edited(path: Path, column: str) -> None:
    """SR-20: changing any column of a record is reported as an edit of exactly that record."""
    index = [*COLUMNS, "prev_hash", "hash"].index(column)

    def edit(rows: list[Row]) -> list[Row]:
        rows[3][index] = EDITS[column]
        return rows

    attack(path, edit)
    result = verify(path)
    assert result.problem is not None
    assert (result.problem.diagnosis, result.problem.seq) == (Diagnosis.EDITED, 4)
    assert result.records == 3


def test_deleting_a_record_is_diagnosed_as_removed(path: Path) -> None:
    """SR-20: a deleted record leaves a gap that verify reports as removed, naming the record."""
    attack(path, lambda rows: rows[:4] + rows[5:])
    result = verify(path)
    assert result.problem is not None
    assert (result.problem.diagnosis, result.problem.seq) == (Diagnosis.REMOVED, 5)
    assert "5 are missing" in result.problem.message


def test_deleting_and_renumbering_is_diagnosed_as_a_broken_link(path: Path) -> None:
    """SR-20: a deletion hidden by renumbering still breaks the chain at the record after it."""
    attack(path, lambda rows: renumber(rows[:4] + rows[5:]))
    result = verify(path)
    assert result.problem is not None
    assert (result.problem.diagnosis, result.problem.seq) == (Diagnosis.BROKEN_LINK, 5)
    assert "removed" in result.problem.message


@pytest.mark.parametrize("forge_link", [True, False])
def test_inserting_a_record_is_diagnosed_as_inserted(path: Path, forge_link: bool) -> None:
    """SR-20: a record slipped into the chain is reported as inserted, even with a forged link."""

    def insert(rows: list[Row]) -> list[Row]:
        forged: Row = [
            0,
            "pulse.outcome",
            rows[4][2],
            0,
            1.0,
            "b",
            '{"outcome":"DELIVERED"}',
            "",
            "",
        ]
        forged = rehash(forged, str(rows[3][8])) if forge_link else forged
        return renumber([*rows[:4], forged, *rows[4:]])

    attack(path, insert)
    result = verify(path)
    assert result.problem is not None
    assert (result.problem.diagnosis, result.problem.seq) == (Diagnosis.INSERTED, 5)


def test_swapping_two_records_is_diagnosed_as_reordered(path: Path) -> None:
    """SR-20: two records exchanged in place are reported as out of order."""

    def swap(rows: list[Row]) -> list[Row]:
        rows[4][1:], rows[5][1:] = rows[5][1:], rows[4][1:]
        return rows

    attack(path, swap)
    result = verify(path)
    assert result.problem is not None
    assert (result.problem.diagnosis, result.problem.seq) == (Diagnosis.REORDERED, 5)


def test_cutting_records_off_the_end_is_diagnosed_against_the_published_head(path: Path) -> None:
    """SR-20: records removed from the end are reported as truncated against the sidecar head."""
    attack(path, lambda rows: rows[:9])
    result = verify(path)
    assert result.problem is not None
    assert (result.problem.diagnosis, result.problem.seq) == (Diagnosis.TRUNCATED, 10)
    assert "10..11 were cut off" in result.problem.message


def test_truncation_is_detected_by_a_kept_anchor_when_the_head_file_is_gone(path: Path) -> None:
    """SR-20: with the sidecar deleted too, an anchor the auditor kept still reveals the cut."""
    anchor = verify(path).head
    assert anchor is not None
    attack(path, lambda rows: rows[:9])
    head_path(path).unlink()
    alone = verify(path)  # without any published head the shorter chain is self-consistent...
    assert alone.problem is not None  # ...but a missing head is itself a finding
    assert alone.problem.diagnosis is Diagnosis.HEAD_MISSING
    result = verify(path, anchor=anchor)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.TRUNCATED


def test_rewriting_the_whole_chain_is_caught_by_the_published_head(path: Path) -> None:
    """SR-20: an edit with every later hash recomputed is caught: the head no longer matches."""

    def rewrite(rows: list[Row]) -> list[Row]:
        rows[2][6] = rows[2][6].replace('"50"', '"5"')  # type: ignore[attr-defined]
        prev = str(rows[1][8])
        for i in range(2, len(rows)):
            rows[i] = rehash(rows[i], prev)
            prev = str(rows[i][8])
        return rows

    attack(path, rewrite)
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.REWRITTEN


def test_cutting_the_file_itself_is_diagnosed_as_truncated(path: Path) -> None:
    """SR-20: a journal file cut short on disk is reported as truncated, not read as valid."""
    with Journal(path, VirtualClock(T0)) as j:  # grow it past a few pages
        for n in range(20):
            j.append("note.padding", {"n": n, "text": "x" * 4000})
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.TRUNCATED


def test_garbage_in_the_file_is_diagnosed_as_corrupt(path: Path) -> None:
    """SR-28: a journal with any one of its pages overwritten (a table's, an index's, the
    schema's) is reported as corrupt, never as a valid chain: the page check reads the pages
    the chain walk does not."""
    with sqlite3.connect(path) as conn:
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    assert page_size == 2048  # a new journal's (docs/journal.md, Write cost)
    original = path.read_bytes()
    pages = len(original) // page_size
    assert pages > 10
    for page in range(pages):
        damaged = bytearray(original)
        damaged[page * page_size : (page + 1) * page_size] = b"\xff" * page_size
        path.write_bytes(bytes(damaged))
        result = verify(path)
        assert result.problem is not None, page + 1
        assert result.problem.diagnosis is Diagnosis.CORRUPT, (page + 1, result.problem)


def test_daemon_refuses_to_extend_a_truncated_journal(path: Path) -> None:
    """SR-20: the writer will not append onto a chain that lost records since its last head."""
    attack(path, lambda rows: rows[:9])
    with pytest.raises(JournalTamperedError, match="cut off"):
        Journal(path, VirtualClock(T0))


def test_raise_for_problem_names_the_diagnosis(path: Path) -> None:
    """SR-20: the daemon-facing check raises JournalTamperedError naming record and diagnosis."""
    attack(path, lambda rows: rows[:4] + rows[5:])
    with pytest.raises(JournalTamperedError, match="removed at record 5"):
        verify(path).raise_for_problem()


def test_log_verify_exits_3_for_a_tampered_journal(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-20: `pumpctl log verify` prints OK and the head, or the problem and exits 3."""
    assert main(["log", "verify", str(path)]) == 0
    assert f"OK {path}: 11 records, head 11:" in capsys.readouterr().out
    attack(path, lambda rows: rows[:4] + rows[5:])
    assert main(["log", "verify", str(path)]) == 3
    assert "removed at record 5" in capsys.readouterr().out


def test_log_verify_checks_an_anchor_given_on_the_command_line(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-20: `--anchor SEQ:HASH` that does not match the journal makes verify exit 3."""
    good = verify(path).head
    assert good is not None
    assert main(["log", "verify", str(path), "--anchor", str(good)]) == 0
    wrong = Head(good.seq, "ab" * 32)
    assert main(["log", "verify", "-j", str(path), "--anchor", str(wrong)]) == 3
    assert "rewritten" in capsys.readouterr().out
