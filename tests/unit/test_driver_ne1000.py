"""NE-1000 driver against the in-process simulator: connect, self-test, bounded boluses."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.drivers.base import PumpAlarm, PumpDriver, PumpState
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.drivers.ne1000_codec import Command, encode_reply
from pumpctl.drivers.testing import Rewrite, SpyTransport
from pumpctl.errors import (
    PumpAlarmError,
    PumpStateError,
    TransportError,
    TransportTimeoutError,
    UnsendableError,
)
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.session import Ne1000Simulator

BD_1ML_MM = Decimal("4.699")


@dataclass
class Rig:
    clock: VirtualClock
    sim: Ne1000Simulator
    spy: SpyTransport
    driver: Ne1000Driver


def make_rig(
    *, firmware: str = "NE1000V3.928", rewrite: Rewrite | None = None, connect: bool = True
) -> Rig:
    clock = VirtualClock()
    sim = Ne1000Simulator(clock, syringe_ul=1000.0, firmware=firmware, seed=1)
    spy = SpyTransport(LoopbackTransport(sim), rewrite=rewrite)
    driver = Ne1000Driver("loop://", transport=spy)
    if connect:
        driver.connect()
    return Rig(clock, sim, spy, driver)


@pytest.fixture
def rig() -> Rig:
    r = make_rig()
    r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    return r


def test_driver_satisfies_the_contract(rig: Rig) -> None:
    """Ne1000Driver is a PumpDriver as the daemon sees it."""
    assert isinstance(rig.driver, PumpDriver)


def test_connect_arms_safe_mode_and_pf0() -> None:
    """SR-14: connect sends SAF framed, switches to safe framing and sets PF0 on the pump."""
    r = make_rig()
    first = r.spy.commands[0]
    assert first == Command(0, "SAF10", framed=True)
    assert all(c.framed for c in r.spy.commands)
    assert r.sim.pump.safe_timeout_s == 10
    assert r.sim.pump.pf == 0
    assert "PF0" in r.spy.texts()


def test_connect_acknowledges_power_up_alarm_and_resends() -> None:
    """The pump's power-up reset alarm makes connect re-send SAF once, then succeed."""
    r = make_rig()
    assert r.spy.count("SAF10") == 2


def test_self_test_passes_on_a_healthy_pump() -> None:
    """SR-13: identity, diameter read back, PF0, watchdog and stopped state are all checked."""
    r = make_rig()
    report = r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    assert report.model == "NE1000"
    assert report.firmware == "NE1000V3.928"
    assert report.syringe_diameter_mm == BD_1ML_MM
    assert report.safe_mode_timeout_s == 10
    assert report.power_failure_restart is False
    assert report.state is PumpState.STOPPED
    assert "acknowledged at connect: R" in report.checks
    assert report.alarms_at_connect == (PumpAlarm.POWER_RESET,)
    for query in ("VER", "DIA", "PF", "SAF"):
        assert query in r.spy.texts()
    assert r.driver.capabilities.syringe_diameter_mm == BD_1ML_MM


def test_self_test_rejects_foreign_identity() -> None:
    """SR-13: a pump whose VER is not NE-1000 family firmware fails the self-test by name."""
    r = make_rig(firmware="XP2000V1.0")
    with pytest.raises(PumpStateError, match=r"XP2000V1\.0"):
        r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)


def test_failed_self_test_keeps_connect_alarms_for_status() -> None:
    """Alarms acknowledged at connect stay reported by status() when the self-test fails."""
    r = make_rig()
    r.sim.inject("spontaneous-start")
    with pytest.raises(PumpStateError):
        r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    assert r.driver.status().alarms == (PumpAlarm.POWER_RESET,)


def test_self_test_rejects_diameter_that_reads_back_wrong() -> None:
    """SR-13: a diameter that reads back different from what was set fails the self-test."""

    def lie_about_dia(command: Command, reply: bytes) -> bytes:
        return encode_reply(0, "S", "4.700", safe=True) if command.text == "DIA" else reply

    r = make_rig(rewrite=lie_about_dia)
    with pytest.raises(PumpStateError, match=r"read back as 4\.700"):
        r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)


def test_self_test_rejects_pf1_and_unarmed_watchdog() -> None:
    """SR-13/SR-14: PF reading 1 or SAF reading 0 fails the self-test."""
    for query, lie, message in (("PF", "1", "PF1"), ("SAF", "0", "SAF0")):

        def rewrite(command: Command, reply: bytes, q: str = query, v: str = lie) -> bytes:
            return encode_reply(0, "S", v, safe=True) if command.text == q else reply

        r = make_rig(rewrite=rewrite)
        with pytest.raises(PumpStateError, match=message):
            r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)


