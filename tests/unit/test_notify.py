"""Tests for sd_notify: real AF_UNIX datagram sockets, path and abstract addresses."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pumpctl.daemon import notify


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, dict[str, str]]]:
    """A datagram socket bound to a short filesystem path, and an environment naming it."""
    with tempfile.TemporaryDirectory(prefix="pn") as tmp:
        path = str(Path(tmp) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(2.0)
        try:
            yield sock, {"NOTIFY_SOCKET": path}
        finally:
            sock.close()


def test_ready_sends_ready_and_status(listener: tuple[socket.socket, dict[str, str]]) -> None:
    """ready() sends READY=1 together with a one-line STATUS to the notify socket."""
    sock, env = listener
    assert notify.ready("next pulse\n08:00", environ=env)
    assert sock.recv(4096) == b"READY=1\nSTATUS=next pulse 08:00"


def test_status_watchdog_stopping_reloading_messages(
    listener: tuple[socket.socket, dict[str, str]],
) -> None:
    """Each helper sends exactly its documented sd_notify assignment."""
    sock, env = listener
    assert notify.status("alarm: reservoir-low", environ=env)
    assert notify.watchdog(environ=env)
    assert notify.stopping(environ=env)
    assert notify.reloading(environ=env)
    received = [sock.recv(4096) for _ in range(4)]
    assert received == [
        b"STATUS=alarm: reservoir-low",
        b"WATCHDOG=1",
        b"STOPPING=1",
        b"RELOADING=1",
    ]


def test_abstract_socket_address() -> None:
    """An '@' NOTIFY_SOCKET is sent to the abstract namespace, as systemd does."""
    name = f"pumpctl-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2.0)
        assert notify.watchdog(environ={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_no_op_outside_systemd() -> None:
    """Without NOTIFY_SOCKET every call returns False and raises nothing."""
    assert notify.ready(environ={}) is False
    assert notify.watchdog(environ={}) is False
    assert notify.status("x", environ={}) is False


def test_missing_socket_never_raises(tmp_path: Path) -> None:
    """A NOTIFY_SOCKET naming a path nobody listens on is reported as not sent, not raised."""
    env = {"NOTIFY_SOCKET": str(tmp_path / "gone")}
    assert notify.watchdog(environ=env) is False


def test_unsupported_address_is_ignored() -> None:
    """A relative or vsock-style NOTIFY_SOCKET is ignored rather than misinterpreted."""
    assert notify.ready(environ={"NOTIFY_SOCKET": "vsock:2:1234"}) is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "garbage"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    """The keep-alive interval is half of WATCHDOG_USEC, and only for the supervised pid."""
    assert notify.watchdog_interval_s(environ=env) == expected


def test_extend_timeout_asks_for_microseconds(
    listener: tuple[socket.socket, dict[str, str]],
) -> None:
    """extend_timeout() sends EXTEND_TIMEOUT_USEC in whole microseconds."""
    sock, env = listener
    assert notify.extend_timeout(32.5, environ=env)
    assert sock.recv(4096) == b"EXTEND_TIMEOUT_USEC=32500000"


def test_a_full_notify_socket_never_blocks_the_sender(
    listener: tuple[socket.socket, dict[str, str]],
) -> None:
    """A receiver that does not read (its queue full) makes notify() return False at once,
    never wait: the delivery loop must not hang on systemd."""
    sock, env = listener
    results = [notify.status(f"beat {n}", environ=env) for n in range(200)]
    assert results[0] is True
    assert results[-1] is False
    received = 0
    sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            sock.recv(4096)
            received += 1
    assert received == results.count(True) < 200
