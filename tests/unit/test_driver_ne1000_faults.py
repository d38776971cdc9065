"""NE-1000 driver under every simulated fault: alarms, link faults and pump misbehaviour."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.drivers.base import PumpAlarm, PumpState
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.drivers.testing import SpyTransport
from pumpctl.errors import (
    ProtocolError,
    PumpAlarmError,
    PumpStateError,
    TransportTimeoutError,
)
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.session import Ne1000Simulator


class Rig:
    """Clock, simulator, spy and a connected, self-tested driver."""

    def __init__(self, syringe_ul: float = 1000.0) -> None:
        self.clock = VirtualClock()
        self.sim = Ne1000Simulator(self.clock, syringe_ul=syringe_ul, seed=7)
        self.spy = SpyTransport(LoopbackTransport(self.sim))
        self.driver = Ne1000Driver("loop://", transport=self.spy)
        self.driver.connect()
        self.driver.self_test(syringe_diameter_mm=Decimal("4.699"))
        self.driver.clear_dispensed()

    def start_bolus(self, volume_ul: int = 50, rate_ul_per_min: int = 500) -> None:
        self.driver.program_bolus(Decimal(volume_ul), Decimal(rate_ul_per_min))
        assert self.driver.run().state is PumpState.INFUSING


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_stall_mid_bolus_is_reported_with_partial_volume(rig: Rig) -> None:
    """SR-07: a stall at 40 % surfaces as alarm S with about 20 of 50 uL dispensed."""
    rig.sim.inject("stall@0.4")
    rig.start_bolus()
    rig.clock.advance(8)
    status = rig.driver.status()
    assert status.alarm is PumpAlarm.STALL
    assert status.state is PumpState.STOPPED
    infused = rig.driver.dispensed().infused_ul
    assert Decimal(19) <= infused <= Decimal(21)
    assert infused < Decimal(50) * Decimal("0.9")


def test_reservoir_empty_stalls_at_end_of_travel(rig: Rig) -> None:
    """SR-07: an empty reservoir stops the plunger with a stall alarm and a partial volume."""
    small = Rig(syringe_ul=30.0)
    small.start_bolus()
    small.clock.advance(8)
    status = small.driver.status()
    assert status.alarm is PumpAlarm.STALL
    assert small.driver.dispensed().infused_ul == Decimal(30)


def test_power_reset_mid_bolus_loses_the_bolus(rig: Rig) -> None:
    """A power reset during a bolus stops it and is reported as alarm R; RUN is not re-sent."""
    rig.sim.inject("power-reset@0.5")
    rig.start_bolus()
    rig.clock.advance(8)
    status = rig.driver.status()
    assert status.alarm is PumpAlarm.POWER_RESET
    assert status.state is PumpState.STOPPED
    assert rig.driver.dispensed().infused_ul < Decimal(50)
    assert rig.spy.count("RUN") == 1


def test_safe_mode_watchdog_stops_a_silent_daemon(rig: Rig) -> None:
    """SR-14: with no packet for 10 s the pump stops by itself and reports alarm T."""
    rig.start_bolus(volume_ul=100, rate_ul_per_min=100)
    rig.clock.advance(11)
    status = rig.driver.status()
    assert status.alarm is PumpAlarm.WATCHDOG_TIMEOUT
    assert status.state is PumpState.STOPPED
    assert rig.driver.dispensed().infused_ul < Decimal(20)


def test_heartbeat_keeps_the_watchdog_fed(rig: Rig) -> None:
    """SR-14: heartbeats every 5 s let a 60 s bolus finish without a watchdog alarm."""
    rig.start_bolus(volume_ul=100, rate_ul_per_min=100)
    for _ in range(13):
        rig.clock.advance(5)
        assert rig.driver.heartbeat().alarm is None
    assert rig.driver.status().state is PumpState.STOPPED
    assert rig.driver.dispensed().infused_ul == Decimal(100)


def test_injected_safe_timeout_is_surfaced(rig: Rig) -> None:
    """A safe-mode timeout alarm sent unprompted is reported by the next status."""
    rig.sim.inject("safe-timeout")
    assert rig.driver.status().alarm is PumpAlarm.WATCHDOG_TIMEOUT
    assert rig.driver.status().alarm is None


def test_run_answered_by_alarm_is_not_resent(rig: Rig) -> None:
    """SR-16: RUN answered with an alarm raises PumpAlarmError(executed=False) and is sent once."""
    rig.driver.program_bolus(Decimal(50), Decimal(500))
    rig.sim.inject("power-reset@cmd:1")
    with pytest.raises(PumpAlarmError) as info:
        rig.driver.run()
    assert (info.value.alarm, info.value.executed, info.value.command) == (
        PumpAlarm.POWER_RESET,
        False,
        "RUN",
    )
    assert info.value.vendor_code == "R"
    assert rig.spy.count("RUN") == 1
    assert rig.sim.pump.state == "stopped"
    assert rig.driver.status().alarm is PumpAlarm.POWER_RESET


def test_run_with_unreported_alarm_is_not_sent(rig: Rig) -> None:
    """SR-16/SR-12: an alarm the pump sent on its own keeps RUN from being sent at all."""
    rig.driver.program_bolus(Decimal(50), Decimal(500))
    rig.sim.inject("stall")
    with pytest.raises(PumpAlarmError) as info:
        rig.driver.run()
    assert info.value.alarm is PumpAlarm.STALL
    assert rig.spy.count("RUN") == 0


def test_run_with_garbled_reply_is_not_resent(rig: Rig) -> None:
    """SR-16: RUN whose reply is garbled raises ProtocolError; RUN is never sent again."""
    rig.driver.program_bolus(Decimal(50), Decimal(500))
    rig.sim.inject("garble@cmd:1")
    with pytest.raises(ProtocolError, match="not re-sent"):
        rig.driver.run()
    assert rig.spy.count("RUN") == 1
    # The pump did start: status, not a retry, tells the caller so, and it counts as commanded.
    status = rig.driver.status()
    assert status.state is PumpState.INFUSING
    assert not status.unexpected_motion
    assert rig.driver.dispensed().commanded_ul == Decimal(50)


def test_run_without_reply_is_not_resent(rig: Rig) -> None:
    """SR-16: RUN into a silent link raises TransportTimeoutError and is sent once."""
    rig.driver.program_bolus(Decimal(50), Decimal(500))
    rig.sim.inject("silence@cmd:1")
    with pytest.raises(TransportTimeoutError, match="not re-sent"):
        rig.driver.run()
    assert rig.spy.count("RUN") == 1


def test_setup_command_resent_once_after_alarm(rig: Rig) -> None:
    """A setup command answered by an alarm is sent once more and the alarm is reported."""
    rig.sim.inject("power-reset@cmd:1")
    rig.driver.clear_dispensed()
    assert rig.spy.count("CLDINF") == 3  # once at rig start, then alarm and re-send
    assert rig.driver.status().alarm is PumpAlarm.POWER_RESET


def test_alarm_while_programming_blocks_the_bolus(rig: Rig) -> None:
    """An alarm during programming raises PumpAlarmError so the bolus is never started."""
    rig.sim.inject("power-reset@cmd:2")
    with pytest.raises(PumpAlarmError) as info:
        rig.driver.program_bolus(Decimal(50), Decimal(500))
    assert info.value.alarm is PumpAlarm.POWER_RESET
    with pytest.raises(PumpStateError, match="no bolus programmed"):
        rig.driver.run()
    assert rig.spy.count("RUN") == 0
    assert rig.driver.status().alarm is PumpAlarm.POWER_RESET
    rig.start_bolus()


def test_query_retried_once_after_garbled_reply(rig: Rig) -> None:
    """SR-16: a read-only query with a garbled reply is retried once and succeeds."""
    rig.sim.inject("garble@cmd:1")
    assert rig.driver.status().state is PumpState.STOPPED
    assert rig.spy.texts()[-2:] == ["", ""]


@pytest.mark.parametrize("kind", ["garble", "bad-crc", "truncate"])
def test_query_fails_cleanly_when_every_reply_is_damaged(rig: Rig, kind: str) -> None:
    """SR-16: two damaged replies in a row raise ProtocolError; the link works afterwards."""
    rig.sim.inject(f"{kind}@cmd:1,times=2")
    with pytest.raises(ProtocolError):
        rig.driver.dispensed()
    assert rig.spy.count("DIS") == 2
    assert rig.driver.status().state is PumpState.STOPPED


def test_silence_raises_timeout_after_one_retry(rig: Rig) -> None:
    """SR-16: an unplugged pump gives TransportTimeoutError after one retry of a query."""
    rig.sim.inject("silence")
    with pytest.raises(TransportTimeoutError, match="no reply"):
        rig.driver.status()
    assert rig.spy.texts()[-2:] == ["", ""]


def test_duplicated_reply_is_not_taken_for_the_next_answer(rig: Rig) -> None:
    """A duplicated reply is drained as stale; the next query gets its own answer."""
    rig.sim.inject("duplicate@cmd:1")
    assert rig.driver.status().state is PumpState.STOPPED
    assert rig.driver.dispensed().infused_ul == Decimal(0)


def test_keypad_pause_is_seen_as_paused(rig: Rig) -> None:
    """A pause from the keypad mid-bolus shows as state paused, with a partial volume."""
    rig.sim.inject("keypad-pause@0.5")
    rig.start_bolus()
    rig.clock.advance(5)
    assert rig.driver.status().state is PumpState.PAUSED
    assert rig.driver.dispensed().infused_ul < Decimal(50)


def test_runaway_is_visible_as_over_delivery(rig: Rig) -> None:
    """SR-06: a runaway pump is seen infusing past the bolus end with DIS above the command."""
    rig.sim.inject("runaway")
    rig.start_bolus()
    rig.clock.advance(8)
    assert rig.driver.status().state is PumpState.INFUSING
    totals = rig.driver.dispensed()
    assert totals.infused_ul > Decimal(50)
    assert totals.commanded_ul == Decimal(50)
    assert totals.over_delivered
    assert rig.driver.stop().state is PumpState.STOPPED
    rig.clock.advance(5)
    assert rig.driver.status().state is PumpState.STOPPED


def test_spontaneous_start_is_detected_and_stopped(rig: Rig) -> None:
    """SR-06: a pump infusing with no RUN is seen by status and stopped when programmed."""
    rig.sim.inject("spontaneous-start")
    status = rig.driver.status()
    assert status.state is PumpState.INFUSING
    assert status.unexpected_motion
    with pytest.raises(PumpStateError, match="unintended flow"):
        rig.driver.program_bolus(Decimal(50), Decimal(500))
    assert rig.sim.pump.state == "stopped"
    assert rig.spy.count("RUN") == 0


def test_wrong_identity_fails_self_test() -> None:
    """SR-13: a pump that starts reporting another firmware fails the next self-test."""
    r = Rig()
    r.sim.inject("wrong-identity,ver=XYZ9")
    with pytest.raises(PumpStateError, match="XYZ9"):
        r.driver.self_test(syringe_diameter_mm=Decimal("4.699"))


def test_stop_persists_through_damaged_replies(rig: Rig) -> None:
    """stop() keeps sending STP through garbled replies until the pump reports stopped."""
    rig.start_bolus(volume_ul=100, rate_ul_per_min=100)
    rig.sim.inject("garble@cmd:1,times=3")
    assert rig.driver.stop().state is PumpState.STOPPED
    assert rig.sim.pump.state == "stopped"


def test_stop_gives_up_with_the_last_error_when_the_pump_is_gone(rig: Rig) -> None:
    """stop() against a silent pump raises TransportTimeoutError after its attempts."""
    rig.sim.inject("silence")
    with pytest.raises(TransportTimeoutError):
        rig.driver.stop()
    assert rig.spy.count("STP") == 6  # three attempts, each retried once by the link
