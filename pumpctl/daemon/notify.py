"""systemd readiness and watchdog notifications (``sd_notify``) over ``$NOTIFY_SOCKET``.

Outside systemd (no ``NOTIFY_SOCKET``) every call is a silent no-op, and no call ever raises:
a notification that cannot be sent must not stop therapy. The watchdog keep-alive is sent from
the delivery loop itself (SR-15), so a hung loop stops the keep-alives and systemd restarts it.
"""

from __future__ import annotations

import os
import socket

import structlog

_log = structlog.get_logger()


def _socket_address(raw: str) -> str | bytes | None:
    """The address to send to: a filesystem path, or an abstract name (``@`` -> leading NUL)."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    # Anything else (e.g. a vsock address) is not something this daemon is deployed with.
    return None


def notify(state: str, *, environ: dict[str, str] | None = None) -> bool:
    """Send one ``sd_notify`` message (``KEY=VALUE`` lines); ``True`` when it was sent.

    ``environ`` defaults to ``os.environ``; tests pass their own.
    """
    env = os.environ if environ is None else environ
    raw = env.get("NOTIFY_SOCKET", "")
    if not raw:
        return False
    address = _socket_address(raw)
    if address is None:
        _log.debug("notify.unsupported_socket", notify_socket=raw)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # Invariant: never blocks. A receiver whose queue is full (a stalled systemd, a
            # lagging listener) makes this message fail, not the delivery loop wait.
            sock.sendto(state.encode("utf-8", errors="replace"), socket.MSG_DONTWAIT, address)
    except OSError as err:
        # Invariant: a failed notification never interrupts delivery; systemd's watchdog
        # notices missing keep-alives on its own.
        _log.warning("notify.failed", notify_socket=raw, error=str(err))
        return False
    return True


def ready(status_text: str | None = None, *, environ: dict[str, str] | None = None) -> bool:
    """Tell systemd that start-up (lock, journal verify, reconcile, self-test) completed."""
    message = "READY=1"
    if status_text is not None:
        message += "\nSTATUS=" + _one_line(status_text)
    return notify(message, environ=environ)


def status(text: str, *, environ: dict[str, str] | None = None) -> bool:
    """Set the one-line status ``systemctl status`` shows (next pulse, any alarm)."""
    return notify("STATUS=" + _one_line(text), environ=environ)


def watchdog(*, environ: dict[str, str] | None = None) -> bool:
    """Keep-alive for ``WatchdogSec``; call it from the delivery loop itself (SR-15)."""
    return notify("WATCHDOG=1", environ=environ)


def extend_timeout(seconds: float, *, environ: dict[str, str] | None = None) -> bool:
    """Ask systemd for ``seconds`` more before it gives up on start-up (``EXTEND_TIMEOUT_USEC``).

    Sent while start-up waits on something long but bounded (verifying a large journal,
    waiting for a pump still moving to stand still before reconciling): the next message must
    come within ``seconds``.
    """
    return notify(f"EXTEND_TIMEOUT_USEC={max(1, round(seconds * 1_000_000))}", environ=environ)


def stopping(*, environ: dict[str, str] | None = None) -> bool:
    """Tell systemd the daemon is shutting down cleanly."""
    return notify("STOPPING=1", environ=environ)


def reloading(*, environ: dict[str, str] | None = None) -> bool:
    """Tell systemd a configuration reload (SIGHUP) is in progress; send ``ready`` after it."""
    return notify("RELOADING=1", environ=environ)


def watchdog_interval_s(*, environ: dict[str, str] | None = None) -> float | None:
    """How often to send keep-alives: half of ``WATCHDOG_USEC``, or ``None`` when not enabled.

    ``WATCHDOG_PID``, when set, must be this process: the variable may be inherited by a child
    that is not the supervised service.
    """
    env = os.environ if environ is None else environ
    raw_usec = env.get("WATCHDOG_USEC", "")
    if not raw_usec:
        return None
    raw_pid = env.get("WATCHDOG_PID", "")
    try:
        if raw_pid and int(raw_pid) != os.getpid():
            return None
        usec = int(raw_usec)
    except ValueError:
        _log.warning("notify.bad_watchdog_env", watchdog_usec=raw_usec, watchdog_pid=raw_pid)
        return None
    if usec <= 0:
        return None
    # Half the timeout, as sd_watchdog_enabled(3) recommends, so one late tick is not fatal.
    return usec / 2_000_000


def _one_line(text: str) -> str:
    """A status must be one line: the protocol separates assignments by newlines."""
    return " ".join(text.splitlines())
