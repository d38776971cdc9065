"""Control socket over real Unix sockets: replies, peer identity, permissions, bad input."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from pumpctl.daemon import control
from pumpctl.daemon.control import ControlServer, PeerCred
from pumpctl.daemon.control_client import ControlClient, ControlRefusedError
from pumpctl.errors import ControlError, PumpctlError

Calls = list[tuple[dict[str, Any], PeerCred]]


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short directory for sockets (sun_path is limited to 108 bytes)."""
    with tempfile.TemporaryDirectory(prefix="pc") as tmp:
        yield Path(tmp)


def _recording_handler(calls: Calls) -> Callable[[dict[str, Any], PeerCred], dict[str, Any]]:
    def handler(request: dict[str, Any], peer: PeerCred) -> dict[str, Any]:
        calls.append((request, peer))
        if request["cmd"] == "ack" and request["alarm_id"] == "boom":
            raise RuntimeError("handler bug")
        if request["cmd"] == "ack" and request["alarm_id"] == "unknown":
            raise PumpctlError("alarm_id: no alarm 'unknown' is active")
        return {"echo": request["cmd"]}

    return handler


@pytest.fixture
def calls() -> Calls:
    return []


@pytest.fixture
def server(sock_dir: Path, calls: Calls) -> Iterator[ControlServer]:
    with ControlServer(sock_dir / "control.sock", _recording_handler(calls)) as srv:
        yield srv


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5.0)
    sock.connect(str(path))
    return sock


def _exchange(sock: socket.socket, payload: bytes) -> dict[str, Any]:
    sock.sendall(payload)
    return _read_reply(sock)


def _read_reply(sock: socket.socket) -> dict[str, Any]:
    buffer = b""
    while not buffer.endswith(b"\n"):
        chunk = sock.recv(65536)
        assert chunk, "server closed the connection without a reply"
        buffer += chunk
    reply = json.loads(buffer)
    assert isinstance(reply, dict)
    return reply


def test_request_reaches_handler_with_peer_credentials(server: ControlServer, calls: Calls) -> None:
    """SR-23: the handler gets the validated request and the caller's pid, uid and gid."""
    reply = ControlClient(server.path).request("suspend", reason="line change")
    assert reply == {"ok": True, "echo": "suspend"}
    request, peer = calls[0]
    assert request == {"cmd": "suspend", "reason": "line change"}
    assert peer == PeerCred(pid=os.getpid(), uid=os.getuid(), gid=os.getgid())


def test_socket_mode_is_0660_and_group_applied(sock_dir: Path, calls: Calls) -> None:
    """SR-23: the socket is created with mode 0660 and the configured group."""
    path = sock_dir / "c.sock"
    with ControlServer(path, _recording_handler(calls), group=os.getgid()):
        info = path.stat()
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o660
        assert info.st_gid == os.getgid()
    assert not path.exists(), "stop() removes the socket file"


def test_unknown_group_is_a_clear_error(sock_dir: Path, calls: Calls) -> None:
    """A group name that does not exist is refused naming the group."""
    server = ControlServer(sock_dir / "c.sock", _recording_handler(calls), group="no-such-grp-x")
    with pytest.raises(ControlError, match="group 'no-such-grp-x' does not exist"):
        server.start()


def test_garbage_gets_errors_and_connection_keeps_working(
    server: ControlServer, calls: Calls
) -> None:
    """SR-24: bad JSON, non-objects, unknown commands and bad arguments get error replies."""
    with _connect(server.path) as sock:
        for payload, code in [
            (b"hello\n", "bad-json"),
            (b"\xff\xfe\n", "bad-json"),
            (b"[1, 2]\n", "bad-request"),
            (b'{"cmd": "selfdestruct"}\n', "unknown-cmd"),
            (b'{"cmd": "silence", "alarm_id": "x", "minutes": "ten"}\n', "invalid-args"),
        ]:
            reply = _exchange(sock, payload)
            assert reply["ok"] is False
            assert reply["code"] == code
            assert reply["error"]
        assert _exchange(sock, b'{"cmd": "status"}\n') == {"ok": True, "echo": "status"}
    assert [request["cmd"] for request, _ in calls] == ["status"], "garbage never reaches handler"


