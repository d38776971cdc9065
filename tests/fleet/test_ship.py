"""`pumpctl ship` into a real PostgreSQL: ordered, idempotent, resumable, server-verified."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pumpctl.cli import main
from pumpctl.errors import JournalTamperedError
from pumpctl.fleet import ship as ship_module
from pumpctl.fleet.db import FleetError, FleetRejectedError
from pumpctl.fleet.ship import ship_journal
from pumpctl.journal.chain import Head, record_bytes, write_head
from pumpctl.journal.signing import seal_head
from tests.fleet.conftest import FleetDb, new_database
from tests.fleet.journals import Host
from tests.fleet.pgcluster import Cluster
from tests.integration.test_journal_tamper import attack, rehash


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    h = Host(tmp_path / "host")
    h.deliver(5)
    yield h
    h.close()


def local_chain(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as conn:
        return [
            (int(s), str(h)) for s, h in conn.execute("SELECT seq, hash FROM events ORDER BY seq")
        ]


def server_chain(db: FleetDb, journal_id: str) -> list[tuple[int, str]]:
    rows = db.query(
        "SELECT seq, hash FROM pumpctl.records WHERE journal_id = %s ORDER BY seq", journal_id
    )
    return [(int(s), str(h)) for s, h in rows]  # type: ignore[call-overload]


def test_shipping_copies_every_record_and_the_signed_head(host: Host, fleet_db: FleetDb) -> None:
    """The server holds the host's records with the same hashes, and the head the daemon signed."""
    result = ship_journal(host.path, fleet_db.ship)
    assert result.shipped == len(local_chain(host.path)) == result.head.seq
    assert server_chain(fleet_db, host.key.journal_id) == local_chain(host.path)
    ((seq, key_id),) = fleet_db.query("SELECT seq, key_id FROM pumpctl.heads")
    assert (seq, key_id) == (result.head.seq, host.key.key_id)
    ((subject, pump, study),) = fleet_db.query(
        "SELECT subject_id, pump_label, study FROM pumpctl.journals"
    )
    assert (subject, pump, study) == ("SUBJ-1", "pump A", "STUDY-X")


def test_the_server_keeps_the_exact_hashed_bytes(host: Host, fleet_db: FleetDb) -> None:
    """Each record's body on the server is byte for byte what the host hashed."""
    ship_journal(host.path, fleet_db.ship)
    with sqlite3.connect(host.path) as conn:
        local = {
            int(r[0]): record_bytes(r[1:7]).decode()
            for r in conn.execute(
                "SELECT seq, kind, wall_utc, utc_offset_min, elapsed_s, boot_id, payload"
                " FROM events"
            )
        }
    shipped = dict(fleet_db.query("SELECT seq, body FROM pumpctl.records"))  # type: ignore[arg-type]
    assert shipped == local


def test_a_second_run_ships_only_what_is_new(host: Host, fleet_db: FleetDb) -> None:
    """Nothing new: up to date; new records: only those, in order, after the held ones."""
    first = ship_journal(host.path, fleet_db.ship)
    again = ship_journal(host.path, fleet_db.ship)
    assert again.shipped == 0 and "up to date" in again.line
    host.deliver(2)
    third = ship_journal(host.path, fleet_db.ship)
    assert (third.held_before, third.shipped) == (first.head.seq, 4)
    assert server_chain(fleet_db, host.key.journal_id) == local_chain(host.path)
    assert len(fleet_db.query("SELECT 1 FROM pumpctl.heads")) == 2


