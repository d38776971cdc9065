"""The running daemon's shell over a real pty: systemd notifications, the single-instance lock,
and the local control socket (permissions, peer identity, garbage).

One bench serves the whole module: ``pumpctl run`` under a fake ``NOTIFY_SOCKET`` against
``pumpsim``; each test checks one face of it and leaves it running.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from pumpctl.config import load_config
from pumpctl.core.model import START_LATENCY_BOUND
from pumpctl.invariants import check_starts
from tests.e2e.harness import DaemonProcess, Pumpsim, bench, journal_events, wait_until

SCALE = 480.0  # see test_pump_faults.py for the choice
pytestmark = pytest.mark.timeout(120)


@dataclass
class NotifyListener:
    """A stand-in for systemd: a datagram socket that records every ``sd_notify`` message."""

    path: Path
    messages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append(data.decode(errors="replace"))

    def count(self, line: str) -> int:
        return sum(line in message.splitlines() for message in self.messages)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@dataclass
class Station:
    sim: Pumpsim
    daemon: DaemonProcess
    notify: NotifyListener


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    workdir = tmp_path_factory.mktemp("station")
    listener = NotifyListener(workdir / "notify.sock")
    try:
        with bench(
            workdir,
            scale=SCALE,
            lead=timedelta(minutes=40),
            env={"NOTIFY_SOCKET": str(listener.path)},
        ) as (sim, daemon, _):
            yield Station(sim, daemon, listener)
    finally:
        listener.close()


def test_ready_then_watchdog_keepalives_from_the_loop(station: Station) -> None:
    """SR-15: under systemd the daemon sends READY=1 once started and then WATCHDOG=1 again and
    again from its delivery loop, including across a pulse."""
    notify = station.notify
    wait_until(lambda: notify.count("READY=1") == 1, 10, "READY=1")
    ready_at = next(i for i, m in enumerate(notify.messages) if "READY=1" in m.splitlines())
    station.daemon.wait_event("pulse.delivered", 30)
    before = notify.count("WATCHDOG=1")
    wait_until(lambda: notify.count("WATCHDOG=1") > before + 3, 10, "more keep-alives")
    assert any("WATCHDOG=1" in m for m in notify.messages[ready_at:])
    assert any(m.startswith("STATUS=") for m in notify.messages)


def test_second_daemon_on_the_same_state_dir_is_refused(station: Station) -> None:
    """SR-18: a second ``pumpctl run`` on the same configuration and state directory exits with
    a clear message naming the lock holder; the first keeps running and nothing is delivered
    twice."""
    starts_before = station.sim.starts()
    result = subprocess.run(
        [sys.executable, "-m", "pumpctl", "run", "-c", str(station.daemon.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert str(station.daemon.proc.pid) in message
    assert "Traceback" not in message
    assert station.daemon.proc.poll() is None
    assert station.daemon.control.request("status")["state"] in ("ready", "suspended")
    # The first daemon keeps to its schedule meanwhile: on a slow host the refused start can
    # take long enough for its next slot (90 simulated minutes are 11 s here) to come. What
    # must not be there is a second start of a pulse: no more starts than the first daemon
    # journaled intents, and no two closer than the minimum interval.
    starts = station.sim.starts()
    assert starts[: len(starts_before)] == starts_before
    assert len(starts) <= len(journal_events(station.daemon.journal_path, "pulse.intent"))
    limits = load_config(station.daemon.config).limits
    assert check_starts(starts, limits, tolerance=START_LATENCY_BOUND) == []


def test_control_socket_is_0660_and_every_action_journals_its_peer(station: Station) -> None:
    """SR-23: the control socket is a local Unix socket with mode 0660, and an operator's
    action is journaled with the peer's uid and pid (SO_PEERCRED)."""
    path = station.daemon.state_dir / "control.sock"
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o660
    station.daemon.control.request("suspend", reason="e2e: line change")
    station.daemon.control.request("resume", reason="e2e: line changed")
    actions = journal_events(station.daemon.journal_path, "operator.action")
    mine = [a["payload"] for a in actions if a["payload"]["action"] in ("suspend", "resume")]
    assert [a["action"] for a in mine] == ["suspend", "resume"]
    for action in mine:
        assert action["peer"]["uid"] == os.getuid()
        assert action["peer"]["pid"] == os.getpid()
    assert station.daemon.control.request("status")["state"] == "ready"


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xff\xfe not json at all\n",
        b'{"cmd": "status"\n',
        b'["cmd", "status"]\n',
        b'{"cmd": "format-disk"}\n',
        b'{"cmd": "reservoir_fill", "volume_ul": "-5"}\n',
        b'{"cmd": "ack", "alarm_id": "x"}\n',
        b"{" + b" " * (70 * 1024) + b"}\n",
    ],
    ids=["binary", "truncated", "array", "unknown", "negative", "missing-field", "oversized"],
)
def test_garbage_on_the_control_socket_gets_an_error_and_the_daemon_runs_on(
    station: Station, garbage: bytes
) -> None:
    """SR-24: garbage, malformed, unknown or oversized requests get one clear error reply (no
    traceback) and the daemon keeps running and answering."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(station.daemon.state_dir / "control.sock"))
        try:
            conn.sendall(garbage)
            reply = conn.recv(65536).decode(errors="replace")
        except (BrokenPipeError, ConnectionResetError):
            reply = ""  # an oversized request may be cut off: the daemon must still be up
    if reply:
        answer = json.loads(reply)
        assert answer["ok"] is False
        assert answer["error"]
        assert "Traceback" not in reply
    assert station.daemon.proc.poll() is None
    assert "state" in station.daemon.control.request("status")
    assert "Traceback" not in station.daemon.output()
