"""The Pump 11 Elite as the serial line sees it: command lines in, prompts and text out.

``Elite11Simulator`` has the same public face as :class:`~.session.Ne1000Simulator`
(``receive``, ``poll``, ``inject``, ``describe`` ...), so the servers, the loopback transport and
``pumpctl simulate`` drive either personality. It assembles command lines with the shared
Protocol 11 codec, answers the pump at its address (and unaddressed lines), frames replies with
the address when the command carried one or the pump's address is not 0, echoes input when
``echo on``, sends ``T*`` on its own when a target is reached, and passes every reply through
the shared link faults. It never sleeps.
"""

from __future__ import annotations

from pumpctl.core.clock import Clock
from pumpctl.drivers.harvard11_codec import Command, CommandDecoder, encode_reply

from .elite11 import (
    COMMAND_ERROR,
    FIRMWARE,
    HANDLERS,
    UNKNOWN,
    Elite11Pump,
    resolve,
)
from .faults import FaultSpec, parse_fault
from .ledger import Ledger
from .link import LinkFaults
from .session import BITS_PER_BYTE, Outgoing

#: The simulator-only handshake; a real pump answers it "Unknown command".
HANDSHAKE = "xsim"


class Elite11Simulator:
    """A virtual Pump 11 Elite on a serial line; ``pump`` is its state machine."""

    model = "elite11"

    def __init__(
        self,
        clock: Clock,
        *,
        address: int = 0,
        baud: int = 9600,
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
        self._addressed = False
        self.pump = Elite11Pump(
            clock,
            address=address,
            syringe_ul=syringe_ul,
            firmware=firmware,
            ledger=ledger,
            time_scale=time_scale,
            baud=baud,
        )
        self.link = LinkFaults(self.pump, seed)
        self.pump.ledger.record(
            "sim.start",
            at=clock.now().isoformat(),
            elapsed_s=round(clock.elapsed_s(), 6),
            address=address,
            syringe_ul=syringe_ul,
            time_scale=time_scale,
            firmware=firmware,
            model=self.model,
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
        self._decoder.reset()

    def receive(self, data: bytes, now_s: float | None = None) -> list[Outgoing]:
        """Bytes from the client arrive; returns what the pump sends back."""
        at = self.pump.advance()
        out = self._unprompted(at)
        if self.link.silenced(at):
            return out  # unplugged: the pump hears nothing
        if self.pump.echo:
            out.append(Outgoing(data, self.wire_time_s(len(data))))
        for command in self._decoder.feed(data):
            out.extend(self._answer(command))
        return out

    def poll(self) -> list[Outgoing]:
        """Let time pass: the ``T*`` a pump sends when it reaches its target."""
        return self._unprompted(self.pump.advance())

    def describe(self) -> dict[str, object]:
        """The pump's physical state, for the control channel and tests."""
        pump = self.pump
        at = pump.advance()
        return {
            "model": self.model,
            "address": pump.address,
            "state": pump.state,
            "prompt": pump.prompt(),
            "status": pump.status_line(at),
            "target_ul": pump.target_ul,
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

    def _prefix(self, addressed: bool) -> int | None:
        return self.pump.address if addressed or self.pump.address != 0 else None

    def _handshake(self) -> str:
        now = self.pump.clock.now().timestamp()
        return f"PUMPSIM SCALE={float(self.time_scale)!r} NOW={now:.6f}"

    def _unprompted(self, at: float) -> list[Outgoing]:
        self.link.take()
        prompts, self.pump.unprompted = self.pump.unprompted, []
        if not prompts or self.link.silenced(at):
            return []
        out = []
        for prompt in prompts:
            frame = encode_reply(self._prefix(self._addressed), [], prompt)[:]
            out.append(Outgoing(frame, self.wire_time_s(len(frame))))
        return out

    def _answer(self, command: Command) -> list[Outgoing]:
        pump = self.pump
        at = pump.advance()
        if command.address is not None and command.address != pump.address:
            return []  # another pump on the daisy chain
        pump.command_arrived(at)
        self.link.take()
        if self.link.silenced(at):
            return []
        self._addressed = command.addressed
        lines = self._execute(command, at)
        # The target may be reached, or a fault fire, while this command is answered.
        at = pump.advance()
        frame = encode_reply(self._prefix(command.addressed), lines, pump.prompt())
        out = [
            Outgoing(data, delay)
            for data, delay in self.link.distort(frame, at, self.wire_time_s(len(frame)))
        ]
        # A T* the pump raised while answering is in the prompt already: not sent twice.
        if pump.prompt() == "T*":
            pump.unprompted = [p for p in pump.unprompted if p != "T*"]
        return out + self._unprompted(at)

    def _execute(self, command: Command, at: float) -> list[str]:
        if command.word == "":
            return []
        if command.word == "?":
            return [COMMAND_ERROR]
        name = resolve(command.word, (HANDSHAKE,))
        if name == HANDSHAKE:
            return [self._handshake()]
        if name is None:
            return [UNKNOWN]
        return HANDLERS[name](self.pump, command.args, at)