def _replay(dsn: str, host: Host, first: int, last: int) -> None:
    """Send records ``first..last`` and the signed head again, as a shipper that lost its ack."""
    sealed = host.path.with_name(host.path.name + ".head")
    from pumpctl.journal.chain import read_sealed_head  # noqa: PLC0415

    found = read_sealed_head(host.path)
    assert found is not None and sealed.exists()
    head, seal = found
    assert seal is not None
    with sqlite3.connect(host.path) as lite, psycopg.connect(dsn) as conn:
        rows = lite.execute(
            "SELECT seq, kind, wall_utc, utc_offset_min, elapsed_s, boot_id, payload, prev_hash,"
            " hash FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (first, last),
        ).fetchall()
        with conn.cursor() as cur:
            for row in rows:
                cur.execute(
                    "INSERT INTO pumpctl.records (journal_id, seq, body, prev_hash, hash)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (seal.journal_id, row[0], record_bytes(row[1:7]).decode(), row[7], row[8]),
                )
            cur.execute(
                "INSERT INTO pumpctl.heads (journal_id, seq, hash, key_id, signature)"
                " VALUES (%s, %s, %s, %s, %s)",
                (seal.journal_id, head.seq, head.hash, seal.key_id, bytes.fromhex(seal.signature)),
            )


def test_replaying_the_same_batch_twice_changes_nothing(host: Host, fleet_db: FleetDb) -> None:
    """The same records and head sent again are skipped by the server, without an error."""
    result = ship_journal(host.path, fleet_db.ship)
    before = fleet_db.query("SELECT journal_id, seq, hash FROM pumpctl.records ORDER BY seq")
    _replay(fleet_db.ship, host, 1, result.head.seq)
    _replay(fleet_db.ship, host, 3, result.head.seq)
    after = fleet_db.query("SELECT journal_id, seq, hash FROM pumpctl.records ORDER BY seq")
    assert after == before
    assert len(fleet_db.query("SELECT 1 FROM pumpctl.heads")) == 1


def test_a_forged_direct_insert_without_a_signed_head_cannot_commit(
    host: Host, fleet_db: FleetDb
) -> None:
    """A record that links and hashes correctly but that no signed head covers is refused."""
    shipped = ship_journal(host.path, fleet_db.ship)
    host.deliver(1)  # the next real record, inserted by hand without its head
    ((seq, body, prev, digest),) = [
        (r[0], record_bytes(r[1:7]).decode(), r[7], r[8])
        for r in sqlite3.connect(host.path).execute(
            "SELECT seq, kind, wall_utc, utc_offset_min, elapsed_s, boot_id, payload, prev_hash,"
            " hash FROM events WHERE seq = ?",
            (shipped.head.seq + 1,),
        )
    ]
    refused = _forge(
        fleet_db.ship,
        "INSERT INTO pumpctl.records (journal_id, seq, body, prev_hash, hash)"
        " VALUES (%s, %s, %s, %s, %s)",
        host.key.journal_id,
        seq,
        body,
        prev,
        digest,
    )
    assert refused.sqlstate == "PF004" and "not covered by a head signed" in str(refused)
    assert server_chain(fleet_db, host.key.journal_id) == local_chain(host.path)[:-2]


def _forge(dsn: str, sql: str, *params: Any) -> psycopg.Error:
    conn = psycopg.connect(dsn)
    try:
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(sql, params)
            conn.commit()
        return caught.value
    finally:
        conn.close()


