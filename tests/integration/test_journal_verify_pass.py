"""``log verify`` reads the chain into Python once: the derived tables are checked against the
records the walk verified, inside SQLite and in the walk's snapshot (SR-20, SR-28)."""

from __future__ import annotations

import importlib
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.journal import Journal
from pumpctl.journal.integrity import derived_problem, expected_schema
from pumpctl.journal.verify import Diagnosis, verify

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
#: The module (``pumpctl.journal`` exports its function under the same name).
verify_module = importlib.import_module("pumpctl.journal.verify")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A closed journal with four pulses: delivered, partial, started and run on record."""
    clock = VirtualClock(T0)
    journal_path = tmp_path / "journal.db"
    with Journal(journal_path, clock) as j:
        j.record_daemon_start("0.1.0", "digest")
        for n, outcome in enumerate((Outcome.DELIVERED, Outcome.PARTIAL) * 2):
            slot = Slot(f"s{n}", clock.now(), 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))
            j.record_intent(slot)
            j.record_run(slot.slot_id)
            j.record_started(slot.slot_id)
            clock.advance(60)
            volume = Decimal(50) if outcome is Outcome.DELIVERED else Decimal(20)
            j.record_outcome(slot.slot_id, outcome, delivered_volume_ul=volume)
            clock.advance(5340)
        j.record_daemon_stop("SIGTERM")
    return journal_path


def traced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement ``verify`` runs on its connection, in order."""
    statements: list[str] = []
    connect = verify_module.connect

    def tracing(path: Path, *, writable: bool) -> sqlite3.Connection:
        conn = connect(path, writable=writable)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(verify_module, "connect", tracing)
    return statements


def test_verify_reads_the_records_once(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SR-28: a good journal is verified with one read of every record into Python (the chain
    walk); the derived tables are compared with the pulse records inside SQLite, in the same
    read snapshot as the walk, so they are checked against exactly the records it verified."""
    statements = traced(monkeypatch)
    result = verify(path)
    assert result.ok and result.records == 18
    reads = [s for s in statements if " FROM events" in s]
    walks = [s for s in reads if s.startswith("SELECT seq, kind,") and "WHERE" not in s]
    assert len(walks) == 1, reads
    assert "ORDER BY seq" in walks[0]
    # Every other read of the records is the derived-table comparison, by kind (the index).
    assert all("kind IN" in s for s in reads if s not in walks), reads
    # Each derived table is compared: its rows against the records, and back.
    for table in ("pulses", "pulse_outcomes", "pulse_starts", "pulse_runs"):
        assert sum(f"JOIN {table} AS t" in s for s in statements) == 1, table
        assert sum(f"FROM {table} AS t" in s for s in statements) == 1, table
    # The walk and the comparison share one snapshot.
    begin, commit = statements.index("BEGIN"), statements.index("COMMIT")
    assert begin < statements.index(walks[0]) < commit
    assert all(begin < statements.index(s) < commit for s in reads if s not in walks)


def _edit(path: Path, trigger: str, statement: str) -> None:
    (recreate,) = [s for kind, n, _, s in expected_schema() if kind == "trigger" and n == trigger]
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute(statement)
        conn.execute(recreate)
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("trigger", "statement", "words"),
    [
        (
            "pulse_outcomes_no_update",
            "UPDATE pulse_outcomes SET delivered_volume_ul = '50' WHERE outcome = 'PARTIAL'",
            ("pulse_outcomes", "changed"),
        ),
        (
            "pulse_starts_no_delete",
            "DELETE FROM pulse_starts WHERE seq = (SELECT max(seq) FROM pulse_starts)",
            ("pulse_starts", "missing"),
        ),
        (
            "pulses_no_update",
            "UPDATE pulses SET volume_ul = '5' WHERE intent_seq = (SELECT min(intent_seq) FROM "
            "pulses)",
            ("pulses", "changed"),
        ),
    ],
)
def test_derived_rows_changed_are_found_from_the_walk_as_from_a_second_read(
    path: Path, trigger: str, statement: str, words: tuple[str, ...]
) -> None:
    """SR-28: a derived row edited or deleted behind recreated triggers is found by ``verify``,
    with the same line the check gives on the daemon's own connection at open."""
    _edit(path, trigger, statement)
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.DERIVED
    assert all(word in result.problem.message for word in words), result.problem.message
    conn = sqlite3.connect(path)
    try:
        assert derived_problem(conn) == result.problem.message
    finally:
        conn.close()
