"""An in-process serial transport to a simulator: no pty, no threads, no sleeping.

``LoopbackTransport`` implements the driver's ``Transport`` protocol. A write hands the bytes to
the simulator at once; reads return what it answered (plus what it sent on its own meanwhile:
NE-1000 safe-mode alarms, a Pump 11 ``T*``). With a virtual clock this runs the whole daemon
against a pump in milliseconds.
Wire delays are not waited for; ``wire_time_s`` totals them for callers that want to account.
Given ``advance`` (a virtual clock's ``advance``), the transport moves the clock on by each
command's and each reply's wire time instead, so the pump moves while bytes travel exactly as
it would at 1x on a real line: timing-sensitive behaviour can be tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable

from .personality import Simulator


class LoopbackTransport:
    """A serial-like transport whose far end is ``sim``."""

    def __init__(
        self,
        sim: Simulator,
        *,
        timeout: float | None = 0.5,
        advance: Callable[[float], None] | None = None,
    ) -> None:
        self.sim = sim
        self.advance = advance
        self.timeout = timeout
        self.write_timeout: float | None = timeout
        self.wire_time_s = 0.0
        self.is_open = True
        self._rx = bytearray()

    def _collect(self) -> None:
        for item in self.sim.poll():
            self._rx.extend(item.data)

    def write(self, data: bytes) -> None:
        """Deliver ``data`` to the simulator; its answers wait for ``read``."""
        self._check_open()
        if self.advance is not None:
            self.advance(self.sim.wire_time_s(len(data)))  # the pump hears it once it arrived
        for item in self.sim.receive(bytes(data)):
            self.wire_time_s += item.delay_s
            if self.advance is not None:
                self.advance(item.delay_s)
            self._rx.extend(item.data)

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` answered bytes; ``b""`` where a real port would time out.

        The simulator is asked for more only once the buffer is empty: the driver reads a reply
        a few bytes at a time, and letting the pump catch up on each of those reads was a
        quarter of a long simulation's time.
        """
        self._check_open()
        if not self._rx:
            self._collect()
        chunk = bytes(self._rx[:size])
        del self._rx[:size]
        return chunk

    @property
    def in_waiting(self) -> int:
        self._collect()
        return len(self._rx)

    def reset_input_buffer(self) -> None:
        self._collect()
        self._rx.clear()

    def close(self) -> None:
        self.is_open = False

    def _check_open(self) -> None:
        if not self.is_open:
            # Same builtin family as a closed pyserial port raises, so driver code treats it alike.
            raise OSError("loopback transport is closed")
