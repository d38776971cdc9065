"""The control socket under slow, silent and waiting clients: nobody locks anyone out, and a
request is either carried out or refused, never both (SR-29)."""

from __future__ import annotations

import contextlib
import socket
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from pumpctl.daemon.control import ControlServer, PeerCred
from pumpctl.daemon.control_client import ControlClient
from tests.integration.test_control_socket import _connect, _exchange, _read_reply

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pf") as tmp:
        yield Path(tmp)


class Handler:
    """Answers status at once; every other command waits on a future the test controls."""

    def __init__(self) -> None:
        self.futures: list[Future[dict[str, Any]]] = []

    def __call__(
        self, request: dict[str, Any], _peer: PeerCred
    ) -> dict[str, Any] | Future[dict[str, Any]]:
        if request["cmd"] == "status":
            return {"state": "ready"}
        future: Future[dict[str, Any]] = Future()
        self.futures.append(future)
        return future


@pytest.mark.parametrize("per_peer", [None, 16])
def test_sixteen_trickling_clients_do_not_lock_others_out(
    sock_dir: Path, per_peer: int | None
) -> None:
    """SR-29: sixteen clients that send a byte now and then cannot keep a new client out,
    whether they come from one user (capped) or fill the whole server (the stalled give way)."""
    path = sock_dir / "c.sock"
    with ExitStack() as stack:
        server = ControlServer(path, Handler(), request_grace_s=0.3, max_per_peer=per_peer)
        stack.enter_context(server)
        tricklers = [stack.enter_context(_connect(path)) for _ in range(16)]
        for _ in range(3):
            for sock in tricklers:
                with contextlib.suppress(OSError):  # those told "busy" are gone
                    sock.sendall(b" ")
            time.sleep(0.15)
        reply = ControlClient(path, timeout_s=5).request("status")
        assert reply["state"] == "ready"


def test_trickling_does_not_reset_the_idle_timeout(sock_dir: Path) -> None:
    """SR-29: a connection that never completes a request is closed after the idle timeout,
    however often it sends a byte."""
    path = sock_dir / "c.sock"
    with ControlServer(path, Handler(), idle_timeout_s=0.6), _connect(path) as sock:
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 5:
            try:
                sock.sendall(b" ")
            except OSError:
                closed = True
                break
            sock.settimeout(0.1)
            try:
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed and time.monotonic() - started < 3


def test_one_user_at_its_cap_is_told_busy_while_others_still_get_in(sock_dir: Path) -> None:
    """SR-29: connections that complete requests are kept; a user at its cap gets busy."""
    path = sock_dir / "c.sock"
    with ExitStack() as stack:
        stack.enter_context(ControlServer(path, Handler(), max_connections=8, max_per_peer=2))
        held = [stack.enter_context(_connect(path)) for _ in range(2)]
        for sock in held:
            assert _exchange(sock, b'{"cmd":"status"}\n')["ok"] is True
        extra = stack.enter_context(_connect(path))
        assert _read_reply(extra)["code"] == "busy"
        assert _exchange(held[0], b'{"cmd":"status"}\n')["ok"] is True


def test_status_is_answered_while_an_action_waits_for_the_loop(sock_dir: Path) -> None:
    """SR-29: an action waiting for the delivery loop does not hold up status for others."""
    path = sock_dir / "c.sock"
    handler = Handler()
    with ControlServer(path, handler), _connect(path) as waiting:
        waiting.sendall(b'{"cmd":"suspend","reason":"site change"}\n')
        started = time.monotonic()
        assert ControlClient(path, timeout_s=5).request("status")["state"] == "ready"
        assert time.monotonic() - started < 1.0
        handler.futures[0].set_running_or_notify_cancel()
        handler.futures[0].set_result({"state": "suspended"})
        assert _read_reply(waiting) == {"ok": True, "state": "suspended"}


def test_a_request_the_loop_did_not_take_in_time_is_refused_and_cancelled(sock_dir: Path) -> None:
    """SR-29: a request not taken within the reply timeout is reported refused and is
    cancelled, so the loop can never carry it out afterwards."""
    path = sock_dir / "c.sock"
    handler = Handler()
    with ControlServer(path, handler, reply_timeout_s=0.3), _connect(path) as sock:
        reply = _exchange(sock, b'{"cmd":"suspend","reason":"site change"}\n')
        assert reply["ok"] is False and "not carried out" in reply["error"]
        future = handler.futures[0]
        assert future.cancelled()
        assert not future.set_running_or_notify_cancel()  # what the loop does: it skips it


def test_a_request_the_loop_took_is_answered_even_after_the_timeout(sock_dir: Path) -> None:
    """SR-29: once the loop has taken a request its real result is reported, late or not."""
    path = sock_dir / "c.sock"
    handler = Handler()
    with ControlServer(path, handler, reply_timeout_s=0.2), _connect(path) as sock:
        sock.sendall(b'{"cmd":"suspend","reason":"site change"}\n')
        while not handler.futures:
            time.sleep(0.01)
        assert handler.futures[0].set_running_or_notify_cancel()
        time.sleep(0.5)
        handler.futures[0].set_result({"state": "suspended"})
        assert _read_reply(sock) == {"ok": True, "state": "suspended"}


def test_a_half_closed_client_still_gets_its_deferred_reply(sock_dir: Path) -> None:
    """A client that shuts down its sending side still reads the answer to its last request."""
    path = sock_dir / "c.sock"
    handler = Handler()
    with ControlServer(path, handler), _connect(path) as sock:
        sock.sendall(b'{"cmd":"suspend","reason":"site change"}')
        sock.shutdown(socket.SHUT_WR)
        while not handler.futures:
            time.sleep(0.01)
        handler.futures[0].set_running_or_notify_cancel()
        handler.futures[0].set_result({"state": "suspended"})
        assert _read_reply(sock) == {"ok": True, "state": "suspended"}
