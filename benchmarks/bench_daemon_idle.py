"""Idle CPU and peak memory of ``pumpctl run`` against ``pumpsim`` in real time.

pumpsim serves on a pty at 1x; the daemon runs with its real clock and a first slot hours away,
so it only heartbeats the pump (every safe-mode period / 3) and feeds its own loop. CPU is the
daemon's utime + stime from /proc over the measured window; memory is its VmHWM (peak RSS).

    python benchmarks/bench_daemon_idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _bench import figure

from tests.e2e.harness import DaemonProcess, Pumpsim, write_config


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pumpctl-idle-"))
    now = datetime.now(UTC).replace(microsecond=0)
    sim = Pumpsim(workdir, scale=1.0, start=now)
    config = write_config(
        workdir,
        sim.link,
        anchor=now + timedelta(hours=6),
        sections={"pump": {"safe_mode_timeout_s": 10}},
    )
    daemon = DaemonProcess(config, scale=None)
    try:
        daemon.wait_ready(60)
        time.sleep(2.0)  # start-up work done; measure the steady state only
        pid = daemon.proc.pid
        cpu0, wall0 = cpu_s(pid), time.monotonic()
        time.sleep(args.seconds)
        used_s, wall_s = cpu_s(pid) - cpu0, time.monotonic() - wall0
        rss_mb = peak_rss_mb(pid)
    finally:
        daemon.stop()
        daemon.close()
        sim.close()
    share = 100.0 * used_s / wall_s
    figure(f"daemon idle CPU over {wall_s:.0f} s, %", f"{share:.3f}", "< 0.05 %", share < 0.05)
    figure("daemon peak RSS, MB", f"{rss_mb:.1f}", "< 60 MB", rss_mb < 60.0)
    print(f"  (CPU {used_s:.2f} s; clock tick {1 / os.sysconf('SC_CLK_TCK'):.3f} s; {workdir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
