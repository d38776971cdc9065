"""One NE-1000 command exchange at a time, with the alarm-acknowledge and link-fault rules.

The link sends a command, reads exactly its reply and applies the rules of the protocol and of
SR-16 in one place:

* A reply that is an alarm acknowledges it, and the command was NOT executed. Query, setup and
  stop commands are then sent once more; a motion command (``RUN``) never is: the caller gets
  :class:`PumpAlarmError` with ``executed=False``.
* Timeouts and damaged replies: query, setup and stop commands (all idempotent) are retried once;
  a motion command never is, since the pump may have started.
* Anything the pump sent on its own before a command (unprompted alarms in safe mode, replies
  that came after their timeout, duplicates) is drained first, so it is never taken for the next
  command's reply. Every alarm seen is kept until the driver reports it.
"""

from __future__ import annotations

import threading
import time
from enum import Enum

import structlog

from pumpctl.drivers.base import PumpAlarm
from pumpctl.drivers.ne1000_codec import Reply, ReplyDecoder, encode_command
from pumpctl.drivers.transport import Transport
from pumpctl.errors import (
    ProtocolError,
    PumpAlarmError,
    PumpctlError,
    TransportError,
    TransportTimeoutError,
)

log = structlog.get_logger()

#: After an alarm frame in safe mode, how long to wait for a second frame: the first may have
#: been the pump's unprompted alarm, sent just before its answer to our command.
ALARM_FOLLOW_UP_S = 0.05
#: A drained frame cut short is given this long to complete before it is discarded.
DRAIN_COMPLETE_S = 0.05
_ALARM_NAMES = {
    "R": "reset / power failure",
    "S": "motor stall (occlusion or end of travel)",
    "T": "safe-mode communication timeout",
    "E": "pumping program error",
    "O": "program phase out of range",
}
#: The NE-1000's alarm letters in pumpctl's vocabulary; the letters never leave this driver.
_PUMP_ALARMS = {
    "R": PumpAlarm.POWER_RESET,
    "S": PumpAlarm.STALL,
    "T": PumpAlarm.WATCHDOG_TIMEOUT,
    "E": PumpAlarm.PROGRAM_ERROR,
    "O": PumpAlarm.PHASE_OUT_OF_RANGE,
}


class Kind(Enum):
    """How a command may be repeated when its answer is an alarm or a link fault."""

    QUERY = "query"  # reads only
    SETUP = "setup"  # idempotent set, no motion
    STOP = "stop"  # reduces flow: repeating it is always safe
    MOTION = "motion"  # may start flow: never repeated (SR-16)


def alarm_name(code: str) -> str:
    """A short English name for an alarm letter."""
    return _ALARM_NAMES.get(code, f"unknown alarm {code!r}")


def pump_alarm(code: str) -> PumpAlarm:
    """The vendor-neutral alarm for an NE-1000 alarm letter; a letter not in the manual is
    ``UNKNOWN`` (never taken for a reset, never dropped)."""
    return _PUMP_ALARMS.get(code, PumpAlarm.UNKNOWN)


def alarm_error(code: str, message: str, *, command: str, executed: bool) -> PumpAlarmError:
    """The error for a command the pump answered with alarm letter ``code``."""
    return PumpAlarmError(
        pump_alarm(code), message, command=command, executed=executed, vendor_code=code
    )


