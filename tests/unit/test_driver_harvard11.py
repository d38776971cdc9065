"""Protocol 11 driver against the in-process Elite simulator: self-test, bounded boluses, faults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.drivers.base import PumpAlarm, PumpDriver, PumpState
from pumpctl.drivers.harvard11 import Harvard11Driver
from pumpctl.drivers.registry import get_driver_class
from pumpctl.errors import ConfigError, PumpStateError, TransportTimeoutError
from pumpctl.simulator.elite11_session import Elite11Simulator
from pumpctl.simulator.loopback import LoopbackTransport

BD_1ML_MM = Decimal("4.699")


@dataclass
class Recorder:
    """Loopback transport that records each command line and may rewrite the answer."""

    inner: LoopbackTransport
    rewrite: Callable[[str, bytes], bytes] | None = None
    lines: list[str] = field(default_factory=list)
    _rx: bytearray = field(default_factory=bytearray)

    @property
    def timeout(self) -> float | None:
        return self.inner.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.inner.timeout = value

    def write(self, data: bytes) -> None:
        # A setting goes out with a prompt request behind it: record each line.
        sent = data.decode().split("\r")[:-1]
        line = sent[0]
        self.lines.extend(sent)
        self.inner.write(data)
        if self.rewrite is not None:
            saved, self.inner.timeout = self.inner.timeout, 0
            answer = b"".join(iter(lambda: self.inner.read(256), b""))
            self.inner.timeout = saved
            self._rx.extend(self.rewrite(line, answer))

    def read(self, size: int = 1) -> bytes:
        if self._rx:
            chunk = bytes(self._rx[:size])
            del self._rx[:size]
            return chunk
        return self.inner.read(size)

    def reset_input_buffer(self) -> None:
        self._rx.clear()
        self.inner.reset_input_buffer()

    def close(self) -> None:
        self.inner.close()

    def count(self, line: str) -> int:
        return self.lines.count(line)


@dataclass
class Rig:
    clock: VirtualClock
    sim: Elite11Simulator
    wire: Recorder
    driver: Harvard11Driver


def make_rig(
    *, rewrite: Callable[[str, bytes], bytes] | None = None, firmware: str | None = None
) -> Rig:
    clock = VirtualClock()
    options = {} if firmware is None else {"firmware": firmware}
    sim = Elite11Simulator(clock, seed=1, **options)  # type: ignore[arg-type]
    wire = Recorder(LoopbackTransport(sim), rewrite)
    driver = Harvard11Driver("loop://", transport=wire)
    driver.connect()
    return Rig(clock, sim, wire, driver)


@pytest.fixture
def rig() -> Rig:
    r = make_rig()
    r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    return r


def bolus(rig: Rig, volume: str = "50", rate: str = "500") -> None:
    rig.driver.clear_dispensed()
    rig.driver.program_bolus(Decimal(volume), Decimal(rate))
    rig.driver.run()


def test_driver_satisfies_the_contract_and_is_registered(rig: Rig) -> None:
    """harvard11 (and its aliases) name this class, which is a PumpDriver."""
    assert isinstance(rig.driver, PumpDriver)
    for name in ("harvard11", "elite11", "phdultra"):
        assert get_driver_class(name) is Harvard11Driver


def test_self_test_reads_identity_diameter_and_limits(rig: Rig) -> None:
    """SR-13: identity, diameter read back, rate limits from the pump, stopped, alarm-free."""
    report = rig.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    assert report.model == "11 ELITE"
    assert report.syringe_diameter_mm == BD_1ML_MM
    assert report.safe_mode_timeout_s == 0
    assert "diameter 4.699 mm read back" in " ".join(report.checks).replace("4.6990", "4.699")
    caps = rig.driver.capabilities
    assert caps.min_rate_ul_per_min < Decimal("0.01") < Decimal(2000) < caps.max_rate_ul_per_min
    assert caps.max_volume_ul == Decimal(1000)


def test_self_test_refuses_a_foreign_identity() -> None:
    """A pump whose ver is not Protocol 11 firmware fails the self-test."""
    r = make_rig(firmware="NE1000V3.928")
    with pytest.raises(PumpStateError, match="not Protocol 11"):
        r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)


def test_a_diameter_the_pump_cannot_print_back_is_refused() -> None:
    """A diameter with five decimals is refused before anything is sent (deny, never clamp)."""
    r = make_rig()
    with pytest.raises(ConfigError, match="4 decimals"):
        r.driver.self_test(syringe_diameter_mm=Decimal("4.69912"))


def test_bolus_sets_and_reads_back_rate_and_target_before_irun(rig: Rig) -> None:
    """SR-01/SR-27: irate and tvolume are sent with units and read back before the one irun."""
    bolus(rig)
    lines = rig.wire.lines
    irun = lines.index("0irun")
    set_rate, set_target = lines.index("0irate 500 ul/min"), lines.index("0tvolume 50 ul")
    assert set_rate < lines.index("0irate", set_rate) < irun
    assert set_target < lines.index("0tvolume", set_target) < irun
    assert rig.wire.count("0irun") == 1
    rig.clock.advance(10)
    status = rig.driver.status()
    assert status.state is PumpState.STOPPED and status.alarm is None
    totals = rig.driver.dispensed()
    assert (totals.infused_ul, totals.commanded_ul) == (Decimal(50), Decimal(50))
    assert not totals.over_delivered
    assert rig.sim.pump.ledger.infused_ul() == pytest.approx(50.0)


def test_a_volume_with_seven_significant_digits_is_refused(rig: Rig) -> None:
    """The pump prints six digits, so 12.34567 uL could not be read back: refused, not rounded."""
    rig.driver.clear_dispensed()
    with pytest.raises(ConfigError, match="6 significant digits"):
        rig.driver.program_bolus(Decimal("12.34567"), Decimal(500))
    assert not any(line.startswith("0tvolume 12") for line in rig.wire.lines)


def test_program_refuses_a_nonzero_infused_counter(rig: Rig) -> None:
    """The target counts against the counter: without a clear the bolus is not programmed."""
    bolus(rig)
    rig.clock.advance(10)
    rig.driver.status()
    with pytest.raises(PumpStateError, match="clear_dispensed"):
        rig.driver.program_bolus(Decimal(50), Decimal(500))


def test_run_without_a_confirmed_program_is_refused(rig: Rig) -> None:
    """SR-01: irun is never sent unless a bolus was confirmed since the last run."""
    bolus(rig)
    with pytest.raises(PumpStateError, match="no confirmed bolus"):
        rig.driver.run()
    assert rig.wire.count("0irun") == 1


def test_a_stall_is_reported_as_alarm_s_and_stop_clears_it(rig: Rig) -> None:
    """A stall is reported once as STALL at the next status; stop() leaves the pump clear."""
    rig.sim.inject("stall@0.5")
    bolus(rig)
    rig.clock.advance(10)
    status = rig.driver.status()
    assert (status.state, status.alarm) == (PumpState.STOPPED, PumpAlarm.STALL)
    assert rig.driver.status().alarm is None  # one stall, one alarm, though the '*' stays
    assert rig.driver.stop().alarm is None
    assert rig.driver.dispensed().infused_ul == Decimal(25)


def test_a_power_loss_mid_bolus_is_reported_as_alarm_r(rig: Rig) -> None:
    """The pump says nothing, but its confirmed target is gone: the driver reports R."""
    bolus(rig)
    rig.clock.advance(3)
    rig.sim.inject("power-reset")
    status = rig.driver.status()
    assert status.alarm is PumpAlarm.POWER_RESET
    assert status.state is PumpState.STOPPED


def test_a_lost_irun_reply_is_never_resent(rig: Rig) -> None:
    """SR-16: irun whose answer is lost raises; the bolus counts as commanded; no second irun."""

    def drop_irun(line: str, answer: bytes) -> bytes:
        return b"" if line == "0irun" else answer

    r = make_rig(rewrite=drop_irun)
    r.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    r.driver.clear_dispensed()
    r.driver.program_bolus(Decimal(50), Decimal(500))
    with pytest.raises(TransportTimeoutError, match="never re-sent"):
        r.driver.run()
    assert r.wire.count("0irun") == 1
    assert r.driver.status().state is PumpState.INFUSING
    assert r.driver.dispensed().commanded_ul == Decimal(50)


def test_a_garbled_query_is_retried_once(rig: Rig) -> None:
    """A garbled reply to a query is a link fault: the query is sent again and succeeds."""
    rig.sim.inject("garble")
    assert rig.driver.dispensed().infused_ul == Decimal(0)
    # dispensed() reads the infused counter from status (fL): that query went out twice.
    assert rig.wire.lines[-3:] == ["0status", "0status", "0wvolume"]


def test_unexpected_motion_is_flagged(rig: Rig) -> None:
    """SR-06: a spontaneous start shows as unexpected_motion; programming stops it."""
    rig.sim.inject("spontaneous-start")
    assert rig.driver.status().unexpected_motion
    rig.driver.clear_dispensed()
    with pytest.raises(PumpStateError, match="unintended flow"):
        rig.driver.program_bolus(Decimal(50), Decimal(500))
    assert not rig.sim.pump.drive.moving


def test_the_simulator_handshake_and_a_real_pumps_answer(rig: Rig) -> None:
    """xsim gives pumpsim's scale; 'Unknown command' (a real pump) gives None."""
    info = rig.driver.simulator_handshake()
    assert info is not None and info.time_scale == 1.0

    def unknown(line: str, answer: bytes) -> bytes:
        return b"\n00:Unknown command\r\n00:" if line == "0xsim" else answer

    assert make_rig(rewrite=unknown).driver.simulator_handshake() is None


