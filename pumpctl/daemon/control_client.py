"""Client side of the control socket: what ``pumpctl status``, ``ack`` and friends use.

Failures become one :class:`~pumpctl.errors.ControlError` with a message an operator can act on
(daemon not running, socket missing, permission denied, request refused).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from pumpctl.daemon.control_wire import MAX_REQUEST_BYTES, encode_reply
from pumpctl.errors import ControlError

#: A reply (status with every alarm listed) is far below this; more means a confused peer.
MAX_REPLY_BYTES = 4 * 1024 * 1024


class ControlRefusedError(ControlError):
    """The daemon answered ``{"ok": false}``; ``reply`` holds its answer, ``code`` its code."""

    def __init__(self, cmd: str, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.code = str(reply.get("code", ""))
        super().__init__(f"{cmd}: {reply.get('error', 'refused by the daemon')}")


class ControlClient:
    """Send one request per call over a fresh connection to the daemon at ``path``."""

    def __init__(self, path: str | os.PathLike[str], timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send ``{"cmd": cmd, **args}``; return the reply, or raise if it is not ``ok``."""
        reply = self.request_raw({"cmd": cmd, **args})
        if reply.get("ok") is not True:
            raise ControlRefusedError(cmd, reply)
        return reply

    def request_raw(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request object and return the daemon's reply object as it came."""
        line = encode_reply(request)
        if len(line) > MAX_REQUEST_BYTES:
            raise ControlError(f"request is {len(line)} bytes; the limit is {MAX_REQUEST_BYTES}")
        with self._connect() as sock:
            try:
                # The daemon may refuse a connection (busy) before reading it; its reply is
                # still waiting in the socket and says why.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(line)
                raw = self._read_line(sock)
            except TimeoutError as err:
                raise ControlError(
                    f"the daemon at {self.path} did not answer within {self.timeout_s} s"
                ) from err
            except OSError as err:
                raise ControlError(f"connection to {self.path} failed: {err}") from err
        try:
            reply = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ControlError(f"the daemon at {self.path} sent an unreadable reply") from err
        if not isinstance(reply, dict):
            raise ControlError(f"the daemon at {self.path} sent a reply that is not an object")
        return reply

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(self.timeout_s)
        try:
            sock.connect(str(self.path))
        except FileNotFoundError as err:
            sock.close()
            raise ControlError(
                f"no control socket at {self.path}: is the pumpctl daemon running? "
                "(systemctl status pumpctl; or pass --socket / -c)"
            ) from err
        except ConnectionRefusedError as err:
            sock.close()
            raise ControlError(
                f"nothing listens on {self.path}: the pumpctl daemon is not running"
            ) from err
        except PermissionError as err:
            sock.close()
            raise ControlError(
                f"permission denied on {self.path}: run as a member of the daemon's group "
                "(e.g. sudo usermod -aG pumpctl-operators $USER, then log in again)"
            ) from err
        except OSError as err:
            sock.close()
            raise ControlError(f"cannot connect to {self.path}: {err}") from err
        return sock

    def _read_line(self, sock: socket.socket) -> bytes:
        buffer = bytearray()
        while b"\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ControlError(f"the daemon at {self.path} closed the connection without reply")
            buffer += chunk
            if len(buffer) > MAX_REPLY_BYTES:
                raise ControlError(f"reply from {self.path} exceeds {MAX_REPLY_BYTES} bytes")
        return bytes(buffer[: buffer.index(b"\n")])