def test_request_split_across_writes_and_pipelined(server: ControlServer) -> None:
    """A request split over several writes, and two requests in one write, are both answered."""
    with _connect(server.path) as sock:
        sock.sendall(b'{"cmd": "sta')
        assert _exchange(sock, b'tus"}\n') == {"ok": True, "echo": "status"}
        sock.sendall(b'{"cmd": "alarms"}\n{"cmd": "status"}\n')
        lines = b""
        while lines.count(b"\n") < 2:
            lines += sock.recv(65536)
        assert [json.loads(line)["echo"] for line in lines.splitlines()] == ["alarms", "status"]


def test_oversized_request_is_refused_and_server_survives(server: ControlServer) -> None:
    """SR-24: a request over 64 KiB gets a too-large error, is closed, and the server lives on."""
    with _connect(server.path) as sock:
        # The server may close before the whole flood is written.
        with contextlib.suppress(BrokenPipeError):
            sock.sendall(b"x" * (70 * 1024))
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        assert json.loads(reply)["code"] == "too-large"
    assert ControlClient(server.path).request("status")["ok"] is True


def test_handler_errors_become_error_replies(server: ControlServer) -> None:
    """SR-24: a refused action and a crashing handler each give an error reply; serving goes on."""
    client = ControlClient(server.path)
    with pytest.raises(ControlRefusedError, match="no alarm 'unknown'") as refused:
        client.request("ack", alarm_id="unknown", reason="r")
    assert refused.value.code == "refused"
    with pytest.raises(ControlRefusedError, match=r"internal error.*RuntimeError") as crashed:
        client.request("ack", alarm_id="boom", reason="r")
    assert crashed.value.code == "internal"
    assert client.request("status") == {"ok": True, "echo": "status"}


def test_concurrent_clients_are_all_served(sock_dir: Path, calls: Calls) -> None:
    """Several clients at once each get their own reply.

    All eight come from this test's uid, so the server allows eight per peer here: with the
    default per-peer cap (a quarter of the connections) a slow host would rightly answer some of
    them "busy" (that cap is tested in test_control_fairness.py).
    """
    results: list[dict[str, Any]] = []
    path = sock_dir / "c.sock"

    def ask() -> None:
        results.append(ControlClient(path).request("alarms"))

    with ControlServer(path, _recording_handler(calls), max_connections=16, max_per_peer=8):
        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert results == [{"ok": True, "echo": "alarms"}] * 8


def test_connections_beyond_the_limit_get_busy(sock_dir: Path, calls: Calls) -> None:
    """Connections beyond max_connections are told the server is busy; held ones still work."""
    path = sock_dir / "c.sock"
    with ControlServer(path, _recording_handler(calls), max_connections=1), _connect(path) as held:
        assert _exchange(held, b'{"cmd": "status"}\n')["ok"] is True
        with _connect(path) as extra:
            # The server answers "busy" straight away and closes; nothing needs to be sent.
            assert _read_reply(extra)["code"] == "busy"
        with pytest.raises(ControlRefusedError, match="too many control connections"):
            ControlClient(path).request("status")


def test_idle_connection_is_closed(sock_dir: Path, calls: Calls) -> None:
    """A client that connects and says nothing is disconnected after the idle timeout."""
    path = sock_dir / "c.sock"
    with ControlServer(path, _recording_handler(calls), idle_timeout_s=0.2), _connect(path) as s:
        assert s.recv(1) == b""


def test_stale_socket_is_replaced(sock_dir: Path, calls: Calls) -> None:
    """A socket file left by a dead daemon is removed at start."""
    path = sock_dir / "c.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    with ControlServer(path, _recording_handler(calls)):
        assert ControlClient(path).request("status")["ok"] is True


def test_live_socket_is_not_stolen(server: ControlServer, calls: Calls) -> None:
    """A second server refuses to take over a socket someone is listening on."""
    with pytest.raises(ControlError, match="in use by a running process"):
        ControlServer(server.path, _recording_handler(calls)).start()
    assert ControlClient(server.path).request("status")["ok"] is True


def test_regular_file_is_not_replaced(sock_dir: Path, calls: Calls) -> None:
    """A regular file at the socket path is left alone and reported."""
    path = sock_dir / "c.sock"
    path.write_text("precious")
    with pytest.raises(ControlError, match="not a socket"):
        ControlServer(path, _recording_handler(calls)).start()
    assert path.read_text() == "precious"


