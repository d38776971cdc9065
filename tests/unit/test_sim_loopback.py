"""The in-process loopback transport: serial-like reads and writes straight into a simulator."""

from __future__ import annotations

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.drivers.ne1000_codec import encode_command, encode_reply
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.session import Ne1000Simulator


def test_write_then_read_returns_the_reply_bytes() -> None:
    """A written command's reply is readable at once, byte by byte or in one read."""
    transport = LoopbackTransport(Ne1000Simulator(VirtualClock()))
    transport.write(b"0VER\r")
    assert transport.read(1) == b"\x02"
    assert transport.in_waiting == 6
    assert transport.read(100) == b"00A?R\x03"
    assert transport.read(1) == b""


def test_reads_collect_unprompted_safe_mode_alarms() -> None:
    """Alarms the pump sends on its own in safe mode are readable without a command."""
    clock = VirtualClock()
    transport = LoopbackTransport(Ne1000Simulator(clock))
    transport.write(b"0\r")
    transport.write(encode_command(0, "SAF2", safe=True))
    transport.reset_input_buffer()
    clock.advance(3.0)
    assert transport.read(100) == encode_reply(0, "A?T", safe=True)


def test_wire_time_is_accounted_not_slept() -> None:
    """The wire time of replies is totalled for the caller instead of being waited for."""
    transport = LoopbackTransport(Ne1000Simulator(VirtualClock(), baud=1200))
    transport.write(b"0VER\r")
    assert transport.wire_time_s == pytest.approx(7 * 10 / 1200)


def test_closed_transport_refuses_io() -> None:
    """After close, reads and writes fail as on a closed serial port."""
    transport = LoopbackTransport(Ne1000Simulator(VirtualClock()))
    transport.close()
    with pytest.raises(OSError, match="closed"):
        transport.write(b"0VER\r")