def test_forged_records_and_heads_are_refused_by_the_server(host: Host, fleet_db: FleetDb) -> None:
    """A wrong hash, a wrong link, a head with a bad signature or an unknown key: all refused."""
    result = ship_journal(host.path, fleet_db.ship)
    jid, last = host.key.journal_id, result.head
    body = (
        '{"boot_id":"b","elapsed_s":1.0,"kind":"daemon.stop","payload":{},"utc_offset_min":0,'
        '"wall_utc":"2026-03-03T00:00:00.000000+00:00"}'
    )
    insert = (
        "INSERT INTO pumpctl.records (journal_id, seq, body, prev_hash, hash)"
        " VALUES (%s, %s, %s, %s, %s)"
    )
    bad_hash = _forge(fleet_db.ship, insert, jid, last.seq + 1, body, last.hash, "ab" * 32)
    assert bad_hash.sqlstate == "PF001"
    assert "does not match its content" in str(bad_hash)
    from pumpctl.journal.chain import link_hash  # noqa: PLC0415

    wrong_link = _forge(
        fleet_db.ship,
        insert,
        jid,
        last.seq + 1,
        body,
        "11" * 32,
        link_hash("11" * 32, body.encode()),
    )
    assert wrong_link.sqlstate == "PF002"
    head_sql = (
        "INSERT INTO pumpctl.heads (journal_id, seq, hash, key_id, signature)"
        " VALUES (%s, %s, %s, %s, %s)"
    )
    bad_sig = _forge(
        fleet_db.ship, head_sql, jid, 3, dict(local_chain(host.path))[3], host.key.key_id, bytes(64)
    )
    assert bad_sig.sqlstate == "PF003" and "signature does not verify" in str(bad_sig)
    other_key = _forge(
        fleet_db.ship, head_sql, jid, 3, dict(local_chain(host.path))[3], "0" * 16, bytes(64)
    )
    assert other_key.sqlstate == "PF003"
    for statement in ("DELETE FROM pumpctl.records", "UPDATE pumpctl.heads SET seq = 0"):
        changed = _forge(fleet_db.admin, statement)
        assert changed.sqlstate == "PF005"
    keys = _forge(
        fleet_db.ship, "INSERT INTO pumpctl.keys VALUES (%s, 99, 'k', %s, true)", jid, bytes(32)
    )
    assert isinstance(keys, psycopg.errors.InsufficientPrivilege)
    assert server_chain(fleet_db, jid) == local_chain(host.path)


