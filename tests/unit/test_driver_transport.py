"""The pyserial transport: URL opening, timeouts, and errors translated at the boundary."""

from __future__ import annotations

import pytest
import serial
from pytest_mock import MockerFixture

from pumpctl.drivers.transport import SerialTransport, Transport, open_serial_transport
from pumpctl.errors import TransportError, TransportTimeoutError


def test_loop_url_round_trips_bytes() -> None:
    """A loop:// link returns what was written and b'' once empty, after its read timeout."""
    link = open_serial_transport("loop://", 19200, timeout_s=0.01, write_timeout_s=0.1)
    assert isinstance(link, Transport)
    link.write(b"0VER\r")
    assert link.read(5) == b"0VER\r"
    assert link.read(1) == b""
    link.write(b"junk")
    link.reset_input_buffer()
    assert link.read(4) == b""
    link.close()


def test_timeouts_are_always_set() -> None:
    """The port is opened with both timeouts; zero or negative timeouts are refused."""
    link = open_serial_transport("loop://", 9600, timeout_s=0.2, write_timeout_s=0.3)
    assert link.timeout == 0.2
    link.timeout = 0.05
    assert link.timeout == 0.05
    with pytest.raises(ValueError, match="timeout_s=0"):
        open_serial_transport("loop://", 9600, timeout_s=0, write_timeout_s=0.3)


def test_write_timeout_becomes_transport_timeout(mocker: MockerFixture) -> None:
    """pyserial's write timeout surfaces as TransportTimeoutError (also a TimeoutError)."""
    port = mocker.Mock(spec=serial.Serial)
    port.write.side_effect = serial.SerialTimeoutException("Write timeout")
    port.write_timeout = 0.5
    link = SerialTransport(port, "/dev/ttyUSB0")
    with pytest.raises(TransportTimeoutError, match=r"write_timeout_s=0\.5") as info:
        link.write(b"0RUN\r")
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value.__cause__, serial.SerialTimeoutException)


def test_unplugged_port_becomes_transport_error(mocker: MockerFixture) -> None:
    """A read or write on an unplugged adapter raises TransportError chained to the cause."""
    port = mocker.Mock(spec=serial.Serial)
    port.read.side_effect = serial.SerialException("device reports readiness to read")
    port.write.side_effect = OSError(5, "Input/output error")
    port.reset_input_buffer.side_effect = serial.SerialException("gone")
    port.close.side_effect = OSError(9, "Bad file descriptor")
    link = SerialTransport(port, "/dev/ttyUSB0")
    for call in (lambda: link.read(1), lambda: link.write(b"x"), link.reset_input_buffer,
                 link.close):  # fmt: skip
        with pytest.raises(TransportError, match="/dev/ttyUSB0") as info:
            call()
        assert info.value.__cause__ is not None


def test_short_write_is_an_error(mocker: MockerFixture) -> None:
    """A write that sends fewer bytes than asked raises TransportError."""
    port = mocker.Mock(spec=serial.Serial)
    port.write.return_value = 2
    with pytest.raises(TransportError, match="sent 2 of 5 bytes"):
        SerialTransport(port, "/dev/ttyUSB0").write(b"0RUN\r")


def test_zero_timeout_read_returns_what_is_waiting_without_retuning_the_port() -> None:
    """A zero-timeout read returns only buffered bytes and leaves the port's timeout alone."""
    link = open_serial_transport("loop://", 19200, timeout_s=0.2, write_timeout_s=0.2)
    link.timeout = 0
    assert link.read(64) == b""
    link.write(b"\x0200S\x03")
    assert link.read(64) == b"\x0200S\x03"
    assert link._port.timeout == 0.2
    link.timeout = 0.05
    assert link.read(1) == b""
    assert link._port.timeout == 0.05
