"""Test doubles for driver work: a transport that records commands and can rewrite replies.

``SpyTransport`` wraps an in-process transport (such as the simulator's ``LoopbackTransport``,
which answers at write time) and keeps every command the driver wrote, decoded with the shared
codec, so tests can assert what went on the wire (``RUN`` sent once, never ``VOL0``). A
``rewrite`` hook may replace the reply to chosen commands, to play a pump that lies.
"""

from __future__ import annotations

from collections.abc import Callable

from pumpctl.drivers.ne1000_codec import BadPacket, Command, CommandDecoder
from pumpctl.drivers.transport import Transport

#: ``rewrite(command, reply_bytes) -> reply_bytes`` for one command's answer.
Rewrite = Callable[[Command, bytes], bytes]


class SpyTransport:
    """Records decoded commands written through it; optionally rewrites the replies."""

    def __init__(self, inner: Transport, rewrite: Rewrite | None = None) -> None:
        self.inner = inner
        self.rewrite = rewrite
        self.commands: list[Command] = []
        self.bad_packets: list[BadPacket] = []
        self._decoder = CommandDecoder()
        self._rx = bytearray()

    @property
    def timeout(self) -> float | None:
        value: float | None = self.inner.timeout
        return value

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.inner.timeout = value

    def texts(self) -> list[str]:
        """The commands written so far, as text without address."""
        return [c.text for c in self.commands]

    def count(self, text: str) -> int:
        """How many times the command ``text`` was written."""
        return sum(1 for c in self.commands if c.text == text)

    def write(self, data: bytes) -> None:
        items = self._decoder.feed(data)
        self.commands.extend(i for i in items if isinstance(i, Command))
        self.bad_packets.extend(i for i in items if isinstance(i, BadPacket))
        self.inner.write(data)
        if self.rewrite is not None:
            # An in-process far end has answered by now; take its answer and let the hook edit it.
            saved, self.inner.timeout = self.inner.timeout, 0
            answer = b"".join(iter(lambda: self.inner.read(256), b""))
            self.inner.timeout = saved
            commands = [i for i in items if isinstance(i, Command)]
            self._rx.extend(self.rewrite(commands[-1], answer) if commands else answer)

    def read(self, size: int = 1) -> bytes:
        if self._rx:
            chunk = bytes(self._rx[:size])
            del self._rx[:size]
            return chunk
        data: bytes = self.inner.read(size)
        return data

    def reset_input_buffer(self) -> None:
        self._rx.clear()
        self.inner.reset_input_buffer()

    def close(self) -> None:
        self.inner.close()