def test_client_reports_missing_and_dead_daemon(sock_dir: Path) -> None:
    """The client says clearly when the socket is missing or nobody listens on it."""
    with pytest.raises(ControlError, match="is the pumpctl daemon running"):
        ControlClient(sock_dir / "absent.sock").request("status")
    dead_path = sock_dir / "dead.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(dead_path))
    dead.close()
    with pytest.raises(ControlError, match="daemon is not running"):
        ControlClient(dead_path).request("status")


def _request_as_nobody(path: Path) -> str:
    """Run one status request in a forked child that dropped to uid/gid 65534; its outcome."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no Python-level cleanup, straight _exit
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            outcome = repr(ControlClient(path, timeout_s=5).request("status"))
        except ControlError as err:
            outcome = f"ControlError: {err}"
        except BaseException as err:
            outcome = f"unexpected: {err!r}"
        os.write(write_fd, outcome.encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        outcome = pipe.read().decode()
    os.waitpid(pid, 0)
    return outcome


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_other_users_are_kept_out_by_mode(server: ControlServer, sock_dir: Path) -> None:
    """SR-23: a user outside the socket's owner and group is refused with a clear message."""
    os.chmod(sock_dir, 0o755)  # noqa: S103 -- the other user must be able to reach the socket
    assert _request_as_nobody(server.path).startswith("ControlError: permission denied")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_peer_uid_of_another_user_is_seen(sock_dir: Path, calls: Calls) -> None:
    """SR-23: the handler sees the real uid of a client running as another user."""
    os.chmod(sock_dir, 0o755)  # noqa: S103 -- the other user must be able to reach the socket
    path = sock_dir / "c.sock"
    with ControlServer(path, _recording_handler(calls), mode=0o666):
        outcome = _request_as_nobody(path)
    assert "'ok': True" in outcome, outcome
    assert calls[0][1].uid == 65534
    assert calls[0][1].gid == 65534


@pytest.mark.skipif(os.geteuid() == 0, reason="root bypasses file permissions")
def test_permission_denied_message(server: ControlServer) -> None:
    """SR-23: a caller without permission on the socket gets a clear message naming the group."""
    os.chmod(server.path, 0)
    with pytest.raises(ControlError, match=r"permission denied.*daemon's group"):
        ControlClient(server.path).request("status")


def test_client_that_does_not_read_cannot_stall_others(
    sock_dir: Path, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client pipelining requests without reading is paced, loses nothing and blocks no one."""
    monkeypatch.setattr(control, "_MAX_PENDING_REPLY_BYTES", 1024)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    count = 30_000  # replies well beyond what the kernel's socket buffers absorb
    path = sock_dir / "c.sock"
    try:
        with ControlServer(path, _recording_handler(calls)), _connect(path) as greedy:
            sender = threading.Thread(target=greedy.sendall, args=(b'{"cmd":"alarms"}\n' * count,))
            sender.start()
            assert ControlClient(path).request("status") == {"ok": True, "echo": "status"}
            # Paced: the server stopped reading, so the sender stays blocked until we read.
            sender.join(0.5)
            assert sender.is_alive()
            received = b""
            while received.count(b"\n") < count:
                chunk = greedy.recv(1 << 16)
                assert chunk, "server closed the pipelining client"
                received += chunk
            sender.join(10)
    finally:
        structlog.reset_defaults()
    assert received == b'{"ok":true,"echo":"alarms"}\n' * count


def test_peer_description_names_the_user() -> None:
    """A peer is described with its login name when the uid has one, for the journal."""
    me = PeerCred(pid=os.getpid(), uid=os.getuid(), gid=os.getgid())
    assert me.user_name is not None
    assert str(me) == f"{me.user_name} (uid={me.uid} gid={me.gid} pid={me.pid})"
    assert str(PeerCred(pid=1, uid=4_000_000, gid=1)) == "(uid=4000000 gid=1 pid=1)"


def test_last_request_without_newline_is_answered_at_end_of_input(server: ControlServer) -> None:
    """A client that half-closes after a request without a newline still gets its reply."""
    with _connect(server.path) as sock:
        sock.sendall(b'{"cmd": "alarms"}')
        sock.shutdown(socket.SHUT_WR)
        assert _read_reply(sock) == {"ok": True, "echo": "alarms"}
        assert sock.recv(1) == b""
