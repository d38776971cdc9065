"""The NE-1000 driver against a real ``pumpsim`` process, over a raw pty and over TCP.

Each test starts its own pumpsim (time scale 30: a 6 s bolus takes 0.2 s), injects faults through
pumpsim's control socket and asserts what the driver observes. Ground truth comes from pumpsim's
``state`` request and its ledger, never from the driver itself.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.drivers.base import PumpAlarm, PumpState, PumpStatus
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.drivers.testing import SpyTransport
from pumpctl.drivers.transport import open_serial_transport
from pumpctl.errors import ProtocolError, PumpAlarmError, PumpStateError, TransportTimeoutError

SCALE = 30.0
DIA_MM = Decimal("4.699")
pytestmark = pytest.mark.timeout(60)


class Pumpsim:
    """A ``pumpsim serve --pty --tcp`` process with a control socket and a ledger."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        self.link = workdir / "pump"
        self.control = workdir / "control.sock"
        self.ledger = workdir / "ledger.jsonl"
        self._out = (workdir / "pumpsim.out").open("w+b")
        args = ["--pty", "--link", str(self.link), "--tcp", "127.0.0.1:0"]
        args += ["--control", str(self.control), "--ledger", str(self.ledger)]
        args += ["--time-scale", str(SCALE), "--seed", "3", *extra]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pumpctl.simulator.cli", "serve", *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while "pumpsim: control" not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pumpsim did not start: {self.output()}")
            time.sleep(0.02)
        match = re.search(r"pumpsim: tcp [\d.]+:(\d+)", self.output())
        assert match is not None
        self.tcp_port = int(match.group(1))

    def output(self) -> str:
        self._out.seek(0)
        return self._out.read().decode(errors="replace")

    def url(self, kind: str) -> str:
        return str(self.link) if kind == "pty" else f"socket://127.0.0.1:{self.tcp_port}"

    def request(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.control))
            conn.sendall(line.encode() + b"\n")
            return conn.recv(65536).decode().strip()

    def fault(self, spec: str) -> None:
        assert self.request(f"fault {spec}") == "ok"

    def state(self) -> dict[str, object]:
        result: dict[str, object] = json.loads(self.request("state"))
        return result

    def ledger_infused_ul(self) -> Decimal:
        lines = self.ledger.read_text().splitlines() if self.ledger.exists() else []
        ends = [json.loads(line) for line in lines]
        return sum(
            (Decimal(str(e["volume_ul"])) for e in ends if e["event"] == "motion.end"),
            Decimal(0),
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._out.close()


@pytest.fixture(params=["pty", "tcp"])
def link_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Pumpsim]:
    server = Pumpsim(tmp_path)
    yield server
    server.stop()


def connect(
    sim: Pumpsim, kind: str, *, safe_mode_timeout_s: int = 60
) -> tuple[Ne1000Driver, SpyTransport]:
    spy = SpyTransport(open_serial_transport(sim.url(kind), 19200, 0.5, 0.5))
    driver = Ne1000Driver(sim.url(kind), safe_mode_timeout_s=safe_mode_timeout_s, transport=spy)
    driver.connect()
    driver.self_test(syringe_diameter_mm=DIA_MM)
    driver.clear_dispensed()
    return driver, spy


def wait_until_idle(driver: Ne1000Driver, limit_s: float = 3.0) -> PumpStatus:
    """Poll (which also feeds the watchdog) until the pump is not moving."""
    deadline = time.monotonic() + limit_s
    alarms: list[PumpAlarm] = []
    while True:
        status = driver.status()
        alarms.extend(status.alarms)
        if not status.moving or time.monotonic() > deadline:
            return PumpStatus(status.state, alarms[-1] if alarms else None, tuple(alarms))
        time.sleep(0.03)


def bolus(driver: Ne1000Driver, volume_ul: int = 50, rate_ul_per_min: int = 500) -> PumpStatus:
    driver.program_bolus(Decimal(volume_ul), Decimal(rate_ul_per_min))
    return driver.run()


def test_bolus_matches_ledger(sim: Pumpsim, link_kind: str) -> None:
    """SR-01: a bounded bolus runs to its volume; DIS and the ground-truth ledger agree."""
    driver, spy = connect(sim, link_kind)
    assert bolus(driver).state is PumpState.INFUSING
    status = wait_until_idle(driver)
    assert (status.state, status.alarm) == (PumpState.STOPPED, None)
    totals = driver.dispensed()
    assert not totals.over_delivered
    dispensed = totals.infused_ul
    assert dispensed == Decimal(50)
    assert abs(sim.ledger_infused_ul() - dispensed) <= Decimal("0.01")  # DIS resolution at 50 uL
    volumes = [c.text for c in spy.commands if re.fullmatch(r"VOL[\d.]+", c.text)]
    assert volumes == ["VOL50"]
    driver.close()


