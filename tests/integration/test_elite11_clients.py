"""Protocol 11 clients against ``pumpsim serve --model elite11`` over a real pty and TCP.

One client is pumpctl's harvard11 driver; the other is a plain pyserial client written from the
manuals' description of the pump chain (line by line, the prompt read as a character), the way
independent lab scripts talk to the pump.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import serial

from pumpctl.drivers.base import PumpState
from pumpctl.drivers.harvard11 import Harvard11Driver
from tests.integration.pumpsim_process import PumpsimProcess


@pytest.fixture
def elite(tmp_path: Path) -> Iterator[PumpsimProcess]:
    proc = PumpsimProcess(
        tmp_path,
        "--model",
        "elite11",
        "--pty",
        "--link",
        "pump",
        "--tcp",
        "127.0.0.1:0",
        "--ledger",
        "ledger.jsonl",
    )
    try:
        yield proc
    finally:
        assert proc.stop() == 0


def ledger_infused_ul(path: Path) -> float:
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return sum(e["volume_ul"] for e in entries if e["event"] == "motion.end")


class ManualClient:
    """Talks as the manual describes: command CR; LF, lines ending CR LF, then a prompt."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port

    def send(self, command: str, lines: int = 0) -> tuple[list[str], str]:
        self.port.write(command.encode("ascii") + b"\r")
        assert self.port.readline() == b"\n"
        body = [self.port.readline().decode("ascii").rstrip("\r\n") for _ in range(lines)]
        return body, self.prompt()

    def prompt(self) -> str:
        first = self.port.read(1).decode("ascii")
        return first + self.port.read(1).decode("ascii") if first == "T" else first


def test_the_driver_delivers_a_bolus_over_a_pty(elite: PumpsimProcess, tmp_path: Path) -> None:
    """harvard11 connects, self-tests, runs a 5 uL bolus to its target and reads it back."""
    driver = Harvard11Driver(str(elite.link), baud=9600)
    driver.connect()
    try:
        driver.self_test(syringe_diameter_mm=Decimal("4.699"))
        driver.clear_dispensed()
        driver.program_bolus(Decimal(5), Decimal(600))
        assert driver.run().state is PumpState.INFUSING
        deadline = time.monotonic() + 5
        while driver.status().moving and time.monotonic() < deadline:
            time.sleep(0.05)
        totals = driver.dispensed()
        assert totals.infused_ul == Decimal(5)
        assert not totals.over_delivered
    finally:
        driver.close()
    assert ledger_infused_ul(tmp_path / "ledger.jsonl") == pytest.approx(5.0)


def test_the_driver_works_over_tcp(elite: PumpsimProcess) -> None:
    """The same driver over socket:// reads the identity and the diameter it set."""
    driver = Harvard11Driver(f"socket://127.0.0.1:{elite.tcp_port}")
    driver.connect()
    try:
        report = driver.self_test(syringe_diameter_mm=Decimal("14.567"))
        assert report.syringe_diameter_mm == Decimal("14.567")
    finally:
        driver.close()


def test_a_manual_style_client_runs_a_bolus(elite: PumpsimProcess, tmp_path: Path) -> None:
    """Unaddressed commands at address 0: prompts ':' '>' and the T* the pump sends itself."""
    with serial.serial_for_url(str(elite.link), baudrate=9600, timeout=2) as port:
        pump = ManualClient(port)
        assert pump.send("ver", lines=1) == (["11 ELITE I/W Single 3.0.4"], ":")
        assert pump.send("diameter 4.699") == ([], ":")
        assert pump.send("diameter", lines=1) == (["4.6990 mm"], ":")
        assert pump.send("irate 1.2 ml/min") == ([], ":")
        assert pump.send("tvolume 10 ul") == ([], ":")
        assert pump.send("civolume") == ([], ":")
        assert pump.send("irun") == ([], ">")
        # The pump reports reaching its target on its own: LF then T*.
        assert port.readline() == b"\n"
        assert pump.prompt() == "T*"
        assert pump.send("ivolume", lines=1) == (["10 ul"], "T*")
        assert pump.send("stop") == ([], ":")
        assert pump.send("irate 9 l/min", lines=1) == (["Argument error"], ":")
        assert pump.send("nosuchcommand", lines=1) == (["Unknown command"], ":")
    assert ledger_infused_ul(tmp_path / "ledger.jsonl") == pytest.approx(10.0)


def test_a_client_at_the_wrong_baud_rate_hears_nothing(tmp_path: Path) -> None:
    """A pty client set to 19200 while the pump runs at 9600 gets no reply."""
    proc = PumpsimProcess(tmp_path, "--model", "elite11", "--pty", "--link", "pump")
    try:
        with serial.serial_for_url(str(proc.link), baudrate=19200, timeout=0.3) as port:
            port.write(b"ver\r")
            assert port.read(64) == b""
    finally:
        assert proc.stop() == 0
