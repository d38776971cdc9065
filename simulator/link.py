"""Link faults shared by every personality: silence, garbled, cut, doubled, late replies.

A fault that fired on the pump (``PumpMachine.fired_link_faults``) becomes active here and hits
the next reply or replies, or every reply for a while (``for=S``). The session of each
personality frames its replies and hands them here on their way to the wire.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from .faults import FaultSpec
from .machine import PumpMachine


@dataclass
class ActiveLinkFault:
    spec: FaultSpec
    until_s: float | None
    replies_left: int | None


class LinkFaults:
    """The active link faults of one pump's line."""

    def __init__(self, pump: PumpMachine, seed: int | None) -> None:
        self.pump = pump
        self._rng = random.Random(seed)  # noqa: S311 - reproducible fault noise, not secrets
        self._faults: list[ActiveLinkFault] = []

    def take(self) -> None:
        """Activate the link faults that fired on the pump since the last call."""
        if not self.pump.fired_link_faults:
            return
        for spec, at in self.pump.fired_link_faults:
            until = None if spec.duration_s is None else at + spec.duration_s
            replies = None if spec.duration_s is not None or spec.kind == "silence" else spec.times
            self._faults.append(ActiveLinkFault(spec, until, replies))
        self.pump.fired_link_faults.clear()

    def active(self, at: float) -> list[ActiveLinkFault]:
        if not self._faults:
            return self._faults
        self._faults = [
            f
            for f in self._faults
            if (f.until_s is None or at < f.until_s) and (f.replies_left is None or f.replies_left)
        ]
        return self._faults

    def silenced(self, at: float) -> bool:
        """Whether the line is unplugged now: nothing heard, nothing answered."""
        self.take()
        return bool(self._faults) and any(f.spec.kind == "silence" for f in self.active(at))

    def distort(
        self,
        frame: bytes,
        at: float,
        delay_s: float,
        *,
        garble_from: int = 1,
        bad_crc: Callable[[bytes], bytes] | None = None,
    ) -> list[tuple[bytes, float]]:
        """``frame`` as the active faults deliver it: (bytes, delay) for each copy sent.

        ``garble_from`` keeps the leading bytes intact (a frame's start marker); ``bad_crc``
        damages a checksum where the framing has one (without one, ``bad-crc`` garbles).
        """
        self.take()  # one fired while handling this command hits its reply
        if not self._faults:
            return [(frame, delay_s)]
        frames = [frame]
        for fault in self.active(at):
            kind = fault.spec.kind
            if fault.replies_left is not None:
                fault.replies_left -= 1
            if kind == "slow":
                delay_s += fault.spec.delay_s
            elif kind == "duplicate":
                frames.append(frame)
            elif kind == "truncate":
                frames = [f[: max(1, len(f) // 2)] for f in frames]
            elif kind == "bad-crc" and bad_crc is not None:
                frames = [bad_crc(f) for f in frames]
            elif kind in ("garble", "bad-crc"):
                # Non-ASCII bytes cannot be mistaken for another valid reply: the client must see
                # a damaged frame, not a plausible wrong one.
                frames = [self._garble(f, garble_from) for f in frames]
        return [(f, delay_s) for f in frames]

    def _garble(self, frame: bytes, first: int) -> bytes:
        damaged = bytearray(frame)
        for _ in range(2):
            index = self._rng.randrange(first, max(first + 1, len(damaged) - 1))
            damaged[index] = self._rng.randrange(0x80, 0xFF)
        return bytes(damaged)
