"""What the fleet's data manager sees when a host goes wrong: refusals, rollbacks, clocks, keys.

Each test breaks a host the way a reviewer would (a journal restored from an older copy, a
cloned state directory, a clock set ahead, a key file lost) and checks that the shipper refuses,
that the server keeps what it had, and that ``pumpctl fleet status`` names the problem.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.core.clock import VirtualClock
from pumpctl.fleet.db import FleetRejectedError
from pumpctl.fleet.ship import ship_journal
from tests.fleet.conftest import FleetDb
from tests.fleet.journals import Host
from tests.fleet.test_ship import local_chain, server_chain


def _copy_journal(state_dir: Path, into: Path) -> None:
    """A file-level copy of a stopped host's journal and its signed head (a backup)."""
    into.mkdir()
    for name in ("journal.sqlite3", "journal.sqlite3.head"):
        shutil.copy2(state_dir / name, into / name)


def _status(fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    capsys.readouterr()
    assert main(["fleet", "status", "--db", fleet_db.read, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    return {j["journal_id"]: j for j in doc["journals"]}


def test_a_host_journal_restored_from_an_older_copy_is_refused_and_reported(
    tmp_path: Path, fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file writer puts back an older journal with its (validly signed) older head: the
    shipper exits 3 naming the rollback, the server keeps the newer records, and fleet status
    shows the refusal until an accepted shipment follows."""
    host = Host(tmp_path / "h")
    host.deliver(2)
    host.close()
    _copy_journal(host.state_dir, tmp_path / "backup")
    host = Host.reopen(host.state_dir)
    host.deliver(2)
    host.close()
    shipped = ship_journal(host.path, fleet_db.ship)
    held = server_chain(fleet_db, host.key.journal_id)
    for name in ("journal.sqlite3", "journal.sqlite3.head"):
        shutil.copy2(tmp_path / "backup" / name, host.state_dir / name)
    for suffix in ("-wal", "-shm"):
        (host.state_dir / f"journal.sqlite3{suffix}").unlink(missing_ok=True)

    assert main(["ship", "-j", str(host.path), "--to", fleet_db.ship]) == 3
    err = capsys.readouterr().err
    assert "cut short or restored from an older copy" in err and err.count("\n") == 1
    assert server_chain(fleet_db, host.key.journal_id) == held

    journal = _status(fleet_db, capsys)[host.key.journal_id]
    assert journal["records"] == shipped.head.seq
    assert journal["refusals"] == 1
    assert "restored from an older copy" in str(journal["last_refusal"])
    assert main(["fleet", "status", "--db", fleet_db.read]) == 0
    text = capsys.readouterr().out
    assert f"note: journal {host.key.journal_id}: 1 shipment(s) refused" in text


def test_a_refusal_stays_visible_until_an_accepted_shipment_follows(
    tmp_path: Path, fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key replaced without the old key's signature is refused and shows in fleet status;
    accept-key with the 12-character id that status prints lets the next shipment through,
    and the note goes away."""
    from pumpctl.journal.keyfile import KEY_FILE, attach_key  # noqa: PLC0415

    host = Host(tmp_path / "h")
    host.deliver(1)
    ship_journal(host.path, fleet_db.ship)
    (host.state_dir / KEY_FILE).unlink()
    replaced = attach_key(host.journal, host.state_dir)
    host.deliver(1)
    with pytest.raises(FleetRejectedError, match="accept"):
        ship_journal(host.path, fleet_db.ship)
    journal = _status(fleet_db, capsys)[replaced.journal_id]
    assert journal["refusals"] == 1 and "accept-key" in str(journal["last_refusal"])

    short = replaced.journal_id[:12]
    argv = ["fleet", "accept-key", "--db", fleet_db.admin, short, replaced.key_id]
    assert main([*argv, "--who", "data manager, checked on the host"]) == 0
    assert replaced.journal_id in capsys.readouterr().out
    assert ship_journal(host.path, fleet_db.ship).shipped == 3
    journal = _status(fleet_db, capsys)[replaced.journal_id]
    assert journal["refusals"] == 0 and journal["notes"] == []
    assert server_chain(fleet_db, replaced.journal_id) == local_chain(host.path)
    out = tmp_path / "out"
    assert main(["fleet", "report", "--db", fleet_db.read, "--format", "csv", "-o", str(out)]) == 0
    host.close()


def test_reports_verify_the_head_of_a_journal_whose_key_was_rotated(
    tmp_path: Path, fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rotation the old key signed is followed at report time too; the report names the
    key that signed the head it covers."""
    from pumpctl.journal.keyfile import rotate_key  # noqa: PLC0415

    host = Host(tmp_path / "h")
    host.deliver(1)
    old, new = rotate_key(host.journal, host.state_dir, reason="yearly")
    host.deliver(1)
    ship_journal(host.path, fleet_db.ship)
    out = tmp_path / "out"
    argv = ["fleet", "report", "--db", fleet_db.read, "--format", "html", "-o", str(out)]
    assert main(argv) == 0
    (page,) = out.glob("*.html")
    text = page.read_text()
    assert "chain verified" in text and f"head signed by key {new.key_id}" in text
    assert old.key_id != new.key_id
    host.close()


def test_accept_key_for_a_journal_the_server_does_not_hold_is_refused(
    tmp_path: Path, fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped journal id vouches for nothing: exit 2, one line, nothing stored."""
    host = Host(tmp_path / "h")
    host.deliver(1)
    ship_journal(host.path, fleet_db.ship)
    argv = ["fleet", "accept-key", "--db", fleet_db.admin, "0000deadbeef", "9c1d2e3f4a5b6c7d"]
    assert main([*argv, "--who", "someone"]) == 2
    err = capsys.readouterr().err
    assert "holds no such journal" in err and err.count("\n") == 1
    assert fleet_db.query("SELECT count(*) FROM pumpctl.accepted_keys") == [(0,)]
    host.close()


def test_a_host_clock_ahead_of_the_server_is_noted(
    tmp_path: Path, fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """Clock skew between hosts: a host whose clock runs three hours ahead stamps records
    after the server received them; fleet status says so. A host behind is not flagged
    (shipping later than writing is normal)."""
    ahead = Host(
        tmp_path / "ahead",
        subject="SUBJ-A",
        clock=VirtualClock(datetime.now(UTC) + timedelta(hours=3), elapsed_s=100.0),
    )
    behind = Host(
        tmp_path / "behind",
        subject="SUBJ-B",
        clock=VirtualClock(datetime.now(UTC) - timedelta(days=2), elapsed_s=100.0),
    )
    ahead.journal.record_daemon_stop("test")
    behind.journal.record_daemon_stop("test")
    ship_journal(ahead.path, fleet_db.ship)
    ship_journal(behind.path, fleet_db.ship)
    journals = _status(fleet_db, capsys)
    early = journals[ahead.key.journal_id]
    assert (
        isinstance(early["clock_ahead_s"], int) and 2.9 * 3600 < early["clock_ahead_s"] <= 3 * 3600
    )
    assert "ahead of the server" in str(early["notes"])
    assert journals[behind.key.journal_id]["clock_ahead_s"] is None
    assert journals[behind.key.journal_id]["notes"] == []
    ahead.close()
    behind.close()


def test_ship_and_status_print_typed_json(
    tmp_path: Path, fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """ship --json and fleet status --json carry numbers as numbers and full journal ids."""
    host = Host(tmp_path / "h")
    host.deliver(2)
    capsys.readouterr()
    assert main(["ship", str(host.path), "--to", fleet_db.ship, "--json"]) == 0
    shipped = json.loads(capsys.readouterr().out)
    assert shipped["shipped"] == shipped["head"]["seq"] == len(local_chain(host.path))
    assert shipped["journal_id"] == host.key.journal_id and shipped["held_before"] == 0
    journal = _status(fleet_db, capsys)[host.key.journal_id]
    assert journal["records"] == shipped["head"]["seq"]
    assert (journal["study"], journal["subject_id"], journal["pump_label"]) == (
        "STUDY-X",
        "SUBJ-1",
        "pump A",
    )
    host.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["fleet", "status", "--db", "postgresql://x@127.0.0.1/db"],
        ["fleet", "init", "--db", "postgresql://x@127.0.0.1/db"],
        ["fleet", "report", "--db", "postgresql://x@127.0.0.1/db", "-o", "out"],
        ["ship", "-j", "journal.sqlite3", "--to", "postgresql://x@127.0.0.1/db"],
    ],
)
def test_every_fleet_command_names_the_extra_when_psycopg_is_missing(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without the fleet extra: exit 1 and one line saying what to install, for every command."""
    host = Host(tmp_path / "h")
    host.deliver(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    argv = [str(host.path) if a == "journal.sqlite3" else a for a in argv]
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'pumpctl[fleet]'" in err
    host.close()


def test_a_shipper_that_read_an_older_head_than_another_shipper_sent_is_not_an_alarm(
    tmp_path: Path, fleet_db: FleetDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two shippers on one host (the timer and a manual run): the slower one read the head
    before the daemon appended, the faster one shipped the newer head. The slower one finds
    the server ahead of its head but the host holding those records: up to date, no refusal."""
    from pumpctl.fleet import ship as ship_module  # noqa: PLC0415

    host = Host(tmp_path / "h")
    host.deliver(1)
    stale = ship_module.open_source(host.path)
    host.deliver(1)
    ship_journal(host.path, fleet_db.ship)
    monkeypatch.setattr(ship_module, "open_source", lambda _path: stale)
    result = ship_journal(host.path, fleet_db.ship)
    assert result.shipped == 0
    assert fleet_db.query("SELECT count(*) FROM pumpctl.refusals") == [(0,)]
    host.close()


def test_two_shippers_of_one_journal_at_once_ship_it_once(
    tmp_path: Path, fleet_db: FleetDb
) -> None:
    """Duplicate shipping at about the same moment (a manual run during the timer's): both finish
    without an error, the server holds each record once and the chain the host holds."""
    import threading  # noqa: PLC0415

    host = Host(tmp_path / "h")
    host.deliver(200)
    results: list[object] = []

    def run() -> None:
        try:
            results.append(ship_journal(host.path, fleet_db.ship, batch_rows=50))
        except Exception as err:  # the assertion below shows it
            results.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(r.shipped for r in results) >= len(local_chain(host.path))  # type: ignore[attr-defined]
    assert server_chain(fleet_db, host.key.journal_id) == local_chain(host.path)
    assert fleet_db.query("SELECT count(*) FROM pumpctl.heads") == [(1,)]
    assert fleet_db.query("SELECT count(*) FROM pumpctl.refusals") == [(0,)]
    host.close()


def test_a_key_file_swapped_on_a_host_is_refused_until_someone_accepts_it(
    tmp_path: Path, fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone puts another key file in a host's state directory: at its next start the daemon
    journals it as a replacement nobody vouches for, and the server refuses the journal's new
    records (exit 3) until the data manager accepts the key; the server keeps what it had."""
    from pumpctl.journal.keyfile import KEY_FILE  # noqa: PLC0415

    host = Host(tmp_path / "h")
    host.deliver(1)
    host.close()
    ship_journal(host.path, fleet_db.ship)
    held = server_chain(fleet_db, host.key.journal_id)
    intruder = Host(tmp_path / "intruder")
    intruder.close()
    shutil.copy2(intruder.state_dir / KEY_FILE, host.state_dir / KEY_FILE)
    host = Host.reopen(host.state_dir)
    assert host.key.key_id == intruder.key.key_id
    host.deliver(1)
    capsys.readouterr()
    assert main(["ship", "-j", str(host.path), "--to", fleet_db.ship]) == 3
    assert f"pumpctl fleet accept-key {host.key.journal_id} {intruder.key.key_id}" in (
        capsys.readouterr().err
    )
    assert server_chain(fleet_db, host.key.journal_id) == held
    journal = _status(fleet_db, capsys)[host.key.journal_id]
    assert journal["refusals"] == 1 and journal["signed_key_id"] != intruder.key.key_id
    host.close()


def test_terminal_escapes_from_a_host_never_reach_the_data_managers_terminal(
    tmp_path: Path, fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hostile host writes an escape sequence into a refusal reason (the shipping role may
    insert refusals): fleet status prints it as ``?``, and the rest of the line as it was."""
    import psycopg  # noqa: PLC0415

    host = Host(tmp_path / "h")
    host.deliver(1)
    ship_journal(host.path, fleet_db.ship)
    with psycopg.connect(fleet_db.ship) as conn:
        conn.execute(
            "INSERT INTO pumpctl.refusals (journal_id, host_seq, reason) VALUES (%s, 1, %s)",
            (host.key.journal_id, "bad \x1b[2J\x1b]0;owned\x07 news"),
        )
    capsys.readouterr()
    assert main(["fleet", "status", "--db", fleet_db.read]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "bad ?[2J?]0;owned? news" in out
    host.close()


def test_a_subject_id_written_as_a_formula_is_inert_in_the_fleet_index(
    tmp_path: Path, fleet_db: FleetDb
) -> None:
    """A host whose subject id starts with = (a spreadsheet formula) appears in index.csv
    with a leading quote, so opening the index in a spreadsheet runs nothing."""
    import csv  # noqa: PLC0415

    host = Host(tmp_path / "h", subject='=HYPERLINK("http://x","y")')
    host.deliver(1)
    ship_journal(host.path, fleet_db.ship)
    out = tmp_path / "out"
    assert main(["fleet", "report", "--db", fleet_db.read, "--format", "csv", "-o", str(out)]) == 0
    with (out / "index.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["subject"] == '\'=HYPERLINK("http://x","y")'
    host.close()
