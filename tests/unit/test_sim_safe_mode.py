"""Safe-mode framing, the communications watchdog and alarm acknowledgement in the simulator."""

from __future__ import annotations

from pumpctl.core.clock import VirtualClock
from pumpctl.drivers.ne1000_codec import STX, encode_command
from pumpctl.simulator.session import Ne1000Simulator
from pumpctl.simulator.testing import SimClient, decode


def safe_client(timeout_s: int = 5) -> SimClient:
    client = SimClient()
    client.acknowledge_reset()
    assert client.ask(f"SAF{timeout_s}", safe=True).error is None
    return client


def test_framed_packet_is_accepted_in_basic_mode() -> None:
    """A safe-framed SAF0 is understood in basic mode and answered in basic framing."""
    client = SimClient()
    out = client.raw(encode_command(0, "SAF0", safe=True))
    assert out[0].data == b"\x0200A?R\x03"
    out = client.raw(encode_command(0, "SAF0", safe=True))
    assert out[0].data == b"\x0200S\x03"


def test_replies_are_framed_once_safe_mode_is_on() -> None:
    """After SAF n every reply is a safe frame with length and CRC."""
    client = safe_client()
    out = client.raw(encode_command(0, "VER", safe=True))
    assert out[0].data[0] == STX
    assert out[0].data[1] == len(out[0].data) - 1
    assert decode(out[0].data)[0].data == "NE1000V3.928"


def test_bad_crc_and_basic_lines_get_com_error_in_safe_mode() -> None:
    """A packet with a wrong CRC, or an unframed line in safe mode, is answered ?COM."""
    client = safe_client()
    packet = bytearray(encode_command(0, "VER", safe=True))
    packet[-2] ^= 0xFF
    assert decode(client.raw(bytes(packet))[0].data)[0].error == "?COM"
    assert decode(client.raw(b"0VER\r")[0].data)[0].error == "?COM"


def test_gap_inside_a_packet_discards_it() -> None:
    """A pause of more than 0.5 s inside a safe packet throws the partial packet away."""
    client = safe_client()
    packet = encode_command(0, "VER", safe=True)
    assert client.sim.receive(packet[:4], now_s=10.0) == []
    assert client.sim.receive(packet[4:], now_s=10.8) == []
    out = client.sim.receive(packet, now_s=11.0)
    assert decode(out[0].data)[0].data == "NE1000V3.928"


def test_watchdog_expiry_stops_the_pump_and_alarms_unprompted() -> None:
    """Without packets for n seconds the pump stops itself and sends A?T on its own."""
    client = safe_client(timeout_s=5)
    for command in ("DIA4.699", "DIRINF", "VOLUL", "VOL50", "RAT100UM", "RUN"):
        client.ask(command)
    assert client.advance(4.0) == []
    unprompted = client.advance(2.0)
    assert [(r.status, r.alarm) for r in unprompted] == [("A", "T")]
    assert client.sim.pump.drive.infused_ul == 5.0 * 100.0 / 60.0
    assert client.ask("RUN").alarm == "T"
    assert client.ask("").status == "S"


def test_heartbeats_keep_the_watchdog_quiet() -> None:
    """Each valid packet restarts the watchdog, so steady polling never times out."""
    client = safe_client(timeout_s=5)
    for _ in range(20):
        assert client.advance(4.0) == []
        assert client.ask("").status == "S"


def test_basic_mode_sends_nothing_unprompted() -> None:
    """In basic mode an alarm waits for the next command: nothing is sent on its own."""
    client = SimClient()
    client.acknowledge_reset()
    client.sim.inject("stall")
    assert client.advance(10.0) == []
    assert client.ask("VER").alarm == "S"
    assert client.ask("VER").data == "NE1000V3.928"


def test_unprompted_alarm_still_needs_acknowledging() -> None:
    """An alarm sent on its own in safe mode is acknowledged only by the next command's reply."""
    client = safe_client(timeout_s=100)
    client.sim.inject("stall")
    assert [r.alarm for r in client.advance(0.1)] == ["S"]
    assert client.ask("DIA4.699").alarm == "S"
    assert client.ask("DIA").data == "26.59"


def test_watchdog_counts_link_seconds_under_a_time_scale() -> None:
    """Under a 60x time scale SAF 2 lasts 2 real seconds, i.e. 120 simulator seconds."""
    clock = VirtualClock()
    client = SimClient(Ne1000Simulator(clock, time_scale=60.0))
    client.acknowledge_reset()
    client.ask("SAF2", safe=True)
    assert client.advance(100.0) == []
    assert [r.alarm for r in client.advance(30.0)] == ["T"]
