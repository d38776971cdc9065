"""The simulator as the serial line sees it: bytes in, framed replies out, with link faults.

``Ne1000Simulator`` decodes commands with the shared codec, routes them by address, applies the
alarm-acknowledgement rule (the reply to the next valid command is the pending alarm and that
command is not executed), frames replies in the current mode, adds the wire time each reply needs
at the configured baud, and distorts replies when a link fault is active. It never sleeps: callers
(servers, :class:`~pumpctl.simulator.loopback.LoopbackTransport`) decide how to honour delays.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from pumpctl.core.clock import Clock
from pumpctl.drivers.ne1000_codec import (
    BadPacket,
    Command,
    CommandDecoder,
    encode_reply,
)

from .commands import execute
from .faults import FaultSpec, parse_fault
from .ledger import Ledger
from .link import LinkFaults
from .pump import FIRMWARE, Ne1000Pump

log = structlog.get_logger()

BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit


@dataclass(frozen=True)
class Outgoing:
    """Bytes the pump sends, ``delay_s`` (real seconds) after the command that drew them."""

    data: bytes
    delay_s: float


class Ne1000Simulator:
    """A virtual NE-1000 on a serial line; ``pump`` is its state machine."""

    def __init__(
        self,
        clock: Clock,
        *,
        address: int = 0,
        baud: int = 19200,
        syringe_ul: float = 1000.0,
        seed: int | None = None,
        faults: list[FaultSpec] | tuple[FaultSpec, ...] = (),
        ledger: Ledger | None = None,
        time_scale: float = 1.0,
        firmware: str = FIRMWARE,
    ) -> None:
        if baud <= 0:
            raise ValueError(f"baud={baud} must be > 0")
        self.baud = baud
        self.time_scale = time_scale
        self._decoder = CommandDecoder()
        self.pump = Ne1000Pump(
            clock,
            address=address,
            syringe_ul=syringe_ul,
            firmware=firmware,
            ledger=ledger,
            time_scale=time_scale,
        )
        self.link = LinkFaults(self.pump, seed)
        self.pump.vendor_queries["XSIM"] = self._xsim
        self.pump.rogue_client = self._rogue
        # Marks where this run begins in a ledger file that several runs append to.
        self.pump.ledger.record(
            "sim.start",
            at=clock.now().isoformat(),
            elapsed_s=round(clock.elapsed_s(), 6),
            address=address,
            syringe_ul=syringe_ul,
            time_scale=time_scale,
            firmware=firmware,
        )
        for spec in faults:
            self.pump.inject(spec)

    # -- public API ---------------------------------------------------------------------------

    def wire_time_s(self, nbytes: int) -> float:
        """Time ``nbytes`` take on the wire at the configured baud."""
        return nbytes * BITS_PER_BYTE / self.baud

    def inject(self, fault: FaultSpec | str) -> None:
        """Arm a fault at run time (``"stall@0.5"`` or a parsed spec)."""
        self.pump.inject(parse_fault(fault) if isinstance(fault, str) else fault)

    def reset_line(self) -> None:
        """Forget a partly received command (the client that sent it went away)."""
        self._decoder = CommandDecoder()

    def receive(self, data: bytes, now_s: float | None = None) -> list[Outgoing]:
        """Bytes from the client arrive; returns what the pump sends back (replies, alarms).

        ``now_s`` is a monotonic reading for the 0.5 s in-packet gap rule (default: the clock).
        """
        at = self.pump.advance()
        out = self._unprompted(at)
        if self.link.silenced(at):
            return out  # unplugged: the pump hears nothing
        for index, item in enumerate(self._decoder.feed(data, at if now_s is None else now_s)):
            # The pump was just brought up to this clock reading; only a command it carried
            # out since (one before this item in the same bytes) can have made an event due.
            out.extend(self._answer(item, at if index == 0 else None))
        return out

    def poll(self) -> list[Outgoing]:
        """Let time pass: alarms the pump sends on its own in safe mode."""
        return self._unprompted(self.pump.advance())

    def describe(self) -> dict[str, object]:
        """The pump's physical state, for the control channel and tests."""
        pump = self.pump
        pump.advance()
        return {
            "address": pump.address,
            "state": pump.state,
            "status": pump.status_char(),
            "alarm": pump.alarm,
            "safe_timeout_s": pump.safe_timeout_s,
            "infused_ul": round(pump.drive.infused_ul, 6),
            "withdrawn_ul": round(pump.drive.withdrawn_ul, 6),
            "reservoir_ul": round(pump.drive.reservoir_ul, 6),
            "now": pump.clock.now().isoformat(),
            "time_scale": self.time_scale,
        }

    def next_event_s(self) -> float | None:
        """Elapsed clock reading of the next thing the pump does on its own (for servers)."""
        return self.pump.next_event_s()

    def rest_until_s(self) -> float | None:
        """Until when a status poll gets the answer it would get now (see ``PumpMachine``);
        None while a link fault is active too."""
        at = self.pump.advance()
        self.link.take()
        if self.link.active(at):
            return None
        return self.pump.rest_until_s()

    def polled(self, count: int, last_at: float) -> None:
        """Status polls a simulation skipped while the pump was at rest (see ``PumpMachine``)."""
        self.pump.polled(count, last_at)

    # -- internals ----------------------------------------------------------------------------

    def _xsim(self) -> str:
        now = self.pump.clock.now().timestamp()
        return f"PUMPSIM SCALE={float(self.time_scale)!r} NOW={now:.6f}"

    def _safe(self) -> bool:
        return self.pump.safe_timeout_s > 0

    def _reply(self, status: str, data: str = "") -> bytes:
        frame: bytes = encode_reply(self.pump.address, status, data, safe=self._safe())
        return frame

    def _unprompted(self, at: float) -> list[Outgoing]:
        self.link.take()
        if not self.pump.unprompted:
            return []
        codes, self.pump.unprompted = self.pump.unprompted, []
        if not codes or self.link.silenced(at) or not self._safe():
            return []
        return [Outgoing(self._reply("A?" + c), self.wire_time_s(9)) for c in codes]

    def _answer(self, item: Command | BadPacket, at: float | None = None) -> list[Outgoing]:
        """The pump's answer to ``item``; ``at``: the clock reading the pump was just advanced
        to, with nothing done to it since (None: advance it now)."""
        pump = self.pump
        if at is None:
            at = pump.advance()
        if isinstance(item, BadPacket) or (self._safe() and not item.framed):
            # In safe mode only framed packets are valid; a bad one is answered ?COM.
            return self._send(self._reply(pump.status_char(), "?COM"), at)
        text = item.text
        system = text.startswith("*")
        address = 0 if item.address is None else item.address
        if not system and address != pump.address:
            return []  # another pump on the daisy chain
        pump.command_arrived(at)
        if item.framed:
            pump.restart_watchdog(at)
        self.link.take()
        if self.link.silenced(at):
            return []
        if pump.alarm is not None:
            alarm, pump.alarm = pump.alarm, None
            pump.unprompted = [c for c in pump.unprompted if c != alarm]
            return self._send(self._reply("A?" + alarm), at)
        status, data = execute(pump, text, at)
        out = self._send(self._reply(status, data), at)
        return out + self._unprompted(at)

    def _rogue(self, text: str, at: float) -> None:
        """A command from someone else on the port: carried out, its answer lost to us."""
        self.pump.run_cause = "rogue-run"
        try:
            status, data = execute(self.pump, text, at)
        finally:
            self.pump.run_cause = "run"
        self.pump.ledger.record("rogue.command", command=text, status=status, answer=data)
        log.info("pumpsim.rogue_command", command=text, answer=data)

    def _send(self, frame: bytes, at: float) -> list[Outgoing]:
        safe = self._safe()
        out = self.link.distort(
            frame,
            at,
            self.wire_time_s(len(frame)),
            garble_from=2 if safe else 1,
            bad_crc=_flip_crc if safe else None,
        )
        return [Outgoing(data, delay) for data, delay in out]


def _flip_crc(frame: bytes) -> bytes:
    return frame[:-2] + bytes([frame[-2] ^ 0xFF]) + frame[-1:]
