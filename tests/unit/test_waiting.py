"""The daemon's waiting: the real waker keeps systemd's watchdog fed while it sleeps."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from pumpctl.core.clock import SystemClock
from pumpctl.daemon.waiting import RealWaker


def test_long_sleep_feeds_the_watchdog_from_the_loop_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SR-15: a wait longer than WatchdogSec still sends WATCHDOG=1 at least twice per period."""
    path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(0.1)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # WatchdogSec=0.4 s
    waker = RealWaker(SystemClock())
    try:
        waker.sleep(1.0)
    finally:
        waker.close()
    messages = []
    while True:
        try:
            messages.append(server.recv(64))
        except TimeoutError:
            break
    server.close()
    assert messages.count(b"WATCHDOG=1") >= 1.0 / 0.2  # one per half period at least


def test_wake_ends_a_sleep_early() -> None:
    """A control request or signal wakes the loop at once instead of after its full sleep."""
    waker = RealWaker(SystemClock())
    try:
        waker.wake()
        started = time.monotonic()
        waker.sleep(60.0)
        # Functional, not a speed target: without the wake this would take the full minute.
        assert time.monotonic() - started < 30.0
    finally:
        waker.close()
