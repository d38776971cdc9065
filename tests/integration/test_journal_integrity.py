"""What the hash chain does not cover is checked against it, at open and by verify (SR-28)."""

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.errors import JournalTamperedError
from pumpctl.journal import EventKind, Journal
from pumpctl.journal.chain import head_path
from pumpctl.journal.integrity import expected_schema
from pumpctl.journal.verify import Diagnosis, verify

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A closed journal with three delivered pulses."""
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
        j.record_daemon_stop("SIGTERM")
    assert verify(journal_path).ok
    return journal_path


def _sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def _trigger_sql(path: Path, *names: str) -> list[str]:
    wanted = {n: s for kind, n, _, s in expected_schema() if kind == "trigger"}
    return [wanted[n] for n in names]


def delete_pulse_rows(path: Path) -> None:
    """The reported attack: drop the triggers, delete the last pulse's rows, recreate them."""
    names = ("pulses_no_delete", "pulse_outcomes_no_delete")
    recreate = _trigger_sql(path, *names)
    _sql(
        path,
        *(f"DROP TRIGGER {n}" for n in names),
        "DELETE FROM pulse_outcomes WHERE intent_seq = (SELECT max(intent_seq) FROM pulses)",
        "DELETE FROM pulses WHERE intent_seq = (SELECT max(intent_seq) FROM pulses)",
        *recreate,
    )


def _open(path: Path) -> None:
    with Journal(path, VirtualClock(T0)):
        pass


def test_deleted_derived_rows_with_triggers_recreated_fail_verify_and_open(path: Path) -> None:
    """SR-28: derived pulse rows deleted behind recreated triggers are found by verify and open."""
    delete_pulse_rows(path)
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.DERIVED
    assert "pulses" in result.problem.message and "missing" in result.problem.message
    with pytest.raises(JournalTamperedError, match="derived-mismatch"):
        _open(path)


def test_an_edited_derived_row_is_found(path: Path) -> None:
    """SR-28: a derived outcome changed from DELIVERED to NOT_DELIVERED no longer matches."""
    _sql(
        path,
        "DROP TRIGGER pulse_outcomes_no_update",
        "UPDATE pulse_outcomes SET outcome = 'NOT_DELIVERED'",
        *_trigger_sql(path, "pulse_outcomes_no_update"),
    )
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.DERIVED
    assert "changed" in result.problem.message


def test_a_dropped_trigger_is_the_same_verdict_in_verify_and_open(path: Path) -> None:
    """SR-28: a dropped append-only trigger fails verify and refuses the journal at open."""
    _sql(path, "DROP TRIGGER events_no_delete")
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.SCHEMA
    assert "events_no_delete" in result.problem.message
    with pytest.raises(JournalTamperedError, match=r"schema-changed.*events_no_delete"):
        _open(path)


def test_an_added_trigger_is_found(path: Path) -> None:
    """SR-28: an object pumpctl did not create (a trigger that rewrites outcomes) is found."""
    _sql(
        path,
        "CREATE TRIGGER sneaky AFTER INSERT ON pulse_outcomes BEGIN SELECT 1; END",
    )
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.SCHEMA
    assert "sneaky" in result.problem.message


@pytest.mark.parametrize(
    ("damage", "diagnosis"),
    [("delete", Diagnosis.HEAD_MISSING), ("garbage", Diagnosis.HEAD_UNREADABLE)],
)
def test_missing_or_garbage_head_is_the_same_verdict_in_verify_and_open(
    path: Path, damage: str, diagnosis: Diagnosis
) -> None:
    """SR-28: a deleted or garbage head file fails verify and refuses the journal at open."""
    if damage == "delete":
        head_path(path).unlink()
    else:
        head_path(path).write_bytes(b"\x1b[2J not a head at all")
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is diagnosis
    with pytest.raises(JournalTamperedError, match=diagnosis.value):
        _open(path)


def test_a_new_journal_publishes_its_empty_head_at_once(tmp_path: Path) -> None:
    """A journal created empty has a head file from the start, so a missing one is never normal."""
    journal_path = tmp_path / "j.db"
    _open(journal_path)
    assert head_path(journal_path).exists()
    assert verify(journal_path).ok


def _damage_a_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 3 * page, "the fixture journal spans several pages"
    data[page + 8 : page + 200] = bytes(range(192))  # page 2's header and cell pointers
    path.write_bytes(bytes(data))


