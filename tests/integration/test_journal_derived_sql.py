"""SR-28: the derived-table check compares every column of every derived row with the record
it comes from, inside SQLite, and names a record that cannot give its row at all."""

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

#: Every column of every derived table, and a value no record of the fixture gives it.
COLUMNS = [
    ("pulses", "intent_seq", "intent_seq", "999"),
    ("pulses", "intent_seq", "slot_id", "'s9'"),
    ("pulses", "intent_seq", "intent_wall", "'2026-03-01T08:00:00.000001+00:00'"),
    ("pulses", "intent_seq", "elapsed_s", "elapsed_s + 1e-9"),
    ("pulses", "intent_seq", "boot_id", "'another-boot'"),
    ("pulses", "intent_seq", "dose_ug", "'5.0'"),
    ("pulses", "intent_seq", "volume_ul", "'49'"),
    ("pulses", "intent_seq", "duration_s", "'61'"),
    ("pulse_runs", "seq", "seq", "998"),
    ("pulse_runs", "seq", "intent_seq", "intent_seq - 1"),
    ("pulse_starts", "seq", "seq", "997"),
    ("pulse_starts", "seq", "intent_seq", "intent_seq - 1"),
    ("pulse_outcomes", "seq", "seq", "996"),
    ("pulse_outcomes", "seq", "intent_seq", "intent_seq - 1"),
    ("pulse_outcomes", "seq", "outcome", "'PARTIAL'"),
    ("pulse_outcomes", "seq", "delivered_volume_ul", "'20'"),
    ("pulse_outcomes", "seq", "delivered_volume_ul", "NULL"),
]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Two pulses with every derived row: intent, RUN, start, outcome; then a reconciliation."""
    clock = VirtualClock(T0)
    journal_path = tmp_path / "journal.db"
    with Journal(journal_path, clock) as j:
        for n in range(2):
            slot = Slot(f"s{n}", clock.now(), 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))
            j.record_intent(slot)
            j.record_run(slot.slot_id)
            j.record_started(slot.slot_id)
            clock.advance(60)
            j.record_outcome(slot.slot_id, Outcome.UNCERTAIN, delivered_volume_ul=Decimal(50))
            j.resolve_from_pump(slot.slot_id, Decimal(50), pump_status="stopped", evidence={})
            clock.advance(5340)
    assert verify(journal_path).ok
    return journal_path


def _tamper(path: Path, table: str, *statements: str) -> None:
    """Run ``statements`` with the table's append-only triggers dropped, then recreate them."""
    triggers = [
        (name, sql)
        for kind, name, tbl, sql in expected_schema()
        if kind == "trigger" and tbl == table
    ]
    conn = sqlite3.connect(path)
    try:
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            conn.execute(statement)
        for _, sql in triggers:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def _problem(path: Path) -> str:
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.DERIVED, result
    conn = sqlite3.connect(path)
    try:
        assert derived_problem(conn) == result.problem.message
    finally:
        conn.close()
    return result.problem.message


@pytest.mark.parametrize(("table", "key", "column", "value"), COLUMNS)
def test_every_column_of_every_derived_row_is_compared(
    path: Path, table: str, key: str, column: str, value: str
) -> None:
    """SR-28: changing any one column of the last row of a derived table is found, naming the
    table (a changed key reads as a row missing and one no record gives)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = OFF")
    last = conn.execute(f"SELECT max({key}) FROM {table}").fetchone()[0]  # noqa: S608
    conn.close()
    _tamper(path, table, f"UPDATE {table} SET {column} = {value} WHERE {key} = {last}")  # noqa: S608
    message = _problem(path)
    assert f"derived table {table} " in message
    assert ("changed" if column != key else "missing") in message


def test_a_row_no_record_gives_is_found(path: Path) -> None:
    """SR-28: an outcome row added for a record that is not an outcome is found."""
    _tamper(
        path,
        "pulse_outcomes",
        "INSERT INTO pulse_outcomes SELECT 1, 1, 'NOT_DELIVERED', '0'",
    )
    assert "no verified record gives" in _problem(path)


def test_a_start_for_a_slot_without_intent_cannot_be_read_back(path: Path) -> None:
    """SR-28: a start record for a slot that has no intent before it gives no row at all (as
    the append refuses it): named as such, not as a row that merely differs."""
    _tamper(
        path,
        "events",
        "UPDATE events SET payload = '{\"slot_id\":\"nowhere\"}' WHERE kind = 'pulse.started'"
        " AND seq = (SELECT max(seq) FROM events WHERE kind = 'pulse.started')",
    )
    conn = sqlite3.connect(path)
    try:
        message = derived_problem(conn)
    finally:
        conn.close()
    assert message is not None and "cannot be read back" in message
    assert "'nowhere'" in message and "no pulse intent" in message


def test_an_intent_whose_payload_is_not_json_cannot_be_read_back(path: Path) -> None:
    _tamper(
        path,
        "events",
        "UPDATE events SET payload = '{not json' WHERE seq ="
        " (SELECT max(seq) FROM events WHERE kind = 'pulse.intent')",
    )
    conn = sqlite3.connect(path)
    try:
        message = derived_problem(conn)
    finally:
        conn.close()
    assert message is not None and "cannot be read back" in message and "not JSON" in message


def test_an_outcome_none_of_pumpctls_is_found_even_when_row_and_record_agree(path: Path) -> None:
    """SR-28: a record and its row both holding an unknown outcome (a forged chain) is named:
    the gate could not read it."""
    _tamper(
        path,
        "events",
        "UPDATE events SET payload = json_set(payload, '$.outcome', 'SOMETIMES')"
        " WHERE seq = (SELECT max(seq) FROM pulse_outcomes)",
    )
    _tamper(
        path,
        "pulse_outcomes",
        "UPDATE pulse_outcomes SET outcome = 'SOMETIMES' WHERE seq ="
        " (SELECT max(seq) FROM pulse_outcomes)",
    )
    conn = sqlite3.connect(path)
    try:
        message = derived_problem(conn)
    finally:
        conn.close()
    assert message is not None and "'SOMETIMES' is not a pulse outcome" in message
