"""A minimal in-process client for the simulator, for tests and notebooks: text in, replies out.

It frames commands and decodes replies with the shared codec, exactly as bytes would cross a
serial line, but calls the simulator directly; ``clock`` (a VirtualClock) moves time.
"""

from __future__ import annotations

from pumpctl.core.clock import VirtualClock
from pumpctl.drivers.ne1000_codec import Reply, ReplyDecoder, encode_command

from .session import Ne1000Simulator, Outgoing


class SimClient:
    """Talks to a :class:`Ne1000Simulator` at ``address`` on a virtual clock."""

    def __init__(self, sim: Ne1000Simulator | None = None, *, address: int | None = 0) -> None:
        self.clock = VirtualClock()
        self.sim = sim if sim is not None else Ne1000Simulator(self.clock)
        if sim is not None and isinstance(sim.pump.clock, VirtualClock):
            self.clock = sim.pump.clock
        self.address = address
        self.last: list[Outgoing] = []

    def raw(self, data: bytes) -> list[Outgoing]:
        """Send raw bytes; returns what the pump sent back (frames and their delays)."""
        self.last = self.sim.receive(data)
        return self.last

    def send(self, command: str, *, safe: bool | None = None) -> list[Reply]:
        """Send ``command`` (framed when ``safe``, default: the pump's current mode)."""
        framed = self.sim.pump.safe_timeout_s > 0 if safe is None else safe
        out = self.raw(encode_command(self.address, command, safe=framed))
        return decode(b"".join(o.data for o in out))

    def ask(self, command: str, *, safe: bool | None = None) -> Reply:
        """Send ``command`` and return its one reply (AssertionError if not exactly one)."""
        replies = self.send(command, safe=safe)
        if len(replies) != 1:
            raise AssertionError(f"{command!r} drew {len(replies)} replies: {replies}")
        return replies[0]

    def acknowledge_reset(self) -> None:
        """Clear the power-up reset alarm the pump starts with."""
        reply = self.ask("")
        if reply.alarm != "R":
            raise AssertionError(f"expected the power-up reset alarm, got {reply}")

    def advance(self, seconds: float) -> list[Reply]:
        """Let ``seconds`` pass; returns what the pump sent on its own (safe mode alarms)."""
        self.clock.advance(seconds)
        return decode(b"".join(o.data for o in self.sim.poll()))


def decode(data: bytes) -> list[Reply]:
    """Decode every reply frame in ``data`` (raises ProtocolError on a damaged one)."""
    replies: list[Reply] = ReplyDecoder().feed(data)
    return replies