def test_page_corruption_is_one_line_and_exit_3(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-28: random bytes in a page make `log verify` exit 3 with one line naming it."""
    _damage_a_page(path)
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.CORRUPT
    assert main(["log", "verify", str(path)]) == 3
    out = capsys.readouterr().out
    assert out.startswith(f"BAD {path}: corrupt") and "Traceback" not in out


def test_run_refuses_a_damaged_journal_with_one_line_and_exit_3(path: Path, tmp_path: Path) -> None:
    """SR-28: `pumpctl run` on a journal with a damaged page exits 3 with one line, no traceback."""
    _damage_a_page(path)
    state = path.parent
    state.chmod(0o750)
    config = tmp_path / "c.toml"
    config.write_text(
        "[prescription]\ndose_ug = 10\nconcentration_ug_per_ml = 1000\ninterval_min = 90\n"
        'pulse_duration_s = 60\nanchor = "08:00"\ntimezone = "UTC"\n'
        '[pump]\ndriver = "ne1000"\nurl = "/nonexistent/pump"\nsyringe_diameter_mm = 4.78\n'
        f'syringe_volume_ul = 1000\n[journal]\nstate_dir = "{state}"\npath = "{path.name}"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    done = subprocess.run(
        [sys.executable, "-m", "pumpctl", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if "corrupt" in line]
    assert len(errors) == 1, done.stderr


@pytest.mark.parametrize("damage", ["derived", "trigger", "head-missing", "head-garbage"])
def test_repair_rebuilds_from_the_chain_and_is_journaled(
    path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-28: `log repair` puts back what the chain proves, journals it, and verify says OK."""
    if damage == "derived":
        delete_pulse_rows(path)
    elif damage == "trigger":
        _sql(path, "DROP TRIGGER pulses_no_delete")
    elif damage == "head-missing":
        head_path(path).unlink()
    else:
        head_path(path).write_text("{]", encoding="ascii")
    assert main(["log", "verify", str(path)]) == 3
    assert main(["log", "repair", str(path), "--reason", "incident 7"]) == 0
    assert "repaired" in capsys.readouterr().out
    assert verify(path).ok
    with Journal(path, VirtualClock(T0)) as j:
        repaired = j.events(kinds=(EventKind.REPAIRED,))
        history = j.pulse_history(datetime(2026, 1, 1, tzinfo=UTC))
    assert len(repaired) == 1 and repaired[0].payload["reason"] == "incident 7"
    assert [r.slot_id for r in history] == ["s0", "s1", "s2"]


def test_repair_refuses_an_edited_record(path: Path) -> None:
    """SR-20: an edited record is evidence: `log repair` refuses it with exit 3."""
    _sql(
        path,
        "DROP TRIGGER events_no_update",
        "UPDATE events SET payload = replace(payload, '\"50\"', '\"5\"') WHERE seq = 3",
    )
    assert main(["log", "repair", str(path), "--reason", "try"]) == 3
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.EDITED


def _journal_with_starts(tmp_path: Path) -> Path:
    """Two delivered pulses, each with its RUN on record (``pulse.run``) and the pump's
    confirmation of it (``pulse.started``)."""
    clock = VirtualClock(T0)
    journal_path = tmp_path / "starts.db"
    with Journal(journal_path, clock) as j:
        j.record_daemon_start("0.1.0", "digest")
        for n in range(2):
            slot = Slot(f"s{n}", clock.now(), 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))
            j.record_intent(slot)
            j.record_run(slot.slot_id)
            clock.advance(2)
            j.record_started(slot.slot_id)
            clock.advance(60)
            j.record_outcome(slot.slot_id, Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
            clock.advance(5340)
    assert verify(journal_path).ok
    return journal_path


def test_a_deleted_pulse_start_row_is_found(tmp_path: Path) -> None:
    """SR-28: the gate measures intervals from pulse_starts; a row deleted from it is found."""
    path = _journal_with_starts(tmp_path)
    _sql(
        path,
        "DROP TRIGGER pulse_starts_no_delete",
        "DELETE FROM pulse_starts WHERE seq = (SELECT max(seq) FROM pulse_starts)",
        *_trigger_sql(path, "pulse_starts_no_delete"),
    )
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.DERIVED
    assert "pulse_starts" in result.problem.message and "missing" in result.problem.message
    with pytest.raises(JournalTamperedError, match="derived-mismatch"):
        _open(path)


def test_a_forged_earlier_pulse_start_is_found(tmp_path: Path) -> None:
    """SR-28: a start row pointing at an earlier record (which would let the next pulse come
    sooner) is a row no verified record gives."""
    path = _journal_with_starts(tmp_path)
    _sql(
        path,
        "INSERT INTO pulse_starts (seq, intent_seq) SELECT 1, max(intent_seq) FROM pulses",
    )
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.DERIVED
    assert (
        "pulse_starts" in result.problem.message and "no verified record" in result.problem.message
    )
    with pytest.raises(JournalTamperedError, match="derived-mismatch"):
        _open(path)


def test_a_deleted_pulse_run_row_is_found_and_repaired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-28: SR-02 counts every pulse whose RUN was sent from pulse_runs; a row deleted from it
    (which would let a NOT_DELIVERED pulse's slot be forgotten) is found at open and by verify,
    and `log repair` derives it again from the chain."""
    path = _journal_with_starts(tmp_path)
    _sql(
        path,
        "DROP TRIGGER pulse_runs_no_delete",
        "DELETE FROM pulse_runs WHERE seq = (SELECT max(seq) FROM pulse_runs)",
        *_trigger_sql(path, "pulse_runs_no_delete"),
    )
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.DERIVED
    assert "pulse_runs" in result.problem.message and "missing" in result.problem.message
    with pytest.raises(JournalTamperedError, match="derived-mismatch"):
        _open(path)
    assert main(["log", "repair", str(path), "--reason", "incident 9"]) == 0
    assert "repaired" in capsys.readouterr().out
    assert verify(path).ok
    conn = sqlite3.connect(path)
    try:
        runs = conn.execute("SELECT count(*) FROM pulse_runs").fetchone()[0]
        starts = conn.execute("SELECT count(*) FROM pulse_starts").fetchone()[0]
    finally:
        conn.close()
    assert (runs, starts) == (2, 2)
