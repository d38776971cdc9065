"""Report generation on a long journal: build a 10-year journal fast, time each format.

The journal is written through the real journal API on a virtual clock (on a RAM disk when one
exists, since each append is fsynced): 16 slots a day, mostly delivered, with a partial pulse,
a denied and a missed slot every few days and an acknowledged alarm a week. Targets on a
2-core machine: HTML ≤ 3 s, CSV ≤ 1 s. Run: ``python benchmarks/bench_report.py [--years N]``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import structlog
from _bench import figure

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Decision, Outcome, Reason, Slot
from pumpctl.journal import Journal
from pumpctl.report import write_report

START = datetime(2016, 1, 4, 7, 0, tzinfo=UTC)
PRESCRIPTION = {
    "dose_ug": "10",
    "concentration_ug_per_ml": "1000",
    "interval_min": 90,
    "pulse_duration_s": 60,
    "anchor": "2016-01-04T08:00:00+00:00",
    "timezone": "UTC",
    "profile": [],
}
TARGETS_S = {"html": 3.0, "csv": 1.0}


def _slot(when: datetime) -> Slot:
    return Slot(
        slot_id=f"S{when:%Y%m%dT%H%M%SZ}",
        scheduled=when,
        interval_min=90,
        dose_ug=Decimal(10),
        volume_ul=Decimal(10),
        rate_ul_per_min=Decimal(10),
        duration_s=Decimal(60),
    )


def build_journal(path: Path, days: int) -> int:
    """Write ``days`` of therapy; returns the number of slots."""
    clock = VirtualClock(START, elapsed_s=1000.0)
    slots = 0
    with Journal(path, clock) as journal:
        journal.append(
            "daemon.start",
            {
                "version": "bench",
                "config_digest": "bench",
                "subject": {"id": "BENCH-001"},
                "pump": {"label": "benchmark pump"},
            },
        )
        journal.record_prescription_change("benchmark", None, PRESCRIPTION, "benchmark")
        for day in range(days):
            for k in range(16):
                when = START + timedelta(days=day, hours=1, minutes=90 * k)
                slot = _slot(when)
                clock.advance_to(when)
                slots += 1
                n = day * 16 + k
                if n % 97 == 0:
                    journal.record_gate_decision(slot.slot_id, Decision((Reason.ALARM_ACTIVE,)))
                    clock.advance(600)
                    journal.record_missed(slot.slot_id, when, reasons=(Reason.ALARM_ACTIVE,))
                    continue
                if n % 89 == 0:
                    clock.advance(600)
                    journal.record_missed(slot.slot_id, when, detail="daemon not running")
                    continue
                journal.record_intent(slot)
                partial = n % 83 == 0
                clock.advance(60)
                journal.record_outcome(
                    slot.slot_id,
                    Outcome.PARTIAL if partial else Outcome.DELIVERED,
                    delivered_volume_ul=Decimal("7.5") if partial else Decimal(10),
                    started=when,
                    ended=clock.now(),
                )
            if day % 7 == 3:
                alarm = f"A{day}"
                journal.record_alarm(alarm, "reservoir-low", "low", "8 pulses left")
                clock.advance(1800)
                journal.record_alarm_acknowledged(alarm, "benchmark operator", note="refilled")
                journal.record_reservoir_change(Decimal(1000), "benchmark operator", "refill")
    return slots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--years", type=float, default=10.0)
    parser.add_argument("--keep", type=Path, help="reuse or keep the journal at this path")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    ram = Path("/dev/shm")  # noqa: S108  (only a parent: mkdtemp makes a private folder in it)
    work = Path(tempfile.mkdtemp(prefix="pumpctl-bench-", dir=ram if ram.is_dir() else None))
    try:
        path = args.keep or work / "journal.sqlite3"
        days = round(args.years * 365.25)
        if not path.exists():
            began = time.perf_counter()
            slots = build_journal(path, days)
            print(f"journal: {days} days, {slots} slots in {time.perf_counter() - began:.1f} s")
        print(f"journal size: {path.stat().st_size / 1e6:.1f} MB")
        # CPU seconds next to wall seconds: on a shared machine the wall time mostly measures
        # the neighbours.
        print(f"{'format':<6} {'wall s':>7} {'cpu s':>6} {'output MB':>10} {'target s':>9}")
        for fmt in ("csv", "json", "fhir", "html"):
            began, cpu = time.perf_counter(), time.process_time()
            out = write_report(path, fmt, work / f"report.{fmt}")
            took, cpu = time.perf_counter() - began, time.process_time() - cpu
            target = TARGETS_S.get(fmt)
            verdict = "" if target is None else ("ok" if took <= target else "OVER")
            print(
                f"{fmt:<6} {took:7.2f} {cpu:6.2f} {out.stat().st_size / 1e6:10.1f} "
                f"{'' if target is None else target:>9} {verdict}"
            )
            figure(
                f"report {fmt}, {args.years:g}-year journal, wall s",
                f"{took:.2f}",
                "(informative)" if target is None else f"<= {target:g} s",
                None if target is None else took <= target,
            )
            figure(
                f"report {fmt}, {args.years:g}-year journal, CPU s",
                f"{cpu:.2f}",
                "(informative: wall on an idle host)"
                if target is None
                else f"<= {target:g} s on an idle host",
                None if target is None else cpu <= target,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
