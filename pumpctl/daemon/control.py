"""The daemon's local control socket (SR-23): a Unix stream socket served by a background thread.

No network listener exists. Each request is validated (control_protocol) before it reaches the
handler together with the peer's kernel-verified identity (``SO_PEERCRED``), which the daemon
journals with every action. Garbage, oversized, unknown or failing requests get an error reply
and the server thread keeps serving (SR-24).

The handler runs on the server thread: it must be safe to call alongside the delivery loop (for
example by taking the daemon's state lock, or by posting to its queue and waiting).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog

from pumpctl.daemon.control_protocol import (
    CODE_BUSY,
    CODE_INTERNAL,
    CODE_REFUSED,
    CODE_TOO_LARGE,
    MAX_REQUEST_BYTES,
    RequestError,
    encode_reply,
    error_reply,
    parse_request,
)
from pumpctl.errors import ControlError, PumpctlError

_log = structlog.get_logger()

#: Requests that only read the daemon's state.
_READING = frozenset({"status", "alarms"})
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_MAX_PENDING_REPLY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class _Deferred:
    cmd: str
    future: Future[dict[str, Any]]


@dataclass(frozen=True)
class PeerCred:
    """Who is on the other end of a control connection, as the kernel saw it at connect()."""

    pid: int
    uid: int
    gid: int

    @property
    def user_name(self) -> str | None:
        """The login name of ``uid`` on this host, if it has one."""
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return None

    def __str__(self) -> str:
        name = self.user_name
        who = f"{name} " if name else ""
        return f"{who}(uid={self.uid} gid={self.gid} pid={self.pid})"


#: A handler answers at once, or hands back a future the server watches (the server thread never
#: blocks on it). A future not done within the server's ``reply_timeout_s`` is cancelled; if it
#: cannot be (already running) the server keeps waiting for it.
Handler = Callable[[dict[str, Any], PeerCred], "dict[str, Any] | Future[dict[str, Any]]"]


@dataclass
class _Conn:
    sock: socket.socket
    peer: PeerCred
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    #: When the current request window opened: at accept, then at each reply. Bytes that do
    #: not complete a request never move it, so trickling cannot keep a connection alive.
    window_s: float = field(default_factory=time.monotonic)
    #: Whether a request was ever completed on this connection.
    answered: bool = False
    closing: bool = False
    #: The client closed its sending side; its last answer is still owed.
    eof: bool = False
    waiting: Future[dict[str, Any]] | None = None
    waiting_cmd: str = ""
    waiting_since_s: float = 0.0


class ControlServer:
    """Serve ``handler`` on a Unix socket at ``path`` until :meth:`stop`; a context manager."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        handler: Handler,
        *,
        mode: int = 0o660,
        group: str | int | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        max_connections: int = 16,
        idle_timeout_s: float = 30.0,
        max_per_peer: int | None = None,
        request_grace_s: float = 2.0,
        reply_timeout_s: float = 6.0,
    ) -> None:
        self.path = Path(path)
        self._handler = handler
        self._mode = mode
        self._group = group
        self._max_request_bytes = max_request_bytes
        self._max_connections = max_connections
        self._idle_timeout_s = idle_timeout_s
        #: Connections one user (uid) may hold at once.
        self._max_per_peer = max_per_peer or max(1, max_connections // 4)
        self._request_grace_s = request_grace_s
        self._reply_timeout_s = reply_timeout_s
        self._listener: socket.socket | None = None
        # Created here so it is never None; a server is started (and stopped) once.
        self._selector: selectors.BaseSelector = selectors.DefaultSelector()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._conns: dict[int, _Conn] = {}

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the socket (mode and group set before it appears) and start serving."""
        if self._thread is not None:
            return
        try:
            self._remove_stale_socket()
            self._listener = self._bind()
        except ControlError:
            self._selector.close()
            raise
        self._listener.setblocking(False)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="pumpctl-control", daemon=True)
        self._thread.start()
        _log.info("control.listening", socket_path=str(self.path), mode=oct(self._mode))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving, close every connection and remove the socket file."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        thread.join(timeout_s)
        if thread.is_alive():
            # A handler is stuck; closing its sockets under it is the lesser evil at shutdown.
            _log.warning("control.stop_timeout", timeout_s=timeout_s)
        for conn in list(self._conns.values()):
            conn.sock.close()
        self._conns.clear()
        self._selector.close()
        if self._listener is not None:
            self._listener.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        _log.info("control.stopped", socket_path=str(self.path))

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _remove_stale_socket(self) -> None:
        """Remove a socket file left by a dead daemon; refuse if someone still listens on it."""
        if not self.path.exists() and not self.path.is_symlink():
            return
        if not self.path.is_socket():
            raise ControlError(
                f"control socket path {self.path} exists and is not a socket; "
                "refusing to replace it"
            )
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(str(self.path))
        except (ConnectionRefusedError, FileNotFoundError):
            _log.info("control.stale_socket_removed", socket_path=str(self.path))
            self.path.unlink(missing_ok=True)
            return
        except OSError as err:
            raise ControlError(f"cannot probe existing control socket {self.path}: {err}") from err
        finally:
            probe.close()
        raise ControlError(
            f"control socket {self.path} is in use by a running process; is another pumpctl "
            "daemon using the same socket path?"
        )

    def _bind(self) -> socket.socket:
        """Bind under a temporary name, set mode and group, then rename into place.

        Invariant: the socket never exists at ``path`` with looser permissions than ``mode``.
        """
        gid = _resolve_group(self._group)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(str(tmp))
            os.chmod(tmp, self._mode)
            if gid is not None:
                os.chown(tmp, -1, gid)
            sock.listen(self._max_connections)
            os.rename(tmp, self.path)
        except OSError as err:
            sock.close()
            tmp.unlink(missing_ok=True)
            raise ControlError(
                f"cannot create control socket {self.path}: {err.strerror or err} (the directory "
                "must exist and be writable by the daemon's user; group must be one it belongs to)"
            ) from err
        return sock

    # -- the server thread -----------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready = self._selector.select(timeout=min(1.0, self._idle_timeout_s / 2))
            for key, events in ready:
                try:
                    if isinstance(key.fileobj, socket.socket) and key.data is None:
                        self._accept(key.fileobj)
                    elif key.fileobj == self._wake_r:
                        os.read(self._wake_r, 64)
                    else:
                        self._service(key.data, events)
                except Exception:
                    # Invariant: nothing a client sends stops the control thread (SR-24); the
                    # connection that caused it is dropped so it cannot fail again and again.
                    _log.exception("control.loop_error")
                    if isinstance(key.data, _Conn):
                        self._close(key.data)
            self._settle_waiting()
            self._flush_all()
            self._reap_idle()

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            # Out of file descriptors or memory: the pending client stays queued; pause briefly
            # rather than spin on a listener that stays readable.
            _log.warning("control.accept_failed", error=str(err))
            time.sleep(0.1)
            return
        sock.setblocking(False)
        pid, uid, gid = _PEERCRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        )
        conn = _Conn(sock=sock, peer=PeerCred(pid=pid, uid=uid, gid=gid))
        if not self._make_room(conn.peer):
            _log.warning("control.too_many_connections", peer=str(conn.peer))
            conn.outbox += encode_reply(error_reply(CODE_BUSY, "too many control connections"))
            conn.closing = True
        self._conns[sock.fileno()] = conn
        self._watch(conn)

    def _make_room(self, peer: PeerCred) -> bool:
        """Room for a new connection of ``peer``, closing one to make it if need be.

        Invariant: connections that trickle bytes or say nothing cannot lock other clients
        out. A user at its cap gives up its own oldest connection; a full server gives up a
        connection that has not completed a request within ``request_grace_s`` (a trickler
        or a silent one); a user at its cap only gives up such a connection of its own. A
        connection whose request the daemon is carrying out, or that completes its requests,
        is never closed to make room. Otherwise the new connection is told the server is busy.
        """
        now = time.monotonic()
        open_conns = [c for c in self._conns.values() if not c.closing]
        own = [c for c in open_conns if c.peer.uid == peer.uid]
        stalled = [
            c
            for c in open_conns
            if c.waiting is None
            and now - c.window_s > self._request_grace_s
            and (c.inbox or not c.answered)
        ]
        if len(own) >= self._max_per_peer:
            candidates = [c for c in stalled if c.peer.uid == peer.uid]
            why = (
                f"uid {peer.uid} holds {self._max_per_peer} control connections and this one "
                f"completed no request within {self._request_grace_s:g} s"
            )
        elif len(open_conns) >= self._max_connections:
            candidates = stalled
            why = (
                f"the server was full and this connection completed no request within "
                f"{self._request_grace_s:g} s"
            )
        else:
            return True
        if not candidates:
            return False
        victim = min(candidates, key=lambda c: c.window_s)
        _log.warning("control.connection_evicted", peer=str(victim.peer), why=why)
        victim.outbox += encode_reply(error_reply(CODE_BUSY, f"connection closed: {why}"))
        victim.inbox.clear()
        victim.closing = True
        self._watch(victim)
        return True

    def _service(self, conn: _Conn, events: int) -> None:
        if events & selectors.EVENT_READ and not conn.closing:
            self._read(conn)
        if events & selectors.EVENT_WRITE or conn.outbox:
            self._flush(conn)
        if conn.sock.fileno() in self._conns:
            if conn.closing and not conn.outbox:
                self._close(conn)
            else:
                self._watch(conn)

    def _read(self, conn: _Conn) -> None:
        try:
            chunk = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            conn.closing, conn.outbox = True, bytearray()
            return
        if not chunk:
            # End of input: a last request without its newline is still answered (the
            # client may have shut down only its sending side and still read the reply).
            last = conn.waiting is None and conn.inbox.strip()
            if last and len(conn.inbox) <= self._max_request_bytes:
                conn.inbox += b"\n"
                self._drain(conn)
            conn.inbox.clear()
            conn.eof = True
            conn.closing = conn.waiting is None
            return
        conn.inbox += chunk
        self._drain(conn)

    def _drain(self, conn: _Conn) -> None:
        """Answer the complete request lines in ``conn``'s inbox, one at a time."""
        while not conn.closing and conn.waiting is None:
            end = conn.inbox.find(b"\n")
            if end < 0:
                if len(conn.inbox) > self._max_request_bytes:
                    self._refuse_oversized(conn)
                return
            if end + 1 > self._max_request_bytes:
                self._refuse_oversized(conn)
                return
            line = bytes(conn.inbox[:end])
            del conn.inbox[: end + 1]
            if line.strip():
                self._reply(conn, self._answer(line, conn.peer))

    def _reply(self, conn: _Conn, answer: dict[str, Any] | _Deferred) -> None:
        if isinstance(answer, _Deferred):
            conn.waiting, conn.waiting_cmd = answer.future, answer.cmd
            conn.waiting_since_s = time.monotonic()
            answer.future.add_done_callback(lambda _f: self._poke())
            return
        conn.outbox += encode_reply(answer)
        conn.answered = True
        conn.window_s = time.monotonic()

    def _poke(self) -> None:
        # From the loop thread: wake the selector so the finished reply goes out now.
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"r")

    def _settle_waiting(self) -> None:
        """Send the replies the loop finished; refuse (cancel) those it did not take in time."""
        now = time.monotonic()
        for conn in list(self._conns.values()):
            future = conn.waiting
            if future is None:
                continue
            if not future.done() and now - conn.waiting_since_s > self._reply_timeout_s:
                # Invariant (SR-29): cancelled here means never carried out by the loop; if
                # the loop already took it, the reply follows once it is done.
                future.cancel()
            if not future.done():
                continue
            conn.waiting = None
            self._reply(conn, self._finished(conn.waiting_cmd, future, conn.peer))
            self._drain(conn)
            if conn.eof and conn.waiting is None:
                conn.closing = True
            if conn.sock.fileno() in self._conns:
                self._watch(conn)

    def _refuse_oversized(self, conn: _Conn) -> None:
        _log.warning(
            "control.request_too_large", peer=str(conn.peer), limit=self._max_request_bytes
        )
        message = f"request longer than {self._max_request_bytes} bytes; connection closed"
        conn.outbox += encode_reply(error_reply(CODE_TOO_LARGE, message))
        conn.inbox.clear()
        conn.closing = True

    def _answer(self, line: bytes, peer: PeerCred) -> dict[str, Any] | _Deferred:
        try:
            request = parse_request(line)
        except RequestError as err:
            _log.warning("control.bad_request", peer=str(peer), code=err.code, error=str(err))
            return error_reply(err.code, str(err))
        cmd = request["cmd"]
        # Reading requests (a status poll every few seconds) are chatter; actions are not.
        log_request = _log.debug if cmd in _READING else _log.info
        log_request("control.request", cmd=cmd, peer_uid=peer.uid, peer_pid=peer.pid)
        try:
            answer = self._handler(request, peer)
        except Exception as err:
            return self._failure(cmd, peer, err)
        if isinstance(answer, Future):
            return _Deferred(cmd, answer)
        return self._ok(cmd, peer, answer)

    def _finished(self, cmd: str, future: Future[dict[str, Any]], peer: PeerCred) -> dict[str, Any]:
        if future.cancelled():
            _log.warning("control.cancelled", cmd=cmd, peer=str(peer))
            return error_reply(
                CODE_BUSY,
                f"{cmd} refused and not carried out: the daemon did not take it within "
                f"{self._reply_timeout_s:g} s; try again",
            )
        err = future.exception()
        if err is not None:
            return self._failure(cmd, peer, err)
        return self._ok(cmd, peer, future.result())

    def _failure(self, cmd: str, peer: PeerCred, err: BaseException) -> dict[str, Any]:
        if isinstance(err, PumpctlError):
            _log.warning("control.refused", cmd=cmd, peer=str(peer), error=str(err))
            return error_reply(CODE_REFUSED, str(err))
        _log.error("control.handler_failed", cmd=cmd, peer=str(peer), error=repr(err))
        message = f"internal error handling {cmd!r}: {type(err).__name__}: {err}"
        return error_reply(CODE_INTERNAL, message)

    def _ok(self, cmd: str, peer: PeerCred, result: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = {"ok": True, **result}
            encode_reply(reply)  # refuse here, not mid-write, a reply JSON cannot carry
        except Exception as err:
            return self._failure(cmd, peer, err)
        return reply

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.outbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            # The client went away; its replies have nowhere to go.
            conn.outbox.clear()
            conn.closing = True
            return
        del conn.outbox[:sent]

    def _flush_all(self) -> None:
        for conn in list(self._conns.values()):
            if conn.outbox:
                self._flush(conn)
            if conn.sock.fileno() not in self._conns:
                continue
            if conn.closing and not conn.outbox and conn.waiting is None:
                self._close(conn)
            else:
                self._watch(conn)

    def _reap_idle(self) -> None:
        """Close connections that completed no request within ``idle_timeout_s`` of their
        window opening; a connection waiting for the daemon's answer is kept."""
        deadline = time.monotonic() - self._idle_timeout_s
        for conn in list(self._conns.values()):
            if conn.waiting is None and conn.window_s < deadline:
                _log.info("control.idle_closed", peer=str(conn.peer), partial=bool(conn.inbox))
                self._close(conn)

    def _close(self, conn: _Conn) -> None:
        self._conns.pop(conn.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)
        conn.sock.close()

    @staticmethod
    def _interest(conn: _Conn) -> int:
        events = selectors.EVENT_WRITE if conn.outbox else 0
        # Back-pressure: a client that sends without reading its replies is not read further
        # until it catches up, so it cannot make the daemon buffer without bound; nor is one
        # whose request the daemon is still carrying out, beyond one request's worth.
        readable = not conn.closing and not conn.eof
        if readable and len(conn.outbox) < _MAX_PENDING_REPLY_BYTES:
            events |= selectors.EVENT_READ
        if conn.waiting is not None and len(conn.inbox) > _MAX_PENDING_REPLY_BYTES:
            events &= ~selectors.EVENT_READ
        if not events and conn.closing:
            events = selectors.EVENT_WRITE  # the next pass closes it
        return events

    def _watch(self, conn: _Conn) -> None:
        """(Re)register ``conn`` for what it waits for; nothing at all while it only waits for
        the daemon's answer after its client closed its side."""
        events = self._interest(conn)
        registered = self._registered(conn)
        if not events:
            if registered:
                self._selector.unregister(conn.sock)
            return
        if registered:
            self._selector.modify(conn.sock, events, conn)
        else:
            self._selector.register(conn.sock, events, conn)

    def _registered(self, conn: _Conn) -> bool:
        try:
            self._selector.get_key(conn.sock)
        except (KeyError, ValueError):
            return False
        return True


def _resolve_group(group: str | int | None) -> int | None:
    if group is None or isinstance(group, int):
        return group
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError as err:
        raise ControlError(f"control socket group {group!r} does not exist on this host") from err


__all__ = ["ControlServer", "Handler", "PeerCred"]
