"""Pulse onset accuracy: scheduled slot vs the moment pumpsim's plunger started (its ledger).

Runs ``pumpctl run --time-scale N`` against ``pumpsim`` on a real pty for at least ``--pulses``
pulses and reports the onset delay per pulse. Two figures: the delay in simulated time, and the
same divided by the scale, which is the daemon's real-time lateness (what a 1x run would see:
wake-up, gate, journal fsync, three serial round trips before RUN).

When the prescription interval equals the minimum interval, a pulse may not start before the
previous one's start + interval, so each start inherits the previous start's lateness: the
delays then ratchet up to the worst one seen instead of being independent. The default
interval (62 min, minimum 60) keeps a margin; ``--interval-min 60`` shows the other case.

    python benchmarks/bench_onset.py [--pulses 200] [--scale 720] [--interval-min 62]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from _bench import describe, figure, percentile

from pumpctl.errors import ControlError
from tests.e2e.harness import (
    SIM_START,
    DaemonProcess,
    Pumpsim,
    journal_events,
    slot_time,
    write_config,
)


def acknowledge_alarms(daemon: DaemonProcess) -> int:
    """On a busy host the pump's safe-mode period (255 s / scale of real time) can run out
    between heartbeats; an operator would acknowledge, so this bench does too."""
    acked = 0
    for alarm in daemon.control.request("alarms")["alarms"]:
        if not alarm["acknowledged"]:
            try:
                daemon.control.request("ack", alarm_id=alarm["id"], reason="onset bench")
            except ControlError:
                continue  # busy with a pulse: again on the next round
            acked += 1
    return acked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pulses", type=int, default=200)
    parser.add_argument("--scale", type=float, default=720.0)
    parser.add_argument("--interval-min", type=int, default=62)
    parser.add_argument("--dir", help="keep the run's files here (default: a temp folder)")
    args = parser.parse_args()
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="pumpctl-onset-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sim = Pumpsim(workdir, scale=args.scale, syringe_ul=60_000.0)
    config = write_config(
        workdir,
        sim.link,
        anchor=SIM_START + timedelta(minutes=60),
        sections={
            "prescription": {"interval_min": args.interval_min},
            "limits": {"min_interval_min": 60, "max_pulses_24h": 24, "max_dose_24h_ug": 250},
            "pump": {"syringe_volume_ul": 50_000},
        },
    )
    daemon = DaemonProcess(config, scale=args.scale)
    acks = 0
    try:
        daemon.wait_ready()
        sim_needed = timedelta(minutes=60 + args.interval_min * (args.pulses + 1))
        deadline = time.monotonic() + sim.sim_time(sim_needed) + 120
        while len(sim.starts()) < args.pulses and time.monotonic() < deadline:
            if daemon.proc.poll() is not None:
                raise SystemExit(f"daemon exited:\n{daemon.tail()}")
            acks += acknowledge_alarms(daemon)
            time.sleep(0.5)
    finally:
        with contextlib.suppress(Exception):
            daemon.stop()
        daemon.close()
        sim.close()
    intents = journal_events(daemon.journal_path, "pulse.intent")
    slots = sorted(slot_time(str(e["payload"]["slot_id"])) for e in intents)
    sim_ms: list[float] = []
    for start in sim.starts():
        scheduled = max((s for s in slots if s <= start.started), default=None)
        if scheduled is not None:
            sim_ms.append((start.started - scheduled).total_seconds() * 1000.0)
    real_ms = [v / args.scale for v in sim_ms]
    missed = len(journal_events(daemon.journal_path, "slot.missed"))
    print(f"onset over {len(sim_ms)} pulses at {args.scale:g}x, interval {args.interval_min} min")
    print(f"  simulated-time delay (ms): {describe(sim_ms)}")
    print(f"  real-time lateness  (ms): {describe(real_ms)}")
    figure("pulses measured", str(len(sim_ms)), ">= 200", len(sim_ms) >= 200)
    figure("onset p50, real-time ms", f"{percentile(real_ms, 0.5):.1f}", "(informative)")
    p99 = percentile(real_ms, 0.99)
    figure("onset p99, real-time ms", f"{p99:.1f}", "<= 50 ms", p99 <= 50.0)
    figure("onset max, real-time ms", f"{max(real_ms):.1f}", "(informative)")
    figure("slots missed", str(missed), "0", missed == 0)
    figure("alarms acknowledged by the bench", str(acks), "0 (host load)", acks == 0)
    print(f"files: {workdir}  (finished {datetime.now().isoformat(timespec='seconds')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