def test_stall_gives_partial_volume_and_alarm(sim: Pumpsim, link_kind: str) -> None:
    """SR-07: a stall at half the bolus shows as alarm S and about 25 of 50 uL dispensed."""
    driver, _ = connect(sim, link_kind)
    sim.fault("stall@0.5")
    bolus(driver)
    status = wait_until_idle(driver)
    assert status.alarm is PumpAlarm.STALL
    infused = driver.dispensed().infused_ul
    assert Decimal(24) <= infused <= Decimal(26)
    assert infused < Decimal(45)  # below 90 % of the request: a partial delivery


def test_reservoir_empty_stalls(tmp_path: Path, link_kind: str) -> None:
    """SR-07: a syringe that runs dry mid-bolus stalls with alarm S and a partial volume."""
    server = Pumpsim(tmp_path, "--syringe-ul", "20")
    try:
        driver, _ = connect(server, link_kind)
        bolus(driver)
        assert wait_until_idle(driver).alarm is PumpAlarm.STALL
        assert driver.dispensed().infused_ul == Decimal(20)
    finally:
        server.stop()


def test_power_reset_loses_running_bolus(sim: Pumpsim, link_kind: str) -> None:
    """A power reset mid-bolus is reported as alarm R and the bolus is not resumed or re-sent."""
    driver, spy = connect(sim, link_kind)
    sim.fault("power-reset@0.4")
    bolus(driver)
    status = wait_until_idle(driver)
    assert (status.state, status.alarm) == (PumpState.STOPPED, PumpAlarm.POWER_RESET)
    assert driver.dispensed().infused_ul < Decimal(50)
    assert spy.count("RUN") == 1


def test_safe_mode_timeout_alarm_is_surfaced(sim: Pumpsim, link_kind: str) -> None:
    """An injected safe-mode timeout arrives unprompted and the next status reports T."""
    driver, _ = connect(sim, link_kind)
    sim.fault("safe-timeout")
    time.sleep(0.1)
    assert driver.status().alarm is PumpAlarm.WATCHDOG_TIMEOUT


def test_watchdog_stops_pump_when_daemon_goes_quiet(sim: Pumpsim, link_kind: str) -> None:
    """SR-14: with SAF 1 and no packet for over a second of link time the pump stops itself."""
    driver, _ = connect(sim, link_kind, safe_mode_timeout_s=1)
    bolus(driver, volume_ul=200, rate_ul_per_min=200)  # 60 s simulated, 2 s real
    time.sleep(1.4)  # the watchdog runs in real (link) time, whatever the time scale
    assert sim.state()["state"] == "stopped"
    assert driver.status().alarm is PumpAlarm.WATCHDOG_TIMEOUT
    assert driver.dispensed().infused_ul < Decimal(150)


def test_runaway_detected_by_status_and_totals(sim: Pumpsim, link_kind: str) -> None:
    """SR-06: a runaway pump is seen infusing past the bolus with DIS above VOL, and stops."""
    driver, _ = connect(sim, link_kind)
    sim.fault("runaway")
    bolus(driver)
    time.sleep(0.4)  # 12 s simulated: twice the bolus duration
    assert driver.status().state is PumpState.INFUSING
    totals = driver.dispensed()
    assert totals.infused_ul > Decimal(50)
    assert totals.over_delivered
    assert driver.stop().state is PumpState.STOPPED
    assert sim.state()["state"] == "stopped"


def test_spontaneous_start_detected_and_stopped(sim: Pumpsim, link_kind: str) -> None:
    """SR-06: a pump infusing without RUN is seen by status and stopped when programmed."""
    driver, spy = connect(sim, link_kind)
    sim.fault("spontaneous-start")
    status = driver.status()
    assert (status.state, status.unexpected_motion) == (PumpState.INFUSING, True)
    with pytest.raises(PumpStateError, match="unintended flow"):
        bolus(driver)
    assert sim.state()["state"] == "stopped"
    assert spy.count("RUN") == 0


