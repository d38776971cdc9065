"""State-machine and wire tests of the simulated Pump 11 Elite on a virtual clock."""

from __future__ import annotations

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.simulator.elite11_session import Elite11Simulator


class Elite:
    """Sends command lines, returns the exact bytes the pump answered."""

    def __init__(self, **options: object) -> None:
        self.clock = VirtualClock()
        self.sim = Elite11Simulator(self.clock, seed=1, **options)  # type: ignore[arg-type]

    def send(self, line: str) -> bytes:
        return b"".join(o.data for o in self.sim.receive(line.encode() + b"\r"))

    def value(self, line: str) -> str:
        reply = self.send(line).decode()
        return reply.split("\r")[0].lstrip("\n").removeprefix("00:")

    def advance(self, seconds: float) -> bytes:
        self.clock.advance(seconds)
        return b"".join(o.data for o in self.sim.poll())

    def bolus(self, volume: str = "50 ul", rate: str = "500 ul/min") -> bytes:
        assert self.send("0civolume") == b"\n00:"
        assert self.send(f"0irate {rate}") == b"\n00:"
        assert self.send(f"0tvolume {volume}") == b"\n00:"
        return self.send("0irun")


@pytest.fixture
def pump() -> Elite:
    return Elite()


def test_unaddressed_and_addressed_replies_at_address_zero(pump: Elite) -> None:
    """Without an address the reply has none; with one, every line carries it."""
    assert pump.send("ver") == b"\n11 ELITE I/W Single 3.0.4\r\n:"
    assert pump.send("0ver") == b"\n00:11 ELITE I/W Single 3.0.4\r\n00:"
    assert pump.send("") == b"\n:"


def test_a_pump_at_a_nonzero_address_always_names_itself() -> None:
    """At address 5 even an unaddressed prompt request is answered '05:'; others are ignored."""
    pump = Elite(address=5)
    assert pump.send("") == b"\n05:"
    assert pump.send("3ver") == b""
    assert pump.send("5:diameter") == b"\n05:4.6990 mm\r\n05:"


def test_commands_are_case_blind_and_may_be_abbreviated(pump: Elite) -> None:
    """'DIAMETER', 'diam' and 'dia' name the same command; an unknown word says so."""
    assert pump.value("0DIAMETER") == pump.value("0diam") == "4.6990 mm"
    assert pump.value("0foo") == "Unknown command"


def test_units_are_required_and_checked(pump: Elite) -> None:
    """A rate without units is an argument error; beyond the syringe's limits, out of range."""
    assert pump.value("0irate 500") == "Argument error"
    assert pump.value("0irate 500 ul/fortnight") == "Argument error"
    assert pump.value("0irate 900 ml/min") == "Out of range"
    assert pump.send("0irate 0.5 m/m") == b"\n00:"
    assert pump.value("0irate") == "0.5 ml/min"
    low, high = pump.value("0irate lim").split(" to ")
    assert low.endswith("nl/min") and high.endswith("ml/min")


def test_target_volume_bounds_the_run_and_reports_t_star(pump: Elite) -> None:
    """irun infuses at the rate and stops at tvolume, then says T* on its own and in prompts."""
    assert pump.bolus() == b"\n00>"
    assert pump.value("0ivolume") == "0 ul"
    pump.advance(3)
    assert pump.value("0ivolume") == "25 ul"
    assert pump.advance(3) == b"\n00T*"
    assert pump.value("0ivolume") == "50 ul"
    assert pump.send("0") == b"\n00T*"
    assert pump.sim.pump.ledger.infused_ul() == pytest.approx(50.0)


def test_the_target_counts_against_the_infused_counter(pump: Elite) -> None:
    """A second irun without clearing the counter moves nothing: the target is already met."""
    pump.bolus()
    pump.advance(10)
    assert pump.send("0irun") == b"\n00T*"
    pump.advance(10)
    assert pump.sim.pump.ledger.infused_ul() == pytest.approx(50.0)


def test_without_a_target_irun_runs_until_stopped(pump: Elite) -> None:
    """No target: the pump infuses until stop (why the driver always sets one first)."""
    pump.send("0irate 600 ul/min")
    assert pump.value("0tvolume") == "Target volume not set"
    assert pump.send("0irun") == b"\n00>"
    pump.advance(60)
    assert pump.send("0stop") == b"\n00:"
    assert pump.value("0ivolume") == "600 ul"


def test_status_reports_femtolitres_milliseconds_and_flags(pump: Elite) -> None:
    """status: rate fL/s, time ms, volume fL, flags (direction, limit, stall, trigger, port, T)."""
    pump.bolus()
    pump.advance(3)
    assert pump.value("0status") == "8333333333 3000 25000000000 I...I."
    pump.advance(10)
    assert pump.value("0status") == "8333333333 6000 50000000000 i...IT"


def test_a_stall_shows_until_stop(pump: Elite) -> None:
    """A stall stops the motor; the prompt is '*' and the S flag is set until stop clears it."""
    pump.sim.inject("stall@0.5")
    pump.bolus()
    pump.advance(10)
    assert pump.send("0") == b"\n00*"
    assert pump.value("0status").endswith("i.S.I.")
    assert pump.send("0stop") == b"\n00:"
    assert pump.value("0ivolume") == "25 ul"


def test_power_loss_clears_counters_and_target_silently(pump: Elite) -> None:
    """After a power loss the pump is idle, counters and target are cleared, nothing is sent."""
    pump.bolus()
    pump.advance(3)
    pump.sim.inject("power-reset")
    assert pump.advance(1) == b""
    assert pump.send("0") == b"\n00:"
    assert pump.value("0ivolume") == "0 ul"
    assert pump.value("0tvolume") == "Target volume not set"
    assert pump.value("0diameter") == "4.6990 mm"
    assert pump.sim.pump.ledger.infused_ul() == pytest.approx(25.0)


def test_echo_on_repeats_the_input_before_the_reply(pump: Elite) -> None:
    """With echo on the pump sends back every byte it receives."""
    assert pump.value("0echo") == "OFF"
    pump.send("0echo on")
    assert pump.send("0ver").startswith(b"0ver\r\n00:11 ELITE")


def test_the_simulator_handshake_reports_scale_and_clock(pump: Elite) -> None:
    """xsim is pumpsim's alone; a real pump answers it as an unknown command."""
    assert pump.value("0xsim").startswith("PUMPSIM SCALE=1.0 NOW=")


def test_a_garble_fault_damages_the_reply_with_non_ascii(pump: Elite) -> None:
    """A garbled reply carries bytes >= 0x80, so no client takes it for a valid one."""
    pump.sim.inject("garble")
    reply = pump.send("0diameter")
    assert any(b >= 0x80 for b in reply)
    assert pump.send("0diameter") == b"\n00:4.6990 mm\r\n00:"


def test_silence_swallows_commands(pump: Elite) -> None:
    """A silenced (unplugged) line gets no answer and executes nothing."""
    pump.sim.inject("silence,for=5")
    assert pump.send("0irun") == b""
    pump.advance(6)
    assert pump.send("0") == b"\n00:"
