"""An independent client, nesp-lib, drives pumpsim over a pty unchanged, as it drives the pump."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import nesp_lib
import pytest
from nesp_lib.exceptions import StatusAlarmException

from tests.integration.pumpsim_process import PumpsimProcess


@pytest.fixture
def nesp_pump(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[nesp_lib.Pump]:
    faults = getattr(request, "param", [])
    args = ["--pty", "--link", "pump", "--ledger", "ledger.jsonl"]
    for fault in faults:
        args += ["--fault", fault]
    proc = PumpsimProcess(tmp_path, *args)
    port = nesp_lib.Port(str(proc.link), 19200)
    try:
        yield nesp_lib.Pump(port)
    finally:
        port.close()
        assert proc.stop() == 0


def program_bolus(pump: nesp_lib.Pump) -> None:
    pump.syringe_diameter_mm = 4.699
    pump.pumping_direction = nesp_lib.PumpingDirection.INFUSE
    pump.pumping_volume_ml = 0.005
    pump.pumping_rate_ml_per_min = 0.5


def run_with_deadline(pump: nesp_lib.Pump, timeout_s: float = 10.0) -> BaseException | None:
    """nesp-lib's run() polls until stopped; a thread keeps a broken run from hanging the test."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            pump.run()
            outcome.append(None)
        except BaseException as err:
            outcome.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert outcome, "nesp-lib run() did not return"
    return outcome[0]


def ledger_infused_ul(path: Path) -> float:
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return sum(e["volume_ul"] for e in entries if e["event"] == "motion.end")


def test_nesp_lib_runs_a_bolus_to_completion(nesp_pump: nesp_lib.Pump, tmp_path: Path) -> None:
    """nesp-lib connects, programs, runs a 5 uL bolus and reads the dispensed volume back."""
    assert nesp_pump.model_number == 1000
    assert nesp_pump.firmware_version == (3, 928)
    program_bolus(nesp_pump)
    assert nesp_pump.syringe_diameter_mm == pytest.approx(4.699)
    assert nesp_pump.pumping_volume_ml == pytest.approx(0.005)
    assert nesp_pump.pumping_rate_ml_per_min == pytest.approx(0.5)
    assert run_with_deadline(nesp_pump) is None
    assert nesp_pump.status == nesp_lib.Status.STOPPED
    assert nesp_pump.volume_infused_ml == pytest.approx(0.005)
    assert nesp_pump.volume_withdrawn_ml == 0.0
    assert ledger_infused_ul(tmp_path / "ledger.jsonl") == pytest.approx(5.0, abs=0.0005)


@pytest.mark.parametrize("nesp_pump", [["stall@0.5"]], indirect=True)
def test_nesp_lib_sees_a_stall_alarm(nesp_pump: nesp_lib.Pump, tmp_path: Path) -> None:
    """A stall halfway reaches nesp-lib as STALLED, and dispensed shows the partial volume."""
    program_bolus(nesp_pump)
    error = run_with_deadline(nesp_pump)
    assert isinstance(error, StatusAlarmException)
    assert error.alarm_status == nesp_lib.AlarmStatus.STALLED
    assert nesp_pump.volume_infused_ml == pytest.approx(0.0025)
    assert ledger_infused_ul(tmp_path / "ledger.jsonl") == pytest.approx(2.5, abs=0.0005)


def test_nesp_lib_safe_mode_with_heartbeat(tmp_path: Path) -> None:
    """nesp-lib's safe mode (framed packets, its own heartbeat thread) works against pumpsim."""
    proc = PumpsimProcess(tmp_path, "--pty", "--link", "pump")
    port = nesp_lib.Port(str(proc.link), 19200)
    try:
        # Connect in basic mode first: nesp-lib expects the reply to a refused (alarm-answered)
        # SAF n in the new framing, but the pump did not execute it (docs/simulator.md).
        pump = nesp_lib.Pump(port)
        pump.safe_mode_timeout_s = 2
        assert pump.safe_mode_timeout_s == 2
        program_bolus(pump)
        assert run_with_deadline(pump) is None
        assert pump.volume_infused_ml == pytest.approx(0.005)
        pump.safe_mode_timeout_s = 0
    finally:
        port.close()
        assert proc.stop() == 0