def test_a_silent_line_names_the_likely_causes() -> None:
    """No pump answering at connect says: cable, baud rate, address."""
    clock = VirtualClock()
    sim = Elite11Simulator(clock, address=3)
    driver = Harvard11Driver("loop://", transport=LoopbackTransport(sim), timeout_s=0.05)
    with pytest.raises(TransportTimeoutError, match="baud rate and the pump's address"):
        driver.connect()


def test_constructor_refuses_bad_settings() -> None:
    """Address and baud rate outside what the pumps offer are configuration errors."""
    with pytest.raises(ConfigError, match="address"):
        Harvard11Driver("loop://", address=100)
    with pytest.raises(ConfigError, match="baud"):
        Harvard11Driver("loop://", baud=4800)


def test_a_diameter_changed_at_the_keypad_stops_the_bolus_before_irun(rig: Rig) -> None:
    """SR-27: the diameter is read back before irun; a different one means no irun at all."""
    rig.sim.pump.diameter_mm = 14.567
    rig.driver.clear_dispensed()
    with pytest.raises(PumpStateError, match="read-back differs"):
        rig.driver.program_bolus(Decimal(50), Decimal(500))
    with pytest.raises(PumpStateError, match="no confirmed bolus"):
        rig.driver.run()
    assert rig.wire.count("0irun") == 0


def test_a_power_loss_while_disconnected_shows_at_connect(rig: Rig) -> None:
    """The target pumpctl set is gone at the next connect: POWER_RESET, handed over as evidence."""
    bolus(rig)
    rig.clock.advance(10)
    rig.driver.close()
    rig.driver.connect()
    assert rig.driver.status().alarm is None  # the target is still there: no power loss
    rig.sim.inject("power-reset")
    rig.driver.close()
    rig.driver.connect()
    report = rig.driver.self_test(syringe_diameter_mm=BD_1ML_MM)
    assert report.alarms_at_connect == (PumpAlarm.POWER_RESET,)


def test_a_refused_setting_is_seen_without_waiting_for_a_quiet_line(rig: Rig) -> None:
    """A setting goes out with a prompt request behind it; its error line is still read."""
    with pytest.raises(PumpStateError, match="Out of range"):
        rig.driver._setup("irate 900 ml/min")
    assert rig.wire.lines[-2:] == ["0irate 900 ml/min", "0"]
    assert rig.driver.status().alarm is None  # nothing left over for the next exchange
