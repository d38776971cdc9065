"""pumpsim's servers: the simulator on a pseudo-terminal and/or a TCP port, plus a control socket.

One single-threaded loop serves every endpoint; the simulator and its clock live as long as the
process, so clients may come and go (a closed pty reads EIO: the client is gone, the next one is
served) and all of them see one pump. Replies leave after the wire time their bytes need at the
configured baud. The control socket takes one line per request (``fault KIND[@WHEN]``, ``state``)
and answers one line.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import json
import os
import selectors
import socket
import termios
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from pumpctl.errors import ConfigError

from .personality import Simulator

log = structlog.get_logger()
_IDLE_POLL_S = 0.02  # how often time-driven pump events (safe-mode alarms) are looked at
_READ_SIZE = 4096
#: termios speed constants -> baud, for the rates the simulated pumps support.
_SPEEDS = {
    getattr(termios, f"B{baud}"): baud
    for baud in (300, 1200, 2400, 9600, 19200, 38400, 57600, 115200)
}


class Endpoint(Protocol):
    """One byte stream to a client (pty or TCP)."""

    def fileno(self) -> int | None:
        """The descriptor to wait on, or None while no client is there."""
        ...

    def read(self) -> bytes | None:
        """Bytes from the client; None when the client is gone."""
        ...

    def write(self, data: bytes) -> None:
        """Send to the client; dropped when none is there (as into an unplugged cable)."""
        ...

    def idle(self) -> bytes:
        """Called each loop turn: look for a client; returns bytes it sent on arrival."""
        ...

    def close(self) -> None: ...


class PtyEndpoint:
    """A raw-mode pseudo-terminal; ``link`` is a stable symlink to its slave device."""

    def __init__(self, link: str | Path | None = None, *, baud: int | None = None) -> None:
        self.baud = baud
        self._mismatch_reported = False
        self.master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line buffering: bytes pass as on a serial line
        self.device = os.ttyname(slave)
        os.close(slave)  # only clients hold the slave: its last close shows as EIO here
        os.set_blocking(self.master, False)
        self.link = Path(link) if link is not None else None
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.device)
            tmp.replace(self.link)  # atomic: a client never sees a missing or stale link
        self.connected = False

    def fileno(self) -> int | None:
        return self.master if self.connected else None

    def idle(self) -> bytes:
        if self.connected:
            return b""
        try:
            data = os.read(self.master, _READ_SIZE)
        except BlockingIOError:
            data = b""
        except OSError as err:
            if err.errno == errno.EIO:
                return b""  # nobody holds the slave side: no client yet
            raise
        self.connected = True
        self._mismatch_reported = False
        log.info("pumpsim.client.connected", endpoint=self.device)
        return self._heard(data)

    def client_baud(self) -> int | None:
        """The line speed the client set on its side of the pty (a pty shares its termios)."""
        speed = termios.tcgetattr(self.master)[5]
        return _SPEEDS.get(speed)

    def _heard(self, data: bytes) -> bytes:
        """What the pump makes of ``data``: nothing when the client's baud rate is wrong."""
        client = self.client_baud()
        if self.baud is None or client is None or client == self.baud or not data:
            return data
        if not self._mismatch_reported:
            self._mismatch_reported = True
            log.warning("pumpsim.baud.mismatch", client_baud=client, pump_baud=self.baud)
        return b""  # framing errors: the pump understands nothing, so it answers nothing

    def read(self) -> bytes | None:
        try:
            return self._heard(os.read(self.master, _READ_SIZE))
        except BlockingIOError:
            return b""
        except OSError as err:
            if err.errno != errno.EIO:
                raise
            self.connected = False
            log.info("pumpsim.client.gone", endpoint=self.device)
            return None

    def write(self, data: bytes) -> None:
        if self.connected:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self.master, data)

    def close(self) -> None:
        os.close(self.master)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()


class TcpEndpoint:
    """A TCP listener serving one client at a time (a serial line has one far end)."""

    def __init__(self, host: str, port: int) -> None:
        self.listener = socket.create_server((host, port))
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()
        self.client: socket.socket | None = None

    def fileno(self) -> int | None:
        return self.client.fileno() if self.client is not None else None

    def idle(self) -> bytes:
        if self.client is None:
            try:
                self.client, peer = self.listener.accept()
            except BlockingIOError:
                return b""
            self.client.setblocking(False)
            self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            log.info("pumpsim.client.connected", peer=str(peer))
        return b""

    def read(self) -> bytes | None:
        if self.client is None:
            return None
        try:
            data = self.client.recv(_READ_SIZE)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            self.client.close()
            self.client = None
            log.info("pumpsim.client.gone")
            return None
        return data

    def write(self, data: bytes) -> None:
        if self.client is not None:
            with contextlib.suppress(OSError):
                self.client.sendall(data)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.listener.close()


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    endpoint: Endpoint = field(compare=False)
    data: bytes = field(compare=False)


