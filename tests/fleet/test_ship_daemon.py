"""Shipping while the daemon delivers: shipper and daemon SIGKILLed at random points, then the
pump's ledger, the host journal and the fleet server must agree."""

from __future__ import annotations

import csv
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from pumpctl.cli import main
from tests.e2e.harness import DaemonProcess, Pumpsim, journal_events, wait_until, write_config
from tests.fleet.conftest import SHIP_PASSWORD, SHIP_ROLE, FleetDb

SCALE = 480.0  # an hour of therapy in 7.5 s, as the other pty benches
INTERVAL_MIN = 60
PULSES = 3
pytestmark = pytest.mark.timeout(150)


def _ship(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pumpctl", "ship", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _chain(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
        return [
            (int(s), str(h)) for s, h in conn.execute("SELECT seq, hash FROM events ORDER BY seq")
        ]


def test_ledger_journal_and_fleet_server_agree_after_random_kills(
    tmp_path: Path, fleet_db: FleetDb
) -> None:
    """A shipper started every fraction of a second and often SIGKILLed mid-run, a daemon
    SIGKILLed once and restarted: every shipper that finished exited 0, and at the end the
    server holds exactly the host journal, whose pulses are the ledger's."""
    rng = random.Random(17)  # noqa: S311  (a reproducible test schedule, not cryptography)
    cluster = fleet_db.cluster
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{cluster.port}:{fleet_db.name}:{SHIP_ROLE}:{SHIP_PASSWORD}\n")
    passfile.chmod(0o600)
    dsn = f"postgresql://{SHIP_ROLE}@127.0.0.1:{cluster.port}/{fleet_db.name}?passfile={passfile}"
    sim = Pumpsim(tmp_path, scale=SCALE)
    config = write_config(
        tmp_path,
        sim.link,
        anchor=sim.start + timedelta(minutes=3),
        sections={
            "prescription": {"interval_min": INTERVAL_MIN},
            "limits": {"min_interval_min": INTERVAL_MIN, "max_pulses_24h": 24},
            "subject": {"id": "SUBJ-7", "pump_label": "bench 7", "study": "FLEET-E2E"},
            "ship": {"to": dsn},
        },
    )
    daemons = [DaemonProcess(config, scale=SCALE)]
    outcomes: list[int] = []
    killed_daemon = False
    try:
        daemons[-1].wait_ready()
        deadline = time.monotonic() + 60
        while len(sim.starts()) < PULSES and time.monotonic() < deadline:
            shipper = _ship(config)
            if rng.random() < 0.6:
                time.sleep(rng.uniform(0.05, 0.6))
                shipper.send_signal(signal.SIGKILL)
            out, _ = shipper.communicate(timeout=30)
            assert shipper.returncode in (0, -signal.SIGKILL), out.decode()
            outcomes.append(shipper.returncode)
            if not killed_daemon and len(sim.starts()) >= 1:
                time.sleep(rng.uniform(0, 0.5))
                daemons[-1].kill()
                killed_daemon = True
                daemons.append(DaemonProcess(config, scale=SCALE, log_name="daemon2.log"))
                daemons[-1].wait_ready()
        assert len(sim.starts()) >= PULSES, "the daemon did not deliver in time"
        # The last pulse finishes on its own; then a clean stop, as at the end of a study day.
        wait_until(lambda: sim.state()["status"] != "I", 10, "the last bolus to end")
        assert daemons[-1].stop() == 0
    finally:
        for daemon in daemons:
            daemon.close()
        sim.close()
    assert main(["ship", "-c", str(config)]) == 0
    assert killed_daemon and -signal.SIGKILL in outcomes and 0 in outcomes

    journal = daemons[-1].journal_path
    assert fleet_db.query("SELECT seq, hash FROM pumpctl.records ORDER BY seq") == _chain(journal)
    ((signed_seq, study),) = fleet_db.query("SELECT signed_seq, study FROM pumpctl.journals")
    assert (signed_seq, study) == (len(_chain(journal)), "FLEET-E2E")
    events = journal_events(journal)
    delivered = [
        e["payload"]["slot_id"]
        for e in events
        if e["kind"] in ("pulse.outcome", "pulse.reconciled")
        and e["payload"]["outcome"] == "DELIVERED"
    ]
    ledger = sim.starts()
    assert len(ledger) == len(set(delivered)) >= PULSES
    report_dir = tmp_path / "fleet-report"
    assert (
        main(["fleet", "report", "--db", fleet_db.read, "--format", "csv", "-o", str(report_dir)])
        == 0
    )
    with (report_dir / "index.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert (row["study"], row["subject"], row["pump"]) == ("FLEET-E2E", "SUBJ-7", "bench 7")
    assert int(row["delivered"]) == len(ledger)
    assert row["verdict"].startswith("chain verified")
