"""End-to-end bench: a ``pumpsim`` process on a real pty and ``pumpctl run`` against it.

Both run as their own processes on a scaled clock, exactly as on a bench. The simulator's
ledger is the ground truth (what the plunger did); the daemon's JSON log and its journal are
what pumpctl believed and recorded. Configurations anchor the first pulse a few simulated
minutes after the simulator starts, so a test waits seconds, not hours.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pumpctl.daemon.control_client import ControlClient
from pumpctl.invariants import PhysicalPulse, commanded_starts
from pumpctl.journal.store import connect

#: Simulated start of every bench: a Monday morning, far from any DST change.
SIM_START = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)

Event = dict[str, Any]


class Pumpsim:
    """``pumpsim serve --pty`` with a control socket and a ground-truth ledger."""

    def __init__(
        self,
        workdir: Path,
        *,
        scale: float,
        start: datetime = SIM_START,
        faults: tuple[str, ...] = (),
        syringe_ul: float = 1000.0,
        tcp: bool = False,
    ) -> None:
        self.workdir = workdir
        self.scale = scale
        self.start = start
        self.link = workdir / "pump"
        self.control = workdir / "pumpsim.sock"
        self.ledger_path = workdir / "ledger.jsonl"
        self._out = (workdir / "pumpsim.out").open("w+b")
        endpoint = ["--tcp", "127.0.0.1:0"] if tcp else ["--pty", "--link", str(self.link)]
        args = [*endpoint, "--control", str(self.control)]
        args += ["--ledger", str(self.ledger_path), "--time-scale", f"{scale:g}"]
        args += ["--start", start.isoformat(), "--seed", "7", "--syringe-ul", f"{syringe_ul:g}"]
        for fault in faults:
            args += ["--fault", fault]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pumpctl.simulator.cli", "serve", *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: "pumpsim: control" in self.output(), 15.0, "pumpsim to start")
        #: What a configuration's ``pump.url`` names: the pty's link, or pumpsim's TCP port.
        self.url = str(self.link)
        if tcp:
            address = re.search(r"pumpsim: tcp (\S+)", self.output())
            assert address is not None, self.output()
            self.url = f"socket://{address[1]}"

    def output(self) -> str:
        self._out.seek(0)
        return self._out.read().decode(errors="replace")

    def request(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.control))
            conn.sendall(line.encode() + b"\n")
            return conn.recv(65536).decode().strip()

    def fault(self, spec: str) -> None:
        reply = self.request(f"fault {spec}")
        if reply != "ok":
            raise AssertionError(f"pumpsim refused fault {spec!r}: {reply}")

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.request("state"))
        return result

    def sim_time(self, sim: timedelta) -> float:
        """Real seconds that ``sim`` of simulated time take at this scale."""
        return sim.total_seconds() / self.scale

    def ledger(self) -> list[dict[str, Any]]:
        if not self.ledger_path.exists():
            return []
        lines = self.ledger_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def starts(self) -> list[PhysicalPulse]:
        """Motion starts pumpctl commanded (RUN), from the ledger."""
        return commanded_starts(self.ledger())

    def motions(self, direction: str = "INF") -> list[dict[str, Any]]:
        """Every finished motion in ``direction``, whatever started it."""
        return [
            e
            for e in self.ledger()
            if e.get("event") == "motion.end" and e.get("direction") == direction
        ]

    def infused_ul(self) -> Decimal:
        return sum((Decimal(str(e["volume_ul"])) for e in self.motions()), Decimal(0))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def write_config(
    workdir: Path,
    link: Path | str,
    *,
    anchor: datetime,
    name: str = "pumpctl.toml",
    sections: Mapping[str, Mapping[str, object]] | None = None,
) -> Path:
    """A bench configuration: 10 uL pulses every 90 min from ``anchor``; ``sections`` override."""
    values: dict[str, dict[str, object]] = {
        "prescription": {
            "dose_ug": 10,
            "concentration_ug_per_ml": 1000,
            "interval_min": 90,
            "pulse_duration_s": 60,
            "anchor": anchor.isoformat(),
            "timezone": "UTC",
        },
        "limits": {"min_interval_min": 90, "grace_min": 10, "missed_alarm_min": 15},
        "pump": {
            "driver": "ne1000",
            "url": str(link),
            "syringe_diameter_mm": 4.78,
            "syringe_volume_ul": 1000,
            # At N x the pump's watchdog period shrinks N-fold in real time: the longest one.
            "safe_mode_timeout_s": 255,
        },
        "journal": {"state_dir": str(workdir / "state")},
        "control": {"mode": 0o660},
        "logging": {"format": "json", "level": "info"},
    }
    for section, overrides in (sections or {}).items():
        values.setdefault(section, {}).update(overrides)
    lines: list[str] = []
    for section, fields in values.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in fields.items())
    path = workdir / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def toml_value(value: object) -> str:
    """A TOML value: JSON's scalars and arrays are TOML too; tables become inline tables."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)