def test_keypad_pause_is_reported(sim: Pumpsim, link_kind: str) -> None:
    """A keypad pause mid-bolus shows as state paused, not as a finished bolus."""
    driver, _ = connect(sim, link_kind)
    sim.fault("keypad-pause@0.5")
    bolus(driver)
    assert wait_until_idle(driver).state is PumpState.PAUSED


def test_wrong_identity_fails_self_test(tmp_path: Path, link_kind: str) -> None:
    """SR-13: a pump reporting foreign firmware fails the self-test; no bolus is possible."""
    server = Pumpsim(tmp_path, "--fault", "wrong-identity,ver=XX900V1.0")
    try:
        with pytest.raises(PumpStateError, match=r"XX900V1\.0"):
            connect(server, link_kind)
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["garble", "bad-crc", "truncate", "duplicate"])
def test_damaged_query_reply_is_retried(sim: Pumpsim, link_kind: str, kind: str) -> None:
    """SR-16: a damaged or duplicated reply to a query costs one retry, then all is in step."""
    driver, _ = connect(sim, link_kind)
    sim.fault(f"{kind}@cmd:1")
    assert driver.dispensed().infused_ul == Decimal(0)
    assert driver.status().state is PumpState.STOPPED


def test_garbled_run_reply_is_never_resent(sim: Pumpsim, link_kind: str) -> None:
    """SR-16: RUN whose reply is garbled raises ProtocolError and RUN goes out only once."""
    driver, spy = connect(sim, link_kind)
    driver.program_bolus(Decimal(50), Decimal(500))
    sim.fault("garble@cmd:1")
    with pytest.raises(ProtocolError, match="not re-sent"):
        driver.run()
    assert spy.count("RUN") == 1
    assert driver.status().state is PumpState.INFUSING


def test_slow_reply_times_out_then_link_recovers(sim: Pumpsim, link_kind: str) -> None:
    """SR-16: a reply slower than the timeout is retried once; the late copy is discarded."""
    driver, spy = connect(sim, link_kind)
    sim.fault("slow@cmd:1,delay=0.7")
    assert driver.status().state is PumpState.STOPPED
    assert spy.texts()[-2:] == ["", ""]
    time.sleep(0.4)  # the late reply arrives now and must not answer the next command
    assert driver.dispensed().infused_ul == Decimal(0)


def test_slow_run_reply_is_not_resent(sim: Pumpsim, link_kind: str) -> None:
    """SR-16: RUN whose reply misses the timeout raises TransportTimeoutError, sent once."""
    driver, spy = connect(sim, link_kind)
    driver.program_bolus(Decimal(50), Decimal(500))
    sim.fault("slow@cmd:1,delay=0.7")
    with pytest.raises(TransportTimeoutError, match="not re-sent"):
        driver.run()
    assert spy.count("RUN") == 1
    assert wait_until_idle(driver).state is PumpState.STOPPED
    assert driver.dispensed().infused_ul == Decimal(50)


def test_silence_times_out_and_recovers(sim: Pumpsim, link_kind: str) -> None:
    """SR-16: an unplugged pump gives TransportTimeoutError; when it answers again, all works."""
    driver, _ = connect(sim, link_kind)
    sim.fault("silence,for=60")  # 2 s real; one status with its retry takes about 1 s
    with pytest.raises(TransportTimeoutError):
        driver.status()
    deadline = time.monotonic() + 6
    while True:
        try:
            assert driver.status().state is PumpState.STOPPED
            break
        except TransportTimeoutError:
            assert time.monotonic() < deadline, "the pump never answered again"


def test_alarm_answer_to_run_is_not_resent(sim: Pumpsim, link_kind: str) -> None:
    """SR-16: RUN answered by an alarm raises PumpAlarmError(executed=False) and is sent once."""
    driver, spy = connect(sim, link_kind)
    driver.program_bolus(Decimal(50), Decimal(500))
    sim.fault("power-reset@cmd:1")
    with pytest.raises(PumpAlarmError) as info:
        driver.run()
    assert (info.value.alarm, info.value.executed) == (PumpAlarm.POWER_RESET, False)
    assert spy.count("RUN") == 1
    assert sim.state()["state"] == "stopped"


def test_handshake_reports_scaled_clock(sim: Pumpsim, link_kind: str) -> None:
    """pumpsim identifies itself with its time scale and a clock shared with its state."""
    driver, _ = connect(sim, link_kind)
    info = driver.simulator_handshake()
    assert info is not None
    assert info.time_scale == SCALE
    sim_now = datetime.fromisoformat(str(sim.state()["now"]))
    assert abs((sim_now - info.now).total_seconds()) < SCALE * 0.5