def test_self_test_stops_a_moving_pump_and_fails() -> None:
    """SR-13/SR-06: a pump found infusing at self-test is stopped and the self-test fails."""
    r = make_rig()
    r.sim.inject("spontaneous-start")
    with pytest.raises(PumpStateError, match="infusing"):
        r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    assert r.sim.pump.state == "stopped"


def test_self_test_fails_on_alarm_during_test() -> None:
    """SR-13: an alarm raised while the self-test runs fails it with PumpAlarmError."""
    r = make_rig()
    r.sim.inject("power-reset@cmd:3")  # counted from arming: the third self-test command
    with pytest.raises(PumpAlarmError) as info:
        r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    assert info.value.alarm is PumpAlarm.POWER_RESET


def test_self_test_refuses_diameter_the_pump_cannot_take_exactly() -> None:
    """A diameter with more than four digits is refused, not rounded."""
    r = make_rig()
    with pytest.raises(UnsendableError, match=r"syringe_diameter_mm=26\.594"):
        r.driver.self_test(syringe_diameter_mm=Decimal("26.594"))


def test_calls_before_connect_or_self_test_are_refused() -> None:
    """Without connect there is no link, and without self-test no capabilities."""
    r = make_rig(connect=False)
    with pytest.raises(PumpStateError, match="not connected"):
        r.driver.status()
    r.driver.connect()
    with pytest.raises(PumpStateError, match="self_test"):
        _ = r.driver.capabilities


def test_capabilities_follow_the_syringe(rig: Rig) -> None:
    """Rate limits scale with the bore: about 884 uL/min maximum for a 4.699 mm syringe."""
    caps = rig.driver.capabilities
    assert Decimal(884) < caps.max_rate_ul_per_min < Decimal(885)
    assert Decimal("0.012") < caps.min_rate_ul_per_min < Decimal("0.013")


def test_bolus_runs_to_completion(rig: Rig) -> None:
    """A 50 uL bolus at 500 uL/min infuses for 6 s, then stops with DIS showing 50 uL."""
    rig.driver.clear_dispensed()
    rig.driver.program_bolus(Decimal(50), Decimal(500))
    assert rig.spy.texts()[-4:] == ["DIRINF", "VOLUL", "VOL50", "RAT500UM"]
    assert rig.driver.run().state is PumpState.INFUSING
    rig.clock.advance(3)
    assert rig.driver.heartbeat().state is PumpState.INFUSING
    rig.clock.advance(4)
    status = rig.driver.status()
    assert status.state is PumpState.STOPPED
    assert (status.alarm, status.unexpected_motion) == (None, False)
    totals = rig.driver.dispensed()
    assert (totals.infused_ul, totals.commanded_ul, totals.excess_ul) == (50, 50, 0)
    assert not totals.over_delivered


def test_run_needs_a_fresh_program_each_time(rig: Rig) -> None:
    """SR-01: RUN is sent only right after a programmed bolus, never a second time on its own."""
    with pytest.raises(PumpStateError, match="no bolus programmed"):
        rig.driver.run()
    rig.driver.program_bolus(Decimal(20), Decimal(600))
    rig.driver.run()
    rig.clock.advance(3)
    assert rig.driver.status().state is PumpState.STOPPED
    with pytest.raises(PumpStateError, match="no bolus programmed"):
        rig.driver.run()
    assert rig.spy.count("RUN") == 1


def test_commanded_volume_is_unknown_until_totals_are_cleared() -> None:
    """Before the driver cleared the totals they may hold older deliveries: commanded is None."""
    r = make_rig()
    r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    totals = r.driver.dispensed()
    assert (totals.commanded_ul, totals.excess_ul, totals.over_delivered) == (None, None, False)
    r.driver.clear_dispensed()
    assert r.driver.dispensed().commanded_ul == Decimal(0)


