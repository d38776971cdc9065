"""`pumpctl fleet status|report` across shipped journals, through the single-host report code."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.fleet.ship import ship_journal
from pumpctl.report import write_report
from tests.fleet.conftest import FleetDb
from tests.fleet.journals import Host


@pytest.fixture
def shipped(tmp_path: Path, fleet_db: FleetDb) -> list[Host]:
    """Three hosts in two studies, each with some delivered pulses, all shipped."""
    hosts = [
        Host(tmp_path / "a", subject="SUBJ-1", pump="pump A", study="STUDY-X"),
        Host(tmp_path / "b", subject="SUBJ-2", pump="pump B", study="STUDY-X"),
        Host(tmp_path / "c", subject="SUBJ-3", pump="pump C", study="STUDY-Y"),
    ]
    for n, host in enumerate(hosts, start=2):
        host.deliver(n)
        ship_journal(host.path, fleet_db.ship)
    return hosts


def test_status_lists_every_journal_with_subject_pump_study_and_head(
    shipped: list[Host], fleet_db: FleetDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line per journal; the read-only role may run it."""
    assert main(["fleet", "status", "--db", fleet_db.read]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("3 journal(s) on monitor@127.0.0.1")
    rows = [line.split() for line in out[2:]]
    assert [(r[0], r[1]) for r in rows] == [
        ("STUDY-X", "SUBJ-1"),
        ("STUDY-X", "SUBJ-2"),
        ("STUDY-Y", "SUBJ-3"),
    ]
    assert rows[0][5] == str(shipped[0].journal.head.seq)  # type: ignore[union-attr]


def test_report_per_study_renders_the_same_csv_as_the_host_report(
    shipped: list[Host], fleet_db: FleetDb, tmp_path: Path
) -> None:
    """A fleet CSV report of a journal has exactly the rows of the host's own CSV report."""
    out = tmp_path / "out"
    argv = ["fleet", "report", "--db", fleet_db.read, "--study", "STUDY-X", "--format", "csv"]
    assert main([*argv, "-o", str(out)]) == 0
    with (out / "index.csv").open() as f:
        index = list(csv.DictReader(f))
    assert [(r["subject"], r["delivered"]) for r in index] == [("SUBJ-1", "2"), ("SUBJ-2", "3")]
    assert [(r["scheduled"], r["missed"], r["adherence_pct"]) for r in index] == [
        ("2", "0", "100.0"),
        ("3", "0", "100.0"),
    ]
    assert [r["delivered_dose_ug"] for r in index] == ["20.000", "30.000"]
    assert [(r["unexplained_flows"], r["unexplained_flow_dose_ug"]) for r in index] == [
        ("0", "0"),
        ("0", "0"),
    ]
    for row, host in zip(index, shipped, strict=False):
        host_csv = write_report(host.path, "csv", tmp_path / f"{row['subject']}.csv")
        assert (out / row["file"]).read_text() == host_csv.read_text()


def test_report_in_html_and_fhir_per_subject(
    shipped: list[Host], fleet_db: FleetDb, tmp_path: Path
) -> None:
    """HTML carries the server-side verdict; FHIR is a Bundle, for one subject."""
    for fmt in ("html", "fhir"):
        out = tmp_path / fmt
        assert (
            main(
                [
                    "fleet",
                    "report",
                    "--db",
                    fleet_db.read,
                    "--subject",
                    "SUBJ-3",
                    "--format",
                    fmt,
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        (written,) = [p for p in out.iterdir() if p.name != "index.csv"]
        assert written.name.startswith("STUDY-Y_SUBJ-3_pump-C_")
        text = written.read_text()
        if fmt == "html":
            assert "chain verified" in text and "fleet" in text
        else:
            assert json.loads(text)["resourceType"] == "Bundle"


def test_report_flags_a_server_copy_altered_behind_the_triggers(
    shipped: list[Host], fleet_db: FleetDb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An administrator who disables the triggers and edits a record is caught at report time."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(fleet_db.admin) as conn:
        conn.execute("ALTER TABLE pumpctl.records DISABLE TRIGGER USER")
        conn.execute(
            "UPDATE pumpctl.records SET body = replace(body, '\"10\"', '\"1\"') "
            "WHERE seq = 4 AND journal_id = %s",
            (shipped[0].key.journal_id,),
        )
    out = tmp_path / "out"
    assert main(["fleet", "report", "--db", fleet_db.read, "--format", "csv", "-o", str(out)]) == 3
    assert "1 journal(s) do not verify" in capsys.readouterr().err
    with (out / "index.csv").open() as f:
        verdicts = [r["verdict"] for r in csv.DictReader(f)]
    assert verdicts[0].startswith("TAMPERED") and verdicts[1].startswith("chain verified")


def test_fleet_commands_without_a_server_are_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No --db and no configuration: exit 2 with the options to give."""
    assert main(["fleet", "status"]) == 2
    assert "--db" in capsys.readouterr().err


def test_a_consistent_rewrite_of_the_server_copy_fails_on_the_signature(
    shipped: list[Host], fleet_db: FleetDb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An administrator who disables the triggers, edits a dose and recomputes every later
    hash and the journal's signed hash passes the chain check, but not the head's signature,
    which the report checks again with the keys the chain names."""
    import hashlib  # noqa: PLC0415

    import psycopg  # noqa: PLC0415

    victim = shipped[0].key.journal_id
    with psycopg.connect(fleet_db.admin) as conn:
        conn.execute("ALTER TABLE pumpctl.records DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE pumpctl.heads DISABLE TRIGGER USER")
        rows = conn.execute(
            "SELECT seq, body, prev_hash FROM pumpctl.records WHERE journal_id = %s ORDER BY seq",
            (victim,),
        ).fetchall()
        prev = None
        for seq, original, prev_hash in rows:
            body = original.replace('"10"', '"1"') if seq == 4 else original
            assert seq != 4 or body != original
            link = prev_hash if prev is None else prev
            digest = hashlib.sha256(bytes.fromhex(link) + body.encode()).hexdigest()
            conn.execute(
                "UPDATE pumpctl.records SET body = %s, prev_hash = %s, hash = %s"
                " WHERE journal_id = %s AND seq = %s",
                (body, link, digest, victim, seq),
            )
            prev = digest if seq >= 4 else None
        conn.execute(
            "UPDATE pumpctl.journals SET signed_hash = %s WHERE journal_id = %s", (prev, victim)
        )
        conn.execute("UPDATE pumpctl.heads SET hash = %s WHERE journal_id = %s", (prev, victim))
    out = tmp_path / "out"
    assert main(["fleet", "report", "--db", fleet_db.read, "--format", "csv", "-o", str(out)]) == 3
    assert "1 journal(s) do not verify" in capsys.readouterr().err
    with (out / "index.csv").open() as f:
        index = {r["journal_id"]: r["verdict"] for r in csv.DictReader(f)}
    assert "signature of head" in index[victim] and "does not verify" in index[victim]
    others = [v for k, v in index.items() if k != victim]
    assert others and all(v.startswith("chain verified") for v in others)
