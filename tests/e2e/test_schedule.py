"""The daemon's cadence over a real pty: missed slots, clock steps, reservoir and missed alarms.

Each test runs ``pumpctl run --time-scale N`` against a ``pumpsim`` process; what was delivered
is read from the simulator's ledger, what was decided from the journal.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pumpctl.core.clock import ScaledClock
from pumpctl.simulator.server import PtyEndpoint, PumpServer
from pumpctl.simulator.session import Ne1000Simulator
from tests.e2e.harness import (
    DaemonProcess,
    Pumpsim,
    bench,
    journal_events,
    later_slot,
    slot_id,
    slot_time,
    wait_until,
    write_config,
)

SCALE = 480.0  # see test_pump_faults.py for the choice
LEAD = timedelta(minutes=40)
INTERVAL = timedelta(minutes=90)
pytestmark = pytest.mark.timeout(120)


def test_slot_lost_to_a_link_outage_is_missed_not_given_late(tmp_path: Path) -> None:
    """SR-10: a slot whose grace window passes while the pump does not answer is journaled
    MISSED; when the link comes back it is not delivered late, the next slot is on time."""
    with bench(tmp_path, scale=SCALE, lead=LEAD) as (sim, daemon, _):
        upcoming = datetime.fromisoformat(daemon.wait_ready()["next_slot"])
        now = datetime.fromisoformat(sim.state()["now"])
        # Silent from now until 20 simulated minutes past the first slot's grace window.
        silent_s = (upcoming + timedelta(minutes=30) - now).total_seconds()
        sim.fault(f"silence,for={silent_s:.0f}")
        first = slot_id(upcoming)
        missed = daemon.wait_event("slot.missed", 20, lambda e: e["slot_id"] == first)
        second = later_slot(first, INTERVAL)
        daemon.wait_event("pulse.delivered", 20, lambda e: e["slot_id"] == second)
    assert missed["slot_id"] == first
    starts = sim.starts()
    assert len(starts) == 1
    # The one start is the second slot's, within its window: nothing was given late.
    assert slot_time(second) <= starts[0].started <= slot_time(second) + timedelta(minutes=10)
    outcomes = journal_events(daemon.journal_path, "pulse.intent")
    assert [e["payload"]["slot_id"] for e in outcomes] == [second]


def test_scaled_clock_refused_against_a_pump_that_is_not_pumpsim(tmp_path: Path) -> None:
    """SR-11: ``--time-scale`` against a pump that fails the simulator handshake (a real pump
    answers XSIM with '?') is refused before anything is delivered or journaled."""
    start = datetime.now().astimezone()
    clock = ScaledClock(SCALE, origin=start)
    sim = Ne1000Simulator(clock, time_scale=SCALE)
    del sim.pump.vendor_queries["XSIM"]  # now it answers like a real NE-1000
    link = tmp_path / "pump"
    server = PumpServer(sim, [PtyEndpoint(link)])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = write_config(tmp_path, link, anchor=start + timedelta(minutes=5))
        daemon = DaemonProcess(config, scale=SCALE)
        code = daemon.proc.wait(timeout=30)
        out = daemon.output()
        daemon.close()
    finally:
        server.stop.set()
        thread.join(timeout=10)
    assert code != 0
    assert "not pumpsim" in out
    assert "Traceback" not in out
    assert sim.pump.drive.infused_ul == 0
    assert sim.pump.run_count == 0
    assert not (tmp_path / "state" / "journal.sqlite3").exists()


def test_scaled_clock_refused_at_a_different_scale(tmp_path: Path) -> None:
    """SR-11: a daemon asking for another scale than the simulator's refuses to start."""
    sim = Pumpsim(tmp_path, scale=SCALE)
    try:
        config = write_config(tmp_path, sim.link, anchor=sim.start + LEAD)
        result = subprocess.run(
            [sys.executable, "-m", "pumpctl", "run", "-c", str(config), "--time-scale", "60"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        sim.close()
    assert result.returncode != 0
    assert "same scale" in result.stderr + result.stdout
    assert sim.starts() == []


@pytest.fixture
def stepped_back(tmp_path: Path) -> Iterator[tuple[Pumpsim, DaemonProcess, datetime]]:
    """A first pulse delivered, then the pump's (and so the daemon's) wall clock set back."""
    with bench(tmp_path, scale=SCALE, lead=LEAD) as (_, daemon, _anchor):
        anchor = slot_time(daemon.wait_event("pulse.delivered", 20)["slot_id"])
    # The simulator restarts 30 simulated minutes before the slot it already delivered.
    again = Pumpsim(tmp_path, scale=SCALE, start=anchor - timedelta(minutes=30))
    restarted = DaemonProcess(daemon.config, scale=SCALE, log_name="daemon2.log")
    try:
        restarted.wait_ready()
        yield again, restarted, anchor
    finally:
        restarted.stop()
        restarted.close()
        again.close()


def test_wall_clock_stepped_back_never_repeats_a_pulse(
    stepped_back: tuple[Pumpsim, DaemonProcess, datetime],
) -> None:
    """SR-11: after the wall clock steps back across a delivered slot (and the daemon restarts),
    that slot comes round again but is neither delivered a second time nor recorded missed."""
    sim, daemon, anchor = stepped_back
    wait_until(
        lambda: datetime.fromisoformat(sim.state()["now"]) > anchor + timedelta(minutes=15),
        30,
        "the repeated slot's window to pass",
    )
    assert len(sim.starts()) == 1  # the ledger holds both simulator runs: one start in all
    events = journal_events(daemon.journal_path)
    assert len([e for e in events if e["kind"] == "pulse.intent"]) == 1
    # Nor is the delivered slot recorded MISSED beside its real outcome.
    missed = [e["payload"]["slot_id"] for e in events if e["kind"] == "slot.missed"]
    assert slot_id(anchor) not in missed
    outcomes = [e["payload"] for e in events if e["kind"] == "pulse.outcome"]
    assert [(o["slot_id"], o["outcome"]) for o in outcomes] == [(slot_id(anchor), "DELIVERED")]


def test_reservoir_low_alarm_then_deny_and_missed_pulse_alarms(tmp_path: Path) -> None:
    """SR-17, SR-22: a low-reservoir alarm comes ahead of time; a pulse the reservoir cannot
    cover is denied (ledger: no start); each unconfirmed slot raises the missed-pulse alarm 15
    min after it, high after two in a row, and a silence is time-limited and journaled."""
    with bench(
        tmp_path, scale=SCALE, lead=LEAD, sections={"limits": {"reservoir_low_pulses": 3}}
    ) as (sim, daemon, _):
        daemon.control.request("reservoir_fill", volume_ul="25")
        first = daemon.wait_event("pulse.delivered", 20)["slot_id"]
        low = daemon.wait_event("alarm.raised", 5, lambda e: e["kind"] == "reservoir-low")
        assert "15" in low["detail"]  # 25 - 10 uL left: under 3 pulses, still one pulse
        daemon.control.request("reservoir_fill", volume_ul="5")  # a new syringe, nearly empty
        second = later_slot(first, INTERVAL)
        denied = daemon.wait_event("gate.denied", 20, lambda e: e["slot_id"] == second)
        assert "reservoir" in denied["reasons"]
        wait_until(lambda: alarm(daemon, "missed-pulse") is not None, 20, "missed-pulse alarm")
        assert second in str(alarm(daemon, "missed-pulse"))
        daemon.control.request("silence", alarm_id="missed-pulse", minutes=20)
        third = later_slot(first, INTERVAL, 2)
        wait_until(lambda: escalated(daemon), 20, "missed-pulse to turn high")
    assert len(sim.starts()) == 1
    events = journal_events(daemon.journal_path)
    missed = [e["payload"]["slot_id"] for e in events if e["kind"] == "slot.missed"]
    assert missed[:2] == [second, third]
    raised = [e for e in events if e["kind"] == "alarm.raised" and "missed" in str(e["payload"])]
    assert [e["payload"]["priority"] for e in raised][:2] == ["medium", "high"]
    # Raised no earlier than 15 minutes after the slot (SR-22), by the journal's clock.
    assert raised[0]["wall"] >= slot_time(second) + timedelta(minutes=15)
    silenced = [e for e in events if e["kind"] == "alarm.silenced"]
    assert len(silenced) == 1
    until = datetime.fromisoformat(silenced[0]["payload"]["until_utc"])
    assert until - silenced[0]["wall"] <= timedelta(minutes=20, seconds=1)


def alarm(daemon: DaemonProcess, alarm_id: str) -> dict[str, Any] | None:
    for found in daemon.control.request("alarms")["alarms"]:
        if found["id"] == alarm_id:
            return dict(found)
    return None


def escalated(daemon: DaemonProcess) -> bool:
    found = alarm(daemon, "missed-pulse")
    return found is not None and found["priority"] == "high"
