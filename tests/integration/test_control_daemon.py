"""The control socket of a real daemon (`pumpctl run`) against pumpsim on a pty, scaled clock.

One daemon serves the whole module: starting pumpsim and the daemon costs a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pumpctl.daemon.control_client import ControlClient
from pumpctl.demo import demo_config_text
from pumpctl.errors import ControlError
from pumpctl.journal.query import iter_events

TIME_SCALE = 60.0  # a 90-minute interval passes in 90 s: a pulse or none during this module


@dataclass(frozen=True)
class Bench:
    daemon: subprocess.Popen[bytes]
    socket_path: Path
    journal_path: Path


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_ready(socket_path: Path, daemon: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            pytest.fail(f"daemon exited with {daemon.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(ControlError):
            ControlClient(socket_path, timeout_s=5).request("status")
            return
        time.sleep(0.1)
    pytest.fail(f"daemon not ready within 60 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def bench() -> Iterator[Bench]:
    """pumpsim on a pty and `pumpctl run --time-scale` against it, ready to take requests."""
    with tempfile.TemporaryDirectory(prefix="pcd") as tmp:
        work = Path(tmp)
        link, state = work / "pump", work / "state"
        config = work / "demo.toml"
        config.write_text(demo_config_text(link, state, 255), encoding="utf-8")
        os.chmod(config, 0o600)
        sim_log, daemon_log = work / "pumpsim.log", work / "daemon.log"
        start = datetime.now(UTC).replace(microsecond=0).isoformat()
        scale = f"{TIME_SCALE:g}"
        with sim_log.open("wb") as sim_err, daemon_log.open("wb") as daemon_out:
            sim = subprocess.Popen(
                [sys.executable, "-m", "pumpctl.simulator.cli", "serve", "--pty", "--link",
                 str(link), "--time-scale", scale, "--start", start, "--seed", "1"],
                stdout=subprocess.DEVNULL, stderr=sim_err,
            )  # fmt: skip
            daemon: subprocess.Popen[bytes] | None = None
            try:
                deadline = time.monotonic() + 20
                while not link.exists():
                    assert sim.poll() is None, sim_log.read_text()
                    assert time.monotonic() < deadline, "pumpsim did not create its pty link"
                    time.sleep(0.05)
                daemon = subprocess.Popen(
                    [sys.executable, "-m", "pumpctl", "run", "-c", str(config),
                     "--time-scale", scale],
                    stdout=daemon_out, stderr=subprocess.STDOUT,
                )  # fmt: skip
                socket_path = state / "control.sock"
                _wait_until_ready(socket_path, daemon, daemon_log)
                yield Bench(daemon, socket_path, state / "journal.sqlite3")
            finally:
                if daemon is not None:
                    _stop(daemon)
                _stop(sim)


def _cli(bench: Bench, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pumpctl", *args, "--socket", str(bench.socket_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _operator_actions(journal_path: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True)
    try:
        return [row.payload for row in iter_events(conn, kinds=("operator.action",))]
    finally:
        conn.close()


def test_socket_has_the_configured_mode(bench: Bench) -> None:
    """SR-23: the daemon's socket carries the configured mode (0600 in the demo configuration)."""
    info = bench.socket_path.stat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600


def test_status_from_the_cli(bench: Bench) -> None:
    """`pumpctl status` against the running daemon prints its state and next slot."""
    result = _cli(bench, "status")
    assert result.returncode == 0, result.stderr
    assert "State:" in result.stdout
    assert "Next slot:" in result.stdout


def test_suspend_and_resume_are_journaled_with_the_peer(bench: Bench) -> None:
    """SR-23: suspend and resume over the socket are journaled with the caller's uid and pid."""
    suspended = _cli(bench, "suspend", "--reason", "line change")
    assert suspended.returncode == 0, suspended.stderr
    # A pulse may be running at the moment (whether one falls in this module depends on the
    # time of day): status then says delivering until it ends (a minute at 60x: 1 s).
    deadline = time.monotonic() + 15
    status = json.loads(_cli(bench, "status", "--json").stdout)
    while status["state"] == "delivering" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = json.loads(_cli(bench, "status", "--json").stdout)
    assert status["state"] == "suspended"
    assert status["suspended_reason"] == "line change"
    resumed = _cli(bench, "resume", "--reason", "new line primed")
    assert resumed.returncode == 0, resumed.stderr
    actions = _operator_actions(bench.journal_path)
    suspend = next(a for a in actions if a["action"] == "suspend")
    assert suspend["arguments"] == {"reason": "line change"}
    assert suspend["peer"]["uid"] == os.getuid()
    assert suspend["peer"]["pid"] > 0
    assert any(a["action"] == "resume" for a in actions)


def test_refused_action_is_one_clear_line(bench: Bench) -> None:
    """Acknowledging an alarm that is not active fails with one line naming it, exit 1."""
    result = _cli(bench, "ack", "link-fault", "--reason", "checked")
    assert result.returncode == 1
    assert result.stderr.startswith("pumpctl: error: ack:")
    assert "link-fault" in result.stderr
    assert result.stderr.count("\n") == 1


def test_garbage_does_not_disturb_the_daemon(bench: Bench) -> None:
    """SR-24: garbage, oversized and unknown requests get errors; the daemon keeps serving."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(bench.socket_path))
        sock.sendall(b'\x00\xffnot json\n{"cmd": "format_disk"}\n[]\n')
        replies = b""
        while replies.count(b"\n") < 3:
            chunk = sock.recv(65536)
            assert chunk
            replies += chunk
    codes = [json.loads(line)["code"] for line in replies.splitlines()]
    assert codes == ["bad-json", "unknown-cmd", "bad-request"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(bench.socket_path))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"{" * (100 * 1024))
        reply = sock.recv(65536)
    assert json.loads(reply)["code"] == "too-large"
    assert bench.daemon.poll() is None
    assert ControlClient(bench.socket_path).request("status")["ok"] is True
