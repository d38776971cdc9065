"""pumpsim as a process: pty and TCP servers, reconnects, wire time, ledger and control socket."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import serial

from pumpctl.drivers.ne1000_codec import ReplyDecoder, encode_command
from tests.integration.pumpsim_process import PUMPSIM, PumpsimProcess


def ask(port: serial.SerialBase, command: bytes) -> bytes:
    """Send one command and read one basic-mode reply (up to ETX)."""
    port.write(command)
    return port.read_until(b"\x03")


@pytest.fixture
def pumpsim(tmp_path: Path) -> Iterator[PumpsimProcess]:
    proc = PumpsimProcess(
        tmp_path,
        "--pty",
        "--link",
        "pump",
        "--tcp",
        "127.0.0.1:0",
        "--baud",
        "1200",
        "--ledger",
        "ledger.jsonl",
        "--control",
        "ctl.sock",
    )
    yield proc
    assert proc.stop() == 0


def open_pty(proc: PumpsimProcess, baud: int = 1200) -> serial.SerialBase:
    return serial.serial_for_url(str(proc.link), baudrate=baud, timeout=2.0, exclusive=True)


def control(proc: PumpsimProcess, request: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.connect(str(proc.workdir / "ctl.sock"))
        sock.sendall(request.encode() + b"\n")
        return sock.recv(4096).decode().strip()


def test_pty_serves_the_protocol_with_wire_time(pumpsim: PumpsimProcess) -> None:
    """Over the pty link the pump answers, no faster than 1200 baud allows."""
    with open_pty(pumpsim) as port:
        assert ask(port, b"0\r") == b"\x0200A?R\x03"
        start = time.monotonic()
        reply = ask(port, b"0VER\r")
        elapsed = time.monotonic() - start
    assert reply == b"\x0200SNE1000V3.928\x03"
    assert elapsed >= len(reply) * 10 / 1200 * 0.9


def test_back_to_back_replies_share_one_wire(pumpsim: PumpsimProcess) -> None:
    """Three commands in one write: the last reply arrives after all three replies' wire time."""
    with open_pty(pumpsim) as port:
        ask(port, b"0\r")
        start = time.monotonic()
        port.write(b"0VER\r0VER\r0VER\r")
        replies = port.read(3 * 17)
        elapsed = time.monotonic() - start
    assert replies == b"\x0200SNE1000V3.928\x03" * 3
    assert elapsed >= 3 * 17 * 10 / 1200 * 0.9


def test_pump_state_survives_client_reconnects(pumpsim: PumpsimProcess) -> None:
    """A second client after the first closed sees the same pump (settings, no new reset)."""
    with open_pty(pumpsim) as port:
        ask(port, b"0\r")
        assert ask(port, b"0DIA4.699\r") == b"\x0200S\x03"
    with open_pty(pumpsim) as port:
        assert ask(port, b"0DIA\r") == b"\x0200S4.699\x03"


def test_a_half_sent_command_dies_with_its_client(pumpsim: PumpsimProcess) -> None:
    """Bytes of an unfinished command from a client that left do not prefix the next client's."""
    url = f"socket://127.0.0.1:{pumpsim.tcp_port}"
    with serial.serial_for_url(url, timeout=2.0) as port:
        ask(port, b"0\r")
        port.write(b"0DIA")
        time.sleep(0.2)
    with serial.serial_for_url(url, timeout=2.0) as port:
        assert ask(port, b"0VER\r") == b"\x0200SNE1000V3.928\x03"


def test_tcp_serves_the_same_pump(pumpsim: PumpsimProcess) -> None:
    """socket://HOST:PORT reaches the same simulator as the pty."""
    url = f"socket://127.0.0.1:{pumpsim.tcp_port}"
    with serial.serial_for_url(url, timeout=2.0) as port:
        assert ask(port, b"0\r") == b"\x0200A?R\x03"
        assert ask(port, b"0VER\r") == b"\x0200SNE1000V3.928\x03"


def test_safe_mode_over_tcp_uses_framed_replies(pumpsim: PumpsimProcess) -> None:
    """After SAF n over TCP the replies carry length and CRC and decode cleanly."""
    url = f"socket://127.0.0.1:{pumpsim.tcp_port}"
    with serial.serial_for_url(url, timeout=2.0) as port:
        ask(port, b"0\r")
        port.write(encode_command(0, "SAF20", safe=True))
        decoder = ReplyDecoder(expect_safe=True)
        replies: list[object] = []
        while not replies:
            replies = decoder.feed(port.read(1))
        assert replies[0].status == "S"
        port.write(encode_command(0, "SAF0", safe=True))