class Ne1000Link:
    """Command/reply exchanges with the pump at ``address`` over ``transport``."""

    def __init__(self, transport: Transport, *, address: int, timeout_s: float) -> None:
        self.transport = transport
        self.address = address
        self.timeout_s = timeout_s
        self.safe = False
        self._decoder = ReplyDecoder()
        self._alarms: list[str] = []
        # Alarms the pump sent on its own and that no reply has acknowledged yet: the reply that
        # acknowledges one is the same alarm event, not a new one.
        self._unacknowledged: set[str] = set()
        # One exchange at a time even if a heartbeat thread and the delivery loop share the pump.
        self._lock = threading.RLock()

    def set_safe(self, safe: bool) -> None:
        """Frame every later command in safe mode (and expect safe replies) or in basic mode."""
        self.safe = safe
        self._decoder.expect_safe = safe

    def take_alarms(self) -> list[str]:
        """Alarms seen since the last call, oldest first, each acknowledged or still pending."""
        alarms, self._alarms = self._alarms, []
        return alarms

    @property
    def alarms_seen(self) -> tuple[str, ...]:
        return tuple(self._alarms)

    def read_unprompted(self) -> None:
        """Read what the pump sent on its own, without sending anything (its alarms are kept
        for the next status, as after any exchange)."""
        with self._lock:
            try:
                self._drain()
            except OSError as err:
                log.error("pump.link_lost", command="(read unprompted)", error=str(err))
                raise TransportError(f"pump link failed while reading: {err}") from err

    def transact(self, command: str, kind: Kind, *, framed: bool | None = None) -> Reply:
        """Send ``command`` and return its (non-alarm) reply, applying the module's rules.

        ``framed`` overrides the framing for this command (``SAF`` is sent framed in any mode).
        """
        with self._lock:
            try:
                return self._transact(command, kind, framed)
            except PumpctlError:
                raise
            except OSError as err:
                # A transport other than pyserial's (an in-process one, a plug-in) failed raw.
                log.error("pump.link_lost", command=command, error=str(err))
                raise TransportError(f"pump link failed during {command!r}: {err}") from err

    def _transact(self, command: str, kind: Kind, framed: bool | None) -> Reply:
        unprompted = self._drain()
        if kind is Kind.MOTION and unprompted:
            # The pump would answer RUN with this alarm and not run; say so without sending it.
            code = unprompted[-1]
            raise alarm_error(
                code,
                f"{command} not sent: pump raised alarm {code} ({alarm_name(code)})",
                command=command,
                executed=False,
            )
        link_faults = 0
        alarm_codes: list[str] = []
        while True:
            try:
                reply = self._exchange(command, framed)
            except (TransportTimeoutError, ProtocolError) as err:
                link_faults += 1
                log.warning("pump.link_fault", command=command, kind=kind.value, error=str(err))
                self._decoder.reset()
                if kind is Kind.MOTION:
                    raise type(err)(
                        f"{command} was sent but its reply failed ({err}); not re-sent (SR-16): "
                        "whether the pump started is unknown"
                    ) from err
                if link_faults > 1:
                    raise
                self._drain()  # the rest of a damaged reply must not answer the retry
                continue
            except TransportError as err:
                # The port itself failed (unplugged adapter, closed socket): nothing to retry on.
                log.error("pump.link_lost", command=command, error=str(err))
                raise
            if reply.alarm is None:
                return reply
            if kind is Kind.MOTION or reply.alarm in alarm_codes:
                raise alarm_error(
                    reply.alarm,
                    f"{command} answered with alarm {reply.alarm} ({alarm_name(reply.alarm)}); "
                    "the command was not executed"
                    + ("" if kind is Kind.MOTION else " and the same alarm came again on re-send"),
                    command=command,
                    executed=False,
                )
            alarm_codes.append(reply.alarm)
            log.info("pump.command_resent", command=command, alarm=reply.alarm)

    def _exchange(self, command: str, framed: bool | None) -> Reply:
        """Write one command and read the frame that answers it."""
        safe = self.safe if framed is None else framed
        self.transport.write(encode_command(self.address, command, safe=safe))
        reply = self._read_frame(command, self.timeout_s)
        if reply is None:
            raise TransportTimeoutError(
                f"no reply to {command!r} within timeout_s={self.timeout_s}"
            )
        if reply.alarm is not None and self.safe:
            follow_up = self._read_frame(command, ALARM_FOLLOW_UP_S)
            if follow_up is not None:
                # The first frame was unprompted; the second one answers the command.
                self._note_alarm(reply.alarm, "(unprompted)", acknowledged=False)
                reply = follow_up
        if reply.alarm is not None:
            self._note_alarm(reply.alarm, command, acknowledged=True)
        return reply

    def _read_frame(self, command: str, wait_s: float) -> Reply | None:
        """The next frame, or None when nothing came within ``wait_s``."""
        deadline = time.monotonic() + wait_s
        saved = self.transport.timeout
        self.transport.timeout = wait_s
        try:
            while True:
                # Safe frames announce their length: read the rest in one call, not byte by byte.
                chunk = self.transport.read(self._decoder.bytes_wanted())
                if chunk:
                    replies = self._decoder.feed(chunk)
                    if replies:
                        self._keep_extra(replies[1:])
                        return self._check_address(replies[0])
                if not chunk or time.monotonic() > deadline:
                    pending = self._decoder.pending_bytes
                    if pending:
                        self._decoder.reset()
                        raise ProtocolError(
                            f"reply to {command!r} truncated: {pending} bytes of a frame, then "
                            f"nothing for timeout_s={wait_s}"
                        )
                    return None
        finally:
            self.transport.timeout = saved

    def _check_address(self, reply: Reply) -> Reply:
        if reply.address != self.address:
            raise ProtocolError(f"reply from address {reply.address}; expected {self.address}")
        return reply

    def _keep_extra(self, replies: list[Reply]) -> None:
        for extra in replies:
            self._stale(extra)

    def _drain(self) -> list[str]:
        """Read what arrived unasked; returns the alarm codes among it."""
        alarms: list[str] = []
        saved = self.transport.timeout
        self.transport.timeout = 0
        try:
            deadline = time.monotonic() + DRAIN_COMPLETE_S
            while True:
                chunk = self.transport.read(64)
                if not chunk:
                    if self._decoder.pending_bytes == 0 or time.monotonic() > deadline:
                        break
                    time.sleep(0.002)  # a frame is still arriving: give it a moment
                    continue
                for reply in self._feed_lenient(chunk):
                    if reply.alarm is not None:
                        alarms.append(reply.alarm)
                    self._stale(reply)
        finally:
            self.transport.timeout = saved
        if self._decoder.pending_bytes:
            log.info("pump.stale_garbage", error="partial frame dropped before a command")
            self._decoder.reset()
        return alarms

    def _feed_lenient(self, chunk: bytes) -> list[Reply]:
        """Decode unasked bytes, logging and skipping damaged frames instead of raising."""
        out: list[Reply] = []
        data = chunk
        # Every ProtocolError drops at least one buffered byte, so this bound always suffices.
        for _ in range(self._decoder.pending_bytes + len(chunk) + 1):
            try:
                out.extend(self._decoder.feed(data))
                break
            except ProtocolError as err:
                log.info("pump.stale_garbage", error=str(err))
                data = b""
        return out

    def _stale(self, reply: Reply) -> None:
        if reply.alarm is not None:
            self._note_alarm(reply.alarm, "(unprompted)", acknowledged=False)
        else:
            log.info("pump.stale_reply", status=reply.status, data=reply.data, error=reply.error)

    def _note_alarm(self, code: str, command: str, *, acknowledged: bool) -> None:
        if acknowledged:
            known = code in self._unacknowledged
            # One acknowledgement clears the pump's pending alarm, whichever came before it.
            self._unacknowledged.clear()
            if known:
                log.info("pump.alarm_acknowledged", alarm=code, command=command)
                return
        else:
            self._unacknowledged.add(code)
        log.warning("pump.alarm", alarm=code, name=alarm_name(code), command=command)
        self._alarms.append(code)