def test_a_forked_host_journal_is_refused_and_the_server_copy_kept(
    tmp_path: Path, fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two different records for one journal id and sequence number: the second host is refused
    with exit 3, and the server keeps the first."""
    import shutil  # noqa: PLC0415

    a = Host(tmp_path / "a")
    a.deliver(2)
    a.close()
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # a cloned state directory, key and all
    a = Host.reopen(tmp_path / "a")
    b = Host.reopen(tmp_path / "b")
    a.deliver(1)
    b.clock.advance(17)
    b.deliver(1)
    assert ship_journal(a.path, fleet_db.ship).shipped > 0
    assert main(["ship", "-j", str(b.path), "--to", fleet_db.ship]) == 3
    err = capsys.readouterr().err
    assert "fork" in err and err.count("\n") == 1
    assert server_chain(fleet_db, a.key.journal_id) == local_chain(a.path)
    a.close()
    b.close()


def test_a_host_journal_that_does_not_match_its_signed_head_is_not_shipped(
    host: Host, fleet_db: FleetDb
) -> None:
    """A record edited on the host after its head was signed: nothing leaves the host."""
    host.close()
    with sqlite3.connect(host.path) as conn:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET hash = ? WHERE seq = 4", ("cd" * 32,))
    with pytest.raises(JournalTamperedError):
        ship_journal(host.path, fleet_db.ship)
    assert fleet_db.query("SELECT count(*) FROM pumpctl.records") == [(0,)]


def test_a_rewrite_signed_with_a_stolen_key_is_refused_as_a_fork(
    host: Host, fleet_db: FleetDb
) -> None:
    """Someone with the host's key rewrites shipped records and re-signs the head: the server's
    copy exposes it as a fork and keeps what it had."""
    ship_journal(host.path, fleet_db.ship)
    before = server_chain(fleet_db, host.key.journal_id)
    host.close()

    def rewrite(rows: list[list[object]]) -> list[list[object]]:
        rows[-1][6] = rows[-1][6].replace('"10"', '"1"')  # type: ignore[attr-defined]
        rows[-1] = rehash(rows[-1], str(rows[-2][8]))
        return rows

    attack(host.path, rewrite)
    last_seq, last_hash = local_chain(host.path)[-1]
    forged = Head(last_seq, last_hash)
    write_head(host.path, forged, seal_head(host.key, forged))
    with pytest.raises(FleetRejectedError, match="fork"):
        ship_journal(host.path, fleet_db.ship)
    assert server_chain(fleet_db, host.key.journal_id) == before


def test_server_side_checks_hold_for_a_rotated_key_and_refuse_a_replaced_one(
    tmp_path: Path, fleet_db: FleetDb
) -> None:
    """A rotation signed by the old key is accepted; a key replaced without it waits for
    fleet accept-key, after which shipping resumes."""
    from pumpctl.journal.keyfile import KEY_FILE, attach_key, rotate_key  # noqa: PLC0415

    h = Host(tmp_path / "h")
    h.deliver(1)
    rotate_key(h.journal, h.state_dir, reason="yearly")
    h.deliver(1)
    assert ship_journal(h.path, fleet_db.ship).shipped > 0
    (h.state_dir / KEY_FILE).unlink()
    replaced = attach_key(h.journal, h.state_dir)
    h.deliver(1)
    with pytest.raises(FleetRejectedError, match="accept"):
        ship_journal(h.path, fleet_db.ship)
    assert (
        main(
            [
                "fleet",
                "accept-key",
                "--db",
                fleet_db.admin,
                replaced.journal_id,
                replaced.key_id,
                "--who",
                "data manager",
            ]
        )
        == 0
    )
    assert ship_journal(h.path, fleet_db.ship).shipped > 0
    assert server_chain(fleet_db, h.key.journal_id) == local_chain(h.path)
    h.close()


def test_a_forged_rotation_is_refused(tmp_path: Path, fleet_db: FleetDb) -> None:
    """A key.rotated record whose signature the old key did not make is refused by the server."""
    h = Host(tmp_path / "h")
    other = Host(tmp_path / "other")
    h.journal.record_key_rotated(
        h.key.journal_id,
        other.key.public_key,
        previous_key_id=h.key.key_id,
        rotation_signature=bytes(64),
        reason="forged",
    )
    other.key.journal_id = h.key.journal_id
    h.journal.attach_signer(other.key)
    h.deliver(1)
    with pytest.raises(FleetRejectedError, match="rotation signature"):
        ship_journal(h.path, fleet_db.ship)
    assert fleet_db.query("SELECT count(*) FROM pumpctl.records") == [(0,)]
    h.close()
    other.close()


def test_connection_dropped_mid_shipment_commits_nothing_and_the_next_run_resumes(
    host: Host, fleet_db: FleetDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server drops the shipper in the middle of its COPY: one clear error, nothing held,
    and the next run ships everything."""
    host.deliver(40)
    real = ship_module.read_records

    def dropping(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for n, record in enumerate(real(*args, **kwargs)):
            if n == 30:
                fleet_db.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'pumpctl ship'"
                )
            yield record

    monkeypatch.setattr(ship_module, "read_records", dropping)
    with pytest.raises(FleetError, match="nothing was committed") as caught:
        ship_journal(host.path, fleet_db.ship, batch_rows=10)
    assert "\n" not in str(caught.value)
    assert fleet_db.query("SELECT count(*) FROM pumpctl.records") == [(0,)]
    monkeypatch.setattr(ship_module, "read_records", real)
    assert ship_journal(host.path, fleet_db.ship).shipped == len(local_chain(host.path))
    assert server_chain(fleet_db, host.key.journal_id) == local_chain(host.path)


def test_server_restarted_mid_shipment_then_the_shipper_resumes(
    host: Host, pg_cluster: Cluster, fleet_db: FleetDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart during a shipment loses nothing; while it is down the shipper says so in
    one line; afterwards the same command completes the copy."""
    ship_journal(host.path, fleet_db.ship)
    host.deliver(30)
    real = ship_module.read_records

    def restarting(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for n, record in enumerate(real(*args, **kwargs)):
            if n == 20:
                pg_cluster.stop("fast")
            yield record

    monkeypatch.setattr(ship_module, "read_records", restarting)
    try:
        with pytest.raises(FleetError):
            ship_journal(host.path, fleet_db.ship, batch_rows=5)
        monkeypatch.setattr(ship_module, "read_records", real)
        with pytest.raises(FleetError, match="cannot connect"):
            ship_journal(host.path, fleet_db.ship, timeout_s=2)
    finally:
        pg_cluster.start()
    assert ship_journal(host.path, fleet_db.ship).shipped == 60
    assert server_chain(fleet_db, host.key.journal_id) == local_chain(host.path)


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("not a uri", "is not a PostgreSQL"),
        ("postgresql://shipper:wrong@127.0.0.1:{port}/postgres", "password authentication failed"),
        ("postgresql://shipper@127.0.0.1:{dead}/postgres", "cannot connect to the fleet server"),
    ],
)
def test_bad_server_settings_are_one_line_and_exit_1(
    host: Host, pg_cluster: Cluster, to: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong DSN, a wrong password or a server that is down: exit 1, one line, no traceback."""
    from tests.fleet.pgcluster import refused_port  # noqa: PLC0415

    with refused_port() as dead:
        dsn = to.format(port=pg_cluster.port, dead=dead)
        assert main(["ship", "-j", str(host.path), "--to", dsn, "--timeout-s", "3"]) == 1
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err
    assert "wrong" not in err  # the password is never echoed


def test_a_schema_made_by_someone_else_is_refused_and_left_alone(
    host: Host, pg_cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database whose pumpctl schema pumpctl did not make: one line, nothing touched."""
    db = new_database(pg_cluster, schema=False)
    with psycopg.connect(db.admin) as conn:
        conn.execute("CREATE SCHEMA pumpctl")
        conn.execute("CREATE TABLE pumpctl.records (id int)")
        conn.execute("INSERT INTO pumpctl.records VALUES (42)")
    assert main(["ship", "-j", str(host.path), "--to", db.admin]) == 1
    assert "not made by pumpctl" in capsys.readouterr().err
    assert main(["fleet", "init", "--db", db.admin]) == 1
    assert "refusing to touch it" in capsys.readouterr().err
    assert db.query("SELECT id FROM pumpctl.records") == [(42,)]


def test_a_database_without_the_schema_says_how_to_create_it(
    host: Host, pg_cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    """No schema yet: the shipper names `pumpctl fleet init`; after it, shipping works."""
    db = new_database(pg_cluster, schema=False)
    assert main(["ship", "-j", str(host.path), "--to", db.admin]) == 1
    assert "pumpctl fleet init" in capsys.readouterr().err
    assert main(["fleet", "init", "--db", db.admin]) == 0
    assert main(["ship", "-j", str(host.path), "--to", db.admin]) == 0


def test_missing_client_names_the_extra_to_install(
    host: Host, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without psycopg the command says to install pumpctl[fleet]."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    assert main(["ship", "-j", str(host.path), "--to", "postgresql://x@127.0.0.1/db"]) == 1
    assert "pip install 'pumpctl[fleet]'" in capsys.readouterr().err


def test_an_unsigned_journal_is_not_shipped(tmp_path: Path, fleet_db: FleetDb) -> None:
    """A journal whose head no key signed yet is refused before anything is sent."""
    from pumpctl.core.clock import VirtualClock  # noqa: PLC0415
    from pumpctl.journal import Journal  # noqa: PLC0415
    from tests.fleet.journals import T0  # noqa: PLC0415

    with Journal(tmp_path / "old.db", VirtualClock(T0)) as journal:
        journal.record_daemon_stop("old pumpctl")
    with pytest.raises(FleetError, match="not signed"):
        ship_journal(tmp_path / "old.db", fleet_db.ship)