def test_control_socket_injects_faults_and_reports_state(pumpsim: PumpsimProcess) -> None:
    """The control channel arms a fault at run time and reports the physical state."""
    with open_pty(pumpsim) as port:
        ask(port, b"0\r")
        for command in (b"0DIA4.699\r", b"0VOLUL\r", b"0VOL5\r", b"0RAT500UM\r"):
            ask(port, command)
        assert control(pumpsim, "fault stall@0.5") == "ok"
        assert control(pumpsim, "fault nonsense").startswith("error")
        ask(port, b"0RUN\r")
        time.sleep(1.0)
        assert ask(port, b"0\r") == b"\x0200A?S\x03"
        state = json.loads(control(pumpsim, "state"))
    assert state["infused_ul"] == pytest.approx(2.5)


def test_control_subcommand_talks_to_the_socket(pumpsim: PumpsimProcess) -> None:
    """`pumpsim control SOCKET state` prints the state; a refused request exits 1."""
    sock = str(pumpsim.workdir / "ctl.sock")
    ok = subprocess.run(
        [PUMPSIM, "control", sock, "state"], capture_output=True, text=True, check=False, timeout=20
    )
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["alarm"] == "R"
    bad = subprocess.run(
        [PUMPSIM, "control", sock, "fault", "explode"],
        capture_output=True,
        text=True,
        check=False,
        timeout=20,
    )
    assert bad.returncode == 1
    assert "explode" in bad.stdout


def test_ledger_file_records_each_motion(pumpsim: PumpsimProcess) -> None:
    """Every motion start and end is a JSON line in the ledger file as soon as it happens."""
    with open_pty(pumpsim) as port:
        ask(port, b"0\r")
        for command in (b"0DIA4.699\r", b"0VOLUL\r", b"0VOL5\r", b"0RAT500UM\r", b"0RUN\r"):
            ask(port, command)
        time.sleep(0.8)
        assert ask(port, b"0DIS\r") == b"\x0200SI5.000W0.000UL\x03"
    lines = [
        json.loads(line) for line in (pumpsim.workdir / "ledger.jsonl").read_text().splitlines()
    ]
    assert [e["event"] for e in lines] == ["sim.start", "motion.start", "motion.end"]
    assert lines[2]["volume_ul"] == 5.0
    assert lines[2]["cause"] == "target-reached"


def test_bad_fault_on_the_command_line_is_a_configuration_error(tmp_path: Path) -> None:
    """An unknown fault kind exits 78 with a one-line message naming it."""
    result = subprocess.run(
        [PUMPSIM, "serve", "--pty", "--fault", "explode"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 78
    assert "explode" in result.stderr


def test_sigterm_removes_the_link(tmp_path: Path) -> None:
    """pumpsim stops on SIGTERM with exit 0 and takes its symlink away."""
    proc = PumpsimProcess(tmp_path, "--pty", "--link", "pump")
    assert proc.link.is_symlink()
    assert proc.stop() == 0
    assert not proc.link.exists()


def test_client_at_the_wrong_baud_rate_hears_nothing(pumpsim: PumpsimProcess) -> None:
    """A pty client set to 9600 baud against a 1200-baud pump gets no reply, as on a real line."""
    with serial.serial_for_url(str(pumpsim.link), baudrate=9600, timeout=0.5) as port:
        port.write(b"0VER\r")
        assert port.read(20) == b""
    with open_pty(pumpsim) as port:
        assert ask(port, b"0VER\r") == b"\x0200A?R\x03"


def test_scenario_start_and_scale_reach_the_wire(tmp_path: Path) -> None:
    """--scenario faults fire, and XSIM reports --time-scale and the clock started at --start."""
    (tmp_path / "scenario.toml").write_text('faults = ["wrong-identity,ver=NE300V9.9"]\n')
    proc = PumpsimProcess(
        tmp_path,
        "--pty",
        "--link",
        "pump",
        "--time-scale",
        "3600",
        "--start",
        "2026-01-05T08:00:00+00:00",
        "--scenario",
        "scenario.toml",
    )
    try:
        with open_pty(proc, baud=19200) as port:
            ask(port, b"0\r")
            assert ask(port, b"0VER\r") == b"\x0200SNE300V9.9\x03"
            reply = ask(port, b"0XSIM\r").decode()
    finally:
        assert proc.stop() == 0
    scale, now = reply[1:-1].removeprefix("00SPUMPSIM SCALE=").split(" NOW=")
    assert float(scale) == 3600.0
    elapsed_sim_s = float(now) - datetime(2026, 1, 5, 8, tzinfo=UTC).timestamp()
    assert 0 < elapsed_sim_s < 3600 * 30  # started at --start, running 3600x faster