class DaemonProcess:
    """``pumpctl run -c CONFIG --time-scale N`` with its JSON log captured to a file."""

    def __init__(
        self,
        config: Path,
        *,
        scale: float | None,
        env: Mapping[str, str] | None = None,
        log_name: str = "daemon.log",
    ) -> None:
        self.config = config
        self.log_path = config.parent / log_name
        self._log = self.log_path.open("w+b")
        argv = [sys.executable, "-m", "pumpctl", "run", "-c", str(config)]
        if scale is not None:
            argv += ["--time-scale", f"{scale:g}"]
        full_env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=full_env)

    @property
    def state_dir(self) -> Path:
        return self.config.parent / "state"

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal.sqlite3"

    @property
    def control(self) -> ControlClient:
        return ControlClient(self.state_dir / "control.sock", timeout_s=10.0)

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def tail(self, lines: int = 40) -> str:
        """The last log lines worth reading when a test fails (scheduler chatter left out)."""
        kept = [line for line in self.output().splitlines() if "apscheduler" not in line]
        return "\n".join(kept[-lines:])

    def events(self, name: str | None = None) -> list[Event]:
        """Structured log events so far (optionally only ``name``)."""
        found: list[Event] = []
        for line in self.output().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                event = json.loads(line)
                if isinstance(event, dict) and (name is None or event.get("event") == name):
                    found.append(event)
        return found

    def wait_event(
        self, name: str, timeout_s: float, where: Callable[[Event], bool] = lambda _e: True
    ) -> Event:
        """The first ``name`` event satisfying ``where``; fails if the daemon exits first."""
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events(name):
                if where(event):
                    return event
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {name} event in {timeout_s} s:\n{self.tail()}")
            time.sleep(0.02)

    def wait_ready(self, timeout_s: float = 20.0) -> Event:
        """The daemon's ``daemon.ready`` event, returned once its control socket also listens.

        ``daemon.ready`` is logged when start-up is done, before the control socket is opened;
        ``daemon.started`` comes after it listens (and after systemd is told READY). A loaded
        host can hold a request sent between the two off the socket ("no control socket").
        """
        ready = self.wait_event("daemon.ready", timeout_s)
        self.wait_event("daemon.started", timeout_s)
        return ready

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        finally:
            self._log.flush()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def journal_events(path: Path, *kinds: str) -> list[Event]:
    """Journal events (kind, wall, payload) read through a read-only connection."""
    conn = connect(path, writable=False)
    try:
        rows = conn.execute("SELECT kind, wall_utc, payload FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [
        {"kind": kind, "wall": datetime.fromisoformat(wall), "payload": json.loads(payload)}
        for kind, wall, payload in rows
        if not kinds or kind in kinds
    ]


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


@contextlib.contextmanager
def bench(
    workdir: Path,
    *,
    scale: float,
    lead: timedelta,
    faults: tuple[str, ...] = (),
    syringe_ul: float = 1000.0,
    sections: Mapping[str, Mapping[str, object]] | None = None,
    env: Mapping[str, str] | None = None,
    tcp: bool = False,
) -> Iterator[tuple[Pumpsim, DaemonProcess, datetime]]:
    """pumpsim + a ready daemon whose first slot is ``lead`` after the simulator's start.

    ``tcp``: pumpsim serves TCP and the daemon reaches it by ``socket://`` instead of a pty.
    """
    sim = Pumpsim(workdir, scale=scale, faults=faults, syringe_ul=syringe_ul, tcp=tcp)
    anchor = sim.start + lead
    daemon: DaemonProcess | None = None
    try:
        config = write_config(workdir, sim.url, anchor=anchor, sections=sections)
        daemon = DaemonProcess(config, scale=scale, env=env)
        daemon.wait_ready()
        yield sim, daemon, anchor
    finally:
        if daemon is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.stop()
            daemon.close()
        sim.close()


def slot_id(when: datetime) -> str:
    return when.astimezone(UTC).strftime("S%Y%m%dT%H%M%SZ")


def slot_time(slot: str) -> datetime:
    return datetime.strptime(slot, "S%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def later_slot(slot: str, interval: timedelta, n: int = 1) -> str:
    """The id of the slot ``n`` intervals after ``slot`` (a plain cadence, no profile)."""
    return slot_id(slot_time(slot) + n * interval)


def ack_all(daemon: DaemonProcess, reason: str, expect: str) -> list[str]:
    """Acknowledge every active alarm once ``expect`` is among them, as an operator would."""

    def active() -> list[dict[str, Any]]:
        alarms: list[dict[str, Any]] = daemon.control.request("alarms")["alarms"]
        return alarms

    # The loop publishes its alarms at the end of a tick, a moment after it logs them.
    wait_until(lambda: expect in [a["id"] for a in active()], 5.0, f"alarm {expect}")
    acked = []
    for alarm in active():
        if not alarm.get("acknowledged"):
            daemon.control.request("ack", alarm_id=alarm["id"], reason=reason)
            acked.append(str(alarm["id"]))
    return acked
