"""The pyserial transport on real OS objects: a pty device, missing ports, refused sockets."""

from __future__ import annotations

import os
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from pumpctl.drivers.transport import open_serial_transport
from pumpctl.errors import TransportError


@pytest.fixture
def pty_device() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    os.close(slave)
    yield master, name
    os.close(master)


def test_pty_device_carries_bytes_both_ways(pty_device: tuple[int, str]) -> None:
    """A device path opens as a raw 8N1 port: bytes written arrive, bytes sent back are read."""
    master, name = pty_device
    link = open_serial_transport(name, 19200, timeout_s=0.2, write_timeout_s=0.2)
    try:
        link.write(b"0VER\r")
        assert os.read(master, 64) == b"0VER\r"
        os.write(master, b"\x0200SNE1000V3.928\x03")
        assert link.read(17) == b"\x0200SNE1000V3.928\x03"
        assert link.read(1) == b""
    finally:
        link.close()


def test_second_open_of_the_same_device_is_refused(pty_device: tuple[int, str]) -> None:
    """The port is opened exclusively: a second client cannot interleave bytes with the first."""
    _, name = pty_device
    first = open_serial_transport(name, 19200)
    try:
        with pytest.raises(TransportError, match="cannot open pump link"):
            open_serial_transport(name, 19200)
    finally:
        first.close()


@pytest.mark.parametrize(
    "url", ["/dev/pumpctl-no-such-port", "nosuchscheme://x", "socket://127.0.0.1:1"]
)
def test_open_failure_names_the_url(url: str) -> None:
    """A link that cannot be opened raises TransportError naming the URL."""
    with pytest.raises(TransportError, match="cannot open pump link") as info:
        open_serial_transport(url, 19200)
    assert url in str(info.value)


def test_spy_url_traces_the_bytes(pty_device: tuple[int, str], tmp_path: Path) -> None:
    """A spy:// URL works like the device itself and writes a hex trace of the traffic."""
    master, name = pty_device
    trace = tmp_path / "trace.txt"
    link = open_serial_transport(f"spy://{name}?file={trace}", 19200, timeout_s=0.2)
    try:
        link.write(b"0VER\r")
        assert os.read(master, 64) == b"0VER\r"
    finally:
        link.close()
    assert "30 56 45 52 0d" in trace.read_text().lower()
