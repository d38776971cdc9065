"""Fleet scale: rows/s shipped into one PostgreSQL from N = 1, 10, 100 journal-years, and the
time of ``pumpctl fleet report`` and ``fleet status`` over 100 subject-years.

One year of therapy is written through the real journal API (16 pulses a day: gate decision,
intent, RUN, outcome; a weekly alarm and refill; signed heads) on a RAM disk. Every other
journal is that year re-chained under its own key and journal id (hashes recomputed, head
signed), so N journals cost seconds to make and each one verifies like a daemon's. A throwaway
cluster (tests/fleet/pgcluster.py, fsync on as a real server has it) receives them: up to
``--parallel`` ``pumpctl ship`` processes at once, as many hosts shipping at the same time.
Run: ``python benchmarks/bench_fleet.py [--journals 1,10,100] [--parallel 4]``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import structlog
from _bench import ROOT, figure

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Decision, Outcome, Slot
from pumpctl.journal import Journal
from pumpctl.journal.chain import GENESIS_HASH, Head, link_hash, record_bytes, write_head
from pumpctl.journal.keyfile import attach_key
from pumpctl.journal.signing import key_payload, seal_head
from tests.fleet.pgcluster import Cluster, start_cluster

START = datetime(2025, 1, 6, 7, 0, tzinfo=UTC)
#: Targets: a study of 100 subjects shipping every 5 minutes needs far less than this; these
#: are what a data manager would call "plenty": a year of one host in seconds, 100 in minutes.
SHIP_TARGET_ROWS_S = 5000
REPORT_TARGET_S = 300.0
STATUS_TARGET_S = 3.0  # the whole command, interpreter start included


def build_year(state_dir: Path, subject: str) -> int:
    """A year of daemon-shaped, signed records; returns the record count."""
    clock = VirtualClock(START, elapsed_s=1000.0)
    path = state_dir / "journal.sqlite3"
    with Journal(path, clock) as journal:
        attach_key(journal, state_dir)
        journal.record_daemon_start(
            "bench",
            "bench",
            identity={"subject": {"id": subject, "study": "BENCH"}, "pump": {"label": "pump"}},
        )
        for day in range(365):
            for k in range(16):
                when = START + timedelta(days=day, hours=1, minutes=90 * k)
                clock.advance_to(when)
                slot = Slot(
                    f"S{when:%Y%m%dT%H%M%SZ}",
                    when,
                    90,
                    Decimal(10),
                    Decimal(10),
                    Decimal(10),
                    Decimal(60),
                )
                journal.record_gate_decision(slot.slot_id, Decision())
                journal.record_intent(slot, pump_settings={"VOL": "10", "RAT": "10"})
                journal.record_run(slot.slot_id)
                clock.advance(60)
                journal.record_outcome(
                    slot.slot_id,
                    Outcome.DELIVERED,
                    delivered_volume_ul=Decimal(10),
                    started=when,
                    ended=clock.now(),
                )
            if day % 7 == 3:
                journal.record_alarm(f"A{day}", "reservoir-low", "low", "8 pulses left")
                journal.record_alarm_acknowledged(f"A{day}", "operator", note="refilled")
                journal.record_reservoir_change(Decimal(1000), "operator", "refill")
        if journal.head is None:
            raise SystemExit("the template journal is empty")
        return journal.head.seq


def clone_year(template: Path, state_dir: Path, subject: str) -> None:
    """The template year under a new key and journal id: record 1 changes, so every hash does."""
    state_dir.mkdir()
    with Journal(state_dir / "scratch.db", VirtualClock(START)) as scratch:
        key = attach_key(scratch, state_dir)  # creates this host's key file
    (state_dir / "scratch.db").unlink()
    for suffix in ("-wal", "-shm", ".head"):
        (state_dir / f"scratch.db{suffix}").unlink(missing_ok=True)
    key.journal_id = uuid.uuid4().hex
    target = state_dir / "journal.sqlite3"
    shutil.copy(template, target)
    conn = sqlite3.connect(target)
    rows = conn.execute(
        "SELECT seq, kind, wall_utc, utc_offset_min, elapsed_s, boot_id, payload FROM events"
        " ORDER BY seq"
    ).fetchall()
    from pumpctl.journal.chain import canonical_json  # noqa: PLC0415

    out, prev = [], GENESIS_HASH
    for seq, kind, wall, offset, elapsed, boot, original in rows:
        payload = original
        if kind == "key.enrolled":
            payload = canonical_json(key_payload(key.journal_id, key.public_key, reason="first"))
        elif kind == "daemon.start":
            payload = original.replace('"id":"SUBJ-TEMPLATE"', f'"id":"{subject}"')
        digest = link_hash(prev, record_bytes((kind, wall, offset, elapsed, boot, payload)))
        out.append((payload, prev, digest, seq))
        prev = digest
    conn.execute("DROP TRIGGER events_no_update")
    conn.executemany("UPDATE events SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?", out)
    conn.commit()
    conn.close()
    head = Head(len(out), prev)
    write_head(target, head, seal_head(key, head))


def ship_all(dsn: str, hosts: list[Path], parallel: int) -> float:
    def one(path: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "pumpctl", "ship", "-j", str(path), "--to", dsn],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, hosts))
    return time.perf_counter() - began


def fresh_db(cluster: Cluster, name: str) -> str:
    import psycopg  # noqa: PLC0415

    from pumpctl.fleet.db import init_schema  # noqa: PLC0415

    with psycopg.connect(cluster.admin_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = cluster.admin_dsn(name)
    with psycopg.connect(dsn) as conn:
        init_schema(conn, name)
    return dsn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--journals", default="1,10,100", help="comma-separated N values")
    parser.add_argument("--parallel", type=int, default=4, help="shippers at once")
    args = parser.parse_args()
    counts = [int(n) for n in args.journals.split(",")]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    ram = Path("/dev/shm")  # noqa: S108  (only a parent: mkdtemp makes a private folder in it)
    work = Path(tempfile.mkdtemp(prefix="pumpctl-fleet-", dir=ram if ram.is_dir() else None))
    pg_base = Path(tempfile.mkdtemp(prefix="pumpctl-fleet-pg-"))
    pg_base.chmod(0o755)  # the server account must reach its directory
    cluster = None
    try:
        began = time.perf_counter()
        template_dir = work / "template"
        template_dir.mkdir()
        records = build_year(template_dir, "SUBJ-TEMPLATE")
        print(f"template year: {records} records in {time.perf_counter() - began:.1f} s")
        hosts: list[Path] = []
        for n in range(max(counts)):
            clone_year(template_dir / "journal.sqlite3", work / f"h{n}", f"SUBJ-{n:03d}")
            hosts.append(work / f"h{n}" / "journal.sqlite3")
        print(f"{len(hosts)} journals ready after {time.perf_counter() - began:.1f} s")
        cluster = start_cluster(pg_base / "cluster")
        # A benchmark server syncs its commits, as a production one does.
        cluster.stop()
        conf = cluster.data / "postgresql.auto.conf"
        conf.write_text(
            conf.read_text() + "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n"
        )
        cluster.start()
        dsn = ""
        for n in counts:
            dsn = fresh_db(cluster, f"bench_{n}")
            took = ship_all(dsn, hosts[:n], args.parallel)
            rate = n * records / took
            figure(
                f"ship {n} journal-year(s) ({n * records} rows, {args.parallel} shippers), rows/s",
                f"{rate:.0f}",
                f">= {SHIP_TARGET_ROWS_S}",
                rate >= SHIP_TARGET_ROWS_S,
            )
        import psycopg  # noqa: PLC0415

        with psycopg.connect(dsn) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        biggest = max(counts)
        figure(
            f"database size per journal-year ({biggest} shipped), MB",
            f"{size / biggest / 1e6:.1f}",
            "(informative)",
        )
        report_dir = work / "report"
        for what, argv, target in (
            ("fleet status", ["fleet", "status", "--db", dsn], STATUS_TARGET_S),
            (
                "fleet report csv",
                ["fleet", "report", "--db", dsn, "--format", "csv", "-o", str(report_dir)],
                REPORT_TARGET_S,
            ),
        ):
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "pumpctl", *argv], check=True, capture_output=True, cwd=ROOT
            )
            took = time.perf_counter() - began
            figure(
                f"{what}, {biggest} subject-years, wall s",
                f"{took:.1f}",
                f"< {target:g} s",
                took < target,
            )
    finally:
        if cluster is not None:
            cluster.stop("immediate")
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_base, ignore_errors=True)


if __name__ == "__main__":
    main()