class PumpServer:
    """Serves ``sim`` on ``endpoints`` until ``stop`` is set."""

    def __init__(
        self,
        sim: Simulator,
        endpoints: list[Endpoint],
        *,
        control_path: str | Path | None = None,
    ) -> None:
        self.sim = sim
        self.endpoints = endpoints
        self.stop = threading.Event()
        self._due: list[_Due] = []
        self._wire_free_at: dict[int, float] = {}
        self._seq = 0
        self._control: socket.socket | None = None
        self.control_path = Path(control_path) if control_path is not None else None
        if self.control_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.control_path.unlink()
            self._control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._control.bind(str(self.control_path))
            self.control_path.chmod(0o600)
            self._control.listen()
            self._control.setblocking(False)

    def _queue(self, endpoint: Endpoint, outgoing: list[tuple[bytes, float]]) -> None:
        now = time.monotonic()
        for data, delay_s in outgoing:
            # One wire per endpoint: a reply starts only when the one before it has gone out.
            start = max(now, self._wire_free_at.get(id(endpoint), now))
            self._wire_free_at[id(endpoint)] = start + delay_s
            self._seq += 1
            heapq.heappush(self._due, _Due(start + delay_s, self._seq, endpoint, data))

    def _flush_due(self) -> None:
        now = time.monotonic()
        while self._due and self._due[0].at <= now:
            item = heapq.heappop(self._due)
            item.endpoint.write(item.data)

    def serve_forever(self) -> None:
        """Run the loop; returns when ``stop`` is set."""
        with selectors.DefaultSelector() as selector:
            while not self.stop.is_set():
                self._turn(selector)
        for endpoint in self.endpoints:
            endpoint.close()
        if self._control is not None:
            self._control.close()
            if self.control_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.control_path.unlink()

    def _turn(self, selector: selectors.BaseSelector) -> None:
        for endpoint in self.endpoints:
            self._receive(endpoint, endpoint.idle())
        for key in list(selector.get_map().values()):
            selector.unregister(key.fileobj)
        for endpoint in self.endpoints:
            fd = endpoint.fileno()
            if fd is not None:
                selector.register(fd, selectors.EVENT_READ, endpoint)
        if self._control is not None:
            selector.register(self._control, selectors.EVENT_READ, None)
        timeout = _IDLE_POLL_S
        if self._due:
            timeout = max(0.0, min(timeout, self._due[0].at - time.monotonic()))
        for key, _ in selector.select(timeout):
            if key.data is None:
                self._serve_control()
                continue
            self._receive(key.data, key.data.read())
        unprompted = self.sim.poll()
        for endpoint in self.endpoints:
            if endpoint.fileno() is not None:
                self._queue(endpoint, [(o.data, o.delay_s) for o in unprompted])
        self._flush_due()

    def _receive(self, endpoint: Endpoint, data: bytes | None) -> None:
        if data is None:
            # The client is gone: its half-sent command and undelivered replies must not reach
            # the next client as if they were its own.
            self._due = [d for d in self._due if d.endpoint is not endpoint]
            heapq.heapify(self._due)
            self.sim.reset_line()
            return
        if data:
            out = self.sim.receive(data, time.monotonic())
            self._queue(endpoint, [(o.data, o.delay_s) for o in out])

    def _serve_control(self) -> None:
        assert self._control is not None  # noqa: S101 - registered only when the socket exists
        try:
            conn, _ = self._control.accept()
        except BlockingIOError:
            return
        with conn:
            conn.settimeout(1.0)
            try:
                request = conn.recv(4096).decode("utf-8", "replace").strip()
            except OSError:
                return
            conn.sendall((self.handle_control(request) + "\n").encode("utf-8"))

    def handle_control(self, request: str) -> str:
        """Answer one control request (``fault SPEC`` or ``state``) with one line."""
        verb, _, arg = request.partition(" ")
        if verb == "fault":
            try:
                self.sim.inject(arg.strip())
            except ConfigError as err:
                return f"error {err}"
            return "ok"
        if verb == "state":
            return json.dumps(self.sim.describe(), sort_keys=True)
        return f"error unknown request {verb!r}; allowed: fault KIND[@WHEN], state"
