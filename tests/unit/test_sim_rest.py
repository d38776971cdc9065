"""What the simulator says about a pump at rest, for a simulation that skips idle polls."""

from __future__ import annotations

import math

from pumpctl.simulator.faults import parse_fault
from pumpctl.simulator.session import Ne1000Simulator
from pumpctl.simulator.testing import SimClient


def safe_client(timeout_s: int = 5) -> SimClient:
    client = SimClient()
    client.acknowledge_reset()
    assert client.ask(f"SAF{timeout_s}", safe=True).error is None
    return client


def test_a_stopped_silent_pump_is_at_rest_until_commanded() -> None:
    """Stopped, no alarm pending, nothing armed: nothing but a command can change its answers."""
    client = safe_client()
    assert client.sim.rest_until_s() == math.inf


def test_a_pump_with_its_power_up_alarm_pending_is_not_at_rest() -> None:
    """The pending reset alarm is the next answer, not the last one: no poll may be skipped."""
    assert SimClient().sim.rest_until_s() is None


def test_a_running_pump_is_not_at_rest() -> None:
    """A moving plunger changes the totals every moment."""
    client = safe_client()
    for command in ("DIA4.699", "DIRINF", "VOLUL", "VOL50", "RAT100UM", "RUN"):
        client.ask(command)
    assert client.sim.rest_until_s() is None
    client.advance(31.0)  # 50 uL at 100 uL/min: done after 30 s
    client.ask("")  # the end of the phase is reported once
    assert client.sim.rest_until_s() == math.inf


def test_a_timed_fault_bounds_the_rest() -> None:
    """A fault armed for a time ends the rest at that time (the elapsed reading it fires at)."""
    client = safe_client()
    now = client.clock.elapsed_s()
    client.sim.inject(parse_fault("spontaneous-start@t=600"))
    assert client.sim.rest_until_s() == now + 600
    client.advance(601.0)
    assert client.sim.rest_until_s() is None  # it started on its own


def test_a_fault_waiting_for_a_command_count_forbids_skipping() -> None:
    """A skipped poll is a command the fault would have counted: no rest while one is armed."""
    client = safe_client()
    client.sim.inject(parse_fault("garble@cmd:3"))
    assert client.sim.rest_until_s() is None


def test_an_active_link_fault_forbids_skipping() -> None:
    """A silenced line answers nothing: the next poll's answer is not the last one."""
    client = safe_client(timeout_s=255)
    client.sim.inject(parse_fault("silence,for=120"))
    assert client.sim.rest_until_s() is None
    client.advance(121.0)
    assert client.sim.rest_until_s() == math.inf


def test_skipped_polls_restart_the_watchdog_as_the_polls_would() -> None:
    """Polls skipped over 20 s of a 5 s watchdog, the last 1 s ago: the pump has not timed out,
    and times out 5 s after that last poll, as if the polls had been sent."""
    client = safe_client(timeout_s=5)
    sim: Ne1000Simulator = client.sim
    count = sim.pump.command_count
    start = client.clock.elapsed_s()
    client.clock.advance(20.0)
    sim.polled(5, start + 19.0)
    assert sim.pump.command_count == count + 5
    assert client.advance(0.0) == []
    assert sim.pump.state == "stopped" and sim.pump.alarm is None
    assert client.advance(3.9) == []
    (alarm,) = client.advance(0.2)
    assert alarm.alarm == "T"


def test_without_the_skipped_polls_the_watchdog_would_fire() -> None:
    """The control for the test above: the same silence without ``polled`` times the pump out."""
    client = safe_client(timeout_s=5)
    client.clock.advance(20.0)
    (alarm,) = client.advance(0.0)
    assert alarm.alarm == "T"
