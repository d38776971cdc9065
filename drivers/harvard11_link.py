"""One Protocol 11 command exchange at a time, with the link-fault rules of SR-16.

* Timeouts and damaged replies: query, setup and stop commands (all idempotent) are retried once;
  a motion command (``irun``) never is, since the pump may have started.
* What the pump sent on its own before a command (``T*`` when a target was reached, replies that
  came after their timeout) is drained first and never taken for the next command's reply; a
  ``T*`` seen so is kept for the driver.
* A reply ends with an unterminated prompt. ``LF NN:`` may be the idle prompt or the start of a
  data line, so a reply that ends so is complete once the expected data lines are in, or once
  the next reply starts: a setting is sent with a prompt request right behind it (``0\r``), whose
  own bare prompt can hold no data. Failing both, a line quiet for ``quiet_s`` (longer than a USB
  adapter's latency timer) ends it.
"""

from __future__ import annotations

import threading
import time

import structlog

from pumpctl.drivers.harvard11_codec import Reply, ReplyDecoder, encode_command
from pumpctl.drivers.ne1000_link import Kind
from pumpctl.drivers.transport import Transport
from pumpctl.errors import (
    ProtocolError,
    PumpctlError,
    TransportError,
    TransportTimeoutError,
)

log = structlog.get_logger()

__all__ = ["Harvard11Link", "Kind"]

#: A drained reply cut short is given this long to complete before it is discarded.
DRAIN_COMPLETE_S = 0.05


class Harvard11Link:
    """Command/reply exchanges with the pump at ``address`` over ``transport``."""

    def __init__(
        self, transport: Transport, *, address: int, timeout_s: float, quiet_s: float
    ) -> None:
        self.transport = transport
        self.address = address
        self.timeout_s = timeout_s
        self.quiet_s = quiet_s
        self._decoder = ReplyDecoder(address=address)
        #: Prompts the pump sent on its own (``T*``) since the driver last looked.
        self.unprompted: list[str] = []
        # One exchange at a time even if a heartbeat thread and the delivery loop share the pump.
        self._lock = threading.RLock()

    def take_unprompted(self) -> list[str]:
        prompts, self.unprompted = self.unprompted, []
        return prompts

    def transact(self, command: str, kind: Kind, *, lines: int = 0) -> Reply:
        """Send ``command``, expecting ``lines`` data lines, and return its reply (module rules)."""
        with self._lock:
            try:
                return self._transact(command, kind, lines)
            except PumpctlError:
                raise
            except OSError as err:
                # A transport other than pyserial's (an in-process one, a plug-in) failed raw.
                log.error("pump.link_lost", command=command, error=str(err))
                raise TransportError(f"pump link failed during {command!r}: {err}") from err

    def _transact(self, command: str, kind: Kind, lines: int) -> Reply:
        attempts = 1 if kind is Kind.MOTION else 2
        for attempt in range(attempts):
            self._drain()
            try:
                return self._exchange(command, lines, kind)
            except (ProtocolError, TransportTimeoutError) as err:
                self._decoder.reset()
                if attempt == attempts - 1:
                    if kind is Kind.MOTION:
                        log.error("pump.link_fault", command=command, error=str(err), resent=False)
                        raise type(err)(
                            f"{err}; {command!r} is never re-sent, so whether the pump started "
                            "is unknown until its status is read"
                        ) from err
                    log.error("pump.link_lost", command=command, error=str(err))
                    raise
                log.warning("pump.link_fault", command=command, error=str(err), resent=True)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _exchange(self, command: str, lines: int, kind: Kind) -> Reply:
        # A reply without data lines ends in "LF NN:", which a data line could still follow.
        # A prompt request sent right behind it ends it at once: its own "LF NN:" can carry no
        # data. Never behind irun: its '>' is unambiguous, and motion gets one line alone.
        sync = lines == 0 and kind is not Kind.MOTION
        data = encode_command(self.address, command)
        if sync:
            data += encode_command(self.address, "")
        self.transport.write(data)
        deadline = time.monotonic() + self.timeout_s
        saved = self.transport.timeout
        try:
            reply = self._await(command, lines, deadline, bare=False)
            if sync:
                self._await(command + " (prompt request)", 0, deadline, bare=True)
            return reply
        finally:
            self.transport.timeout = saved

    def _await(self, command: str, lines: int, deadline: float, *, bare: bool) -> Reply:
        """The next reply: ``lines`` data lines expected, or none possible when ``bare``."""
        while True:
            reply = self._decoder.reply(lines, bare=bare)
            if reply is not None:
                if not bare and self._is_stray_target(reply, lines):
                    self.unprompted.append(reply.prompt)
                    continue
                self._report_junk()
                return reply
            wait = deadline - time.monotonic()
            if self._decoder.pending_prompt():
                wait = min(wait, self.quiet_s)
            if wait <= 0:
                break
            chunk = self._read(wait)
            if chunk:
                self._decoder.feed(chunk)
            elif self._decoder.pending_prompt():
                self._report_junk()
                return self._decoder.take_idle_prompt()
            elif time.monotonic() >= deadline:
                break
        pending = self._decoder.pending_bytes
        self._decoder.reset()
        if pending:
            raise ProtocolError(
                f"reply to {command!r} incomplete: {pending} bytes, then nothing for "
                f"timeout_s={self.timeout_s}"
            )
        raise TransportTimeoutError(f"no reply to {command!r} within timeout_s={self.timeout_s}")

    def _read(self, wait_s: float) -> bytes:
        """The next byte within ``wait_s``, and whatever arrived with it."""
        self.transport.timeout = wait_s
        first = self.transport.read(1)
        if not first:
            return b""
        self.transport.timeout = 0
        rest: bytes = self.transport.read(256)
        return bytes(first) + rest

    @staticmethod
    def _is_stray_target(reply: Reply, lines: int) -> bool:
        # A bare T* where data lines were due is the pump's own notice that a target was
        # reached, sent just before it answered us: the answer still follows.
        return reply.prompt == "T*" and not reply.lines and lines > 0

    def _report_junk(self) -> None:
        for junk in self._decoder.junk:
            log.info("pump.stale_garbage", bytes=junk[:32].hex(" "))
        self._decoder.junk.clear()

    def _drain(self) -> None:
        """Read what arrived unasked; keep the T* notices, log the rest."""
        saved = self.transport.timeout
        self.transport.timeout = 0
        try:
            deadline = time.monotonic() + DRAIN_COMPLETE_S
            while True:
                chunk = self.transport.read(256)
                if chunk:
                    self._feed_lenient(chunk)
                    continue
                if self._decoder.pending_bytes == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.002)  # a reply is still arriving: give it a moment
        finally:
            self.transport.timeout = saved
        if self._decoder.pending_prompt():
            self._stale(self._decoder.take_idle_prompt())
        if self._decoder.pending_bytes:
            log.info("pump.stale_garbage", error="partial reply dropped before a command")
            self._decoder.reset()
        self._report_junk()

    def _feed_lenient(self, chunk: bytes) -> None:
        try:
            self._decoder.feed(chunk)
            while (reply := self._decoder.reply()) is not None:
                self._stale(reply)
        except ProtocolError as err:
            log.info("pump.stale_garbage", error=str(err))
            self._decoder.reset()

    def _stale(self, reply: Reply) -> None:
        if reply.prompt == "T*" and not reply.lines:
            self.unprompted.append("T*")
        else:
            log.info("pump.stale_reply", prompt=reply.prompt, lines=list(reply.lines))
