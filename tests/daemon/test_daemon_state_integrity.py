"""A restarted daemon never trusts derived state the chain does not prove (SR-28)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pumpctl.errors import JournalTamperedError
from pumpctl.journal.repair import repair
from tests.daemon.harness import START, make_bench
from tests.integration.test_journal_integrity import delete_pulse_rows

SLOT_1 = START + timedelta(minutes=5)  # 08:00, window open 10 min


def test_deleting_a_delivered_pulse_row_cannot_make_the_slot_come_round_again(
    tmp_path: Path,
) -> None:
    """SR-28: after the reported attack a restart refuses; after repair the slot is not re-given."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=2))
    assert len(bench.starts()) == 1
    bench.daemon.shutdown("test")
    bench.journal.close()
    delete_pulse_rows(tmp_path / "journal.sqlite3")
    with pytest.raises(JournalTamperedError, match="derived-mismatch"):
        make_bench(tmp_path, clock=bench.clock, sim=bench.sim, ledger=bench.ledger)
    repair(tmp_path / "journal.sqlite3", who="test", reason="rebuilt after the attack")
    restarted = make_bench(tmp_path, clock=bench.clock, sim=bench.sim, ledger=bench.ledger)
    restarted.daemon.start()
    restarted.run_until(SLOT_1 + timedelta(minutes=9))  # still inside the slot's window
    assert len(restarted.starts()) == 1
