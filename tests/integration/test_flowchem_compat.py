"""An independent client, flowchem's Elite11 driver, drives pumpsim elite11 over a pty unchanged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flowchem.devices.harvardapparatus.elite11 import Elite11
from flowchem.utils.exceptions import DeviceError

from tests.integration.pumpsim_process import PumpsimProcess


@pytest.fixture
def elite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PumpsimProcess]:
    # flowchem opens the port at 115200 baud, the pump's factory setting it assumes.
    args = ["--model", "elite11", "--pty", "--link", "pump", "--baud", "115200"]
    for fault in getattr(request, "param", []):
        args += ["--fault", fault]
    proc = PumpsimProcess(tmp_path, *args, "--ledger", "ledger.jsonl")
    try:
        yield proc
    finally:
        Elite11._io_instances.clear()  # flowchem keeps one serial object per port, process-wide
        assert proc.stop() == 0


def ledger_infused_ul(path: Path) -> float:
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return sum(e["volume_ul"] for e in entries if e["event"] == "motion.end")


def connect(link: Path, address: int = 0) -> Elite11:
    return Elite11.from_config(
        port=str(link), syringe_diameter="4.699 mm", syringe_volume="1 ml", address=address
    )


async def wait_idle(pump: Elite11, limit_s: float = 10.0) -> None:
    await asyncio.wait_for(pump.wait_until_idle(), limit_s)


def test_flowchem_initializes_and_runs_a_bolus(elite: PumpsimProcess, tmp_path: Path) -> None:
    """flowchem sets up the pump, infuses 20 uL at 0.6 ml/min to its target and reads state."""

    async def scenario() -> None:
        pump = connect(elite.link)
        await pump.initialize()
        assert await pump.version() == "11 ELITE I/W Single 3.0.4"
        assert await pump.get_syringe_diameter() == "4.6990 mm"
        await pump.set_flow_rate("0.6 ml/min")
        assert await pump.get_flow_rate() == pytest.approx(0.6)
        await pump.set_target_volume("0.02 ml")
        await pump.infuse()
        assert await pump.is_moving()
        assert await pump.get_current_flow_rate() == pytest.approx(0.6)
        await wait_idle(pump)
        info = await pump.pump_info()
        assert (info.pump_type, info.infuse_only) == ("Pump 11", False)

    asyncio.run(scenario())
    assert ledger_infused_ul(tmp_path / "ledger.jsonl") == pytest.approx(20.0)


def test_flowchem_finds_the_pump_address_by_itself(elite: PumpsimProcess) -> None:
    """flowchem's address discovery (an empty line, then the prompt) finds address 0."""
    pump = connect(elite.link, address=-1)
    assert pump.pump_io.autodiscover_address() == 0


@pytest.mark.parametrize("elite", [["stall@0.5"]], indirect=True)
def test_flowchem_sees_a_stall(elite: PumpsimProcess, tmp_path: Path) -> None:
    """A stall halfway shows as the '*' prompt, which flowchem raises as a device error."""

    async def scenario() -> None:
        pump = connect(elite.link)
        await pump.initialize()
        await pump.set_flow_rate("0.6 ml/min")
        await pump.set_target_volume("0.02 ml")
        await pump.infuse()
        await asyncio.sleep(2.5)
        with pytest.raises(DeviceError, match="stalled"):
            await pump.is_moving()

    asyncio.run(scenario())
    assert ledger_infused_ul(tmp_path / "ledger.jsonl") == pytest.approx(10.0)