def test_zero_volume_is_never_sent() -> None:
    """SR-01: volume 0 (the pump's 'continuous'), negative or NaN volumes are refused unsent."""
    r = make_rig()
    r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    before = len(r.spy.commands)
    for volume in (Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(UnsendableError, match="volume_ul"):
            r.driver.program_bolus(volume, Decimal(500))
    assert len(r.spy.commands) == before


def test_volume_is_never_rounded() -> None:
    """A volume the pump cannot take exactly is refused, never rounded to another dose."""
    r = make_rig()
    r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    with pytest.raises(UnsendableError, match=r"volume_ul=12\.3456 cannot be stated exactly"):
        r.driver.program_bolus(Decimal("12.3456"), Decimal(500))
    with pytest.raises(UnsendableError, match=r"volume_ul=10000 allowed 0\.001\.\.9999"):
        r.driver.program_bolus(Decimal(10000), Decimal(500))


def test_rate_outside_syringe_limits_is_refused(rig: Rig) -> None:
    """A rate beyond the plunger's speed for the fitted syringe is refused before sending."""
    with pytest.raises(UnsendableError, match="rate_ul_per_min=900 allowed"):
        rig.driver.program_bolus(Decimal(50), Decimal(900))


def test_small_rate_uses_hourly_units(rig: Rig) -> None:
    """A rate with no exact uL/min text (0.0125 uL/min) is sent exactly as 0.75 uL/h."""
    rig.driver.program_bolus(Decimal(1), Decimal("0.0125"))
    assert rig.spy.texts()[-1] == "RAT0.75UH"


def test_stop_pauses_then_stops(rig: Rig) -> None:
    """stop() sends STP until stopped: the first pauses a running pump, the second stops it."""
    rig.driver.program_bolus(Decimal(50), Decimal(100))
    rig.driver.run()
    rig.clock.advance(5)
    assert rig.driver.stop().state is PumpState.STOPPED
    assert rig.spy.count("STP") == 2
    assert rig.sim.pump.state == "stopped"


def test_stop_on_a_stopped_pump_is_one_command(rig: Rig) -> None:
    """stop() on an idle pump returns stopped after a single STP."""
    assert rig.driver.stop().state is PumpState.STOPPED
    assert rig.spy.count("STP") == 1


def test_clear_dispensed_zeroes_both_totals(rig: Rig) -> None:
    """CLD INF and CLD WDR zero the accumulators."""
    rig.driver.program_bolus(Decimal(20), Decimal(600))
    rig.driver.run()
    rig.clock.advance(5)
    assert rig.driver.dispensed().infused_ul == Decimal(20)
    rig.driver.clear_dispensed()
    totals = rig.driver.dispensed()
    assert (totals.infused_ul, totals.withdrawn_ul) == (Decimal(0), Decimal(0))


def test_simulator_handshake_reports_scale_and_clock(rig: Rig) -> None:
    """pumpsim answers XSIM with its time scale and its clock's current time."""
    info = rig.driver.simulator_handshake()
    assert info is not None
    assert info.time_scale == 1.0
    assert abs((info.now - rig.clock.now()).total_seconds()) < 1e-3


def test_real_pump_handshake_is_none() -> None:
    """A pump answering XSIM with '?' (any real NE-1000) makes the handshake return None."""

    def real_pump(command: Command, reply: bytes) -> bytes:
        return encode_reply(0, "S", "?", safe=True) if command.text == "XSIM" else reply

    r = make_rig(rewrite=real_pump)
    assert r.driver.simulator_handshake() is None


def test_close_releases_the_link(rig: Rig) -> None:
    """After close() the driver refuses calls until connected again."""
    rig.driver.close()
    with pytest.raises(PumpStateError, match="not connected"):
        rig.driver.status()


def test_connect_to_a_silent_pump_fails_and_releases_the_link() -> None:
    """connect() to a pump that never answers raises TransportTimeoutError and drops the link.

    The transport was handed in by the caller, so it stays open for its owner (a port the driver
    opened itself is closed).
    """
    r = make_rig(connect=False)
    r.sim.inject("silence")
    with pytest.raises(TransportTimeoutError, match="no pump answers at address 0 on loop://"):
        r.driver.connect()
    assert isinstance(r.spy.inner, LoopbackTransport)
    assert r.spy.inner.is_open
    with pytest.raises(PumpStateError, match="not connected"):
        r.driver.status()


def test_reconnect_requires_a_new_self_test(rig: Rig) -> None:
    """SR-13: after a new connect the capabilities are unknown until the self-test runs again."""
    rig.driver.connect()
    with pytest.raises(PumpStateError, match="self_test"):
        rig.driver.program_bolus(Decimal(50), Decimal(500))
    rig.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    rig.driver.program_bolus(Decimal(50), Decimal(500))


def test_failed_transport_becomes_transport_error(rig: Rig) -> None:
    """A transport failing with a raw OSError surfaces as TransportError chained to it."""
    rig.spy.inner.close()
    with pytest.raises(TransportError, match="pump link failed") as info:
        rig.driver.status()
    assert isinstance(info.value.__cause__, OSError)
