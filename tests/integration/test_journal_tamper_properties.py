"""Property: whatever single change an attacker makes to the records, verify notices (SR-20)."""

import shutil
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.journal import Journal
from pumpctl.journal.verify import verify

RECORDS = 16
COLUMNS = (
    "kind",
    "wall_utc",
    "utc_offset_min",
    "elapsed_s",
    "boot_id",
    "payload",
    "prev_hash",
    "hash",
)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed, verifying journal of 16 records."""
    path = tmp_path_factory.mktemp("tamper") / "journal.db"
    clock = VirtualClock(datetime(2026, 3, 1, tzinfo=UTC))
    with Journal(path, clock) as j:
        for n in range(RECORDS // 2):
            slot = Slot(f"s{n}", clock.now(), 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))
            j.record_intent(slot)
            clock.advance(60)
            j.record_outcome(slot.slot_id, Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
    assert verify(path).records == RECORDS
    return path


def _copy(original: Path, target: Path) -> Path:
    target.mkdir(exist_ok=True)
    for suffix in ("", ".head"):
        shutil.copy(f"{original}{suffix}", target / f"journal.db{suffix}")
    return target / "journal.db"


Attack = tuple[str, int, int, str]
attacks = st.one_of(
    st.tuples(
        st.just("edit"),
        st.integers(1, RECORDS),
        st.integers(0, len(COLUMNS) - 1),
        st.text(min_size=1, max_size=8),
    ),
    st.tuples(st.just("delete"), st.integers(1, RECORDS), st.just(0), st.just("")),
    st.tuples(st.just("swap"), st.integers(1, RECORDS - 1), st.just(0), st.just("")),
    st.tuples(st.just("duplicate"), st.integers(1, RECORDS), st.just(0), st.just("")),
    st.tuples(st.just("truncate"), st.integers(1, RECORDS), st.just(0), st.just("")),
)


def _apply(path: Path, attack: Attack) -> None:
    action, seq, column_index, text = attack
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("DROP TRIGGER events_no_delete")
        if action == "edit":
            column = COLUMNS[column_index]
            old = conn.execute(f"SELECT {column} FROM events WHERE seq = ?", (seq,)).fetchone()[0]  # noqa: S608  (column from a fixed list)
            new = old + 1 if isinstance(old, int | float) else f"{old}{text}"
            conn.execute(f"UPDATE events SET {column} = ? WHERE seq = ?", (new, seq))  # noqa: S608  (column from a fixed list)
        elif action == "delete":
            conn.execute("DELETE FROM events WHERE seq = ?", (seq,))
        elif action == "swap":
            conn.execute("UPDATE events SET seq = -1 WHERE seq = ?", (seq,))
            conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (seq, seq + 1))
            conn.execute("UPDATE events SET seq = ? WHERE seq = -1", (seq + 1,))
        elif action == "duplicate":
            conn.execute("UPDATE events SET seq = seq + 1000 WHERE seq > ?", (seq,))
            conn.execute(
                "INSERT INTO events SELECT seq + 1, kind, wall_utc, utc_offset_min, elapsed_s,"
                " boot_id, payload, prev_hash, hash FROM events WHERE seq = ?",
                (seq,),
            )
            conn.execute("UPDATE events SET seq = seq - 999 WHERE seq > 1000")
        else:
            conn.execute("DELETE FROM events WHERE seq >= ?", (seq,))
    conn.close()


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(attack=attacks)
def test_any_single_change_to_the_records_is_detected(
    original: Path, tmp_path: Path, attack: Attack
) -> None:
    """SR-20: an edit, deletion, swap, duplicated record or cut-off tail never verifies as OK."""
    path = _copy(original, tmp_path / "copy")
    _apply(path, attack)
    result = verify(path)
    assert not result.ok, attack
