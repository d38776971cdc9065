"""The scaled clock of ``run --time-scale`` is anchored on the handshake, not after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.runner import simulator_clock
from pumpctl.drivers.base import SimulatorInfo

SIM_NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class HandshakeOnly:
    """A pumpsim stand-in on a virtual real-time clock: 2 ms round trip, a 0.3 s close."""

    def __init__(self, real: VirtualClock, scale: float) -> None:
        self.real = real
        self.scale = scale
        self.read_at_us = 0

    def connect(self) -> None:
        self.real.advance(0.05)

    def simulator_handshake(self) -> SimulatorInfo:
        self.real.advance(0.001)  # the question on the wire
        self.read_at_us = self.real.elapsed_us()  # pumpsim reads its clock here
        self.real.advance(0.001)  # the answer on the wire
        return SimulatorInfo(time_scale=self.scale, now=SIM_NOW)

    def status(self) -> SimpleNamespace:
        self.real.advance(0.002)
        return SimpleNamespace(alarms=())

    def close(self) -> None:
        self.real.advance(0.3)  # pyserial's socket:// close sleeps this long


def test_the_clock_reads_the_simulators_time_the_moment_it_is_built() -> None:
    """SR-11: no lag from work after the handshake: at 1440 x, 0.3 s of close was 7.2 min."""
    for scale in (600.0, 1440.0):
        real = VirtualClock(datetime(2030, 1, 1, tzinfo=UTC), elapsed_s=100.0)
        pump = HandshakeOnly(real, scale)
        clock, _ = simulator_clock(pump, scale, base=real)  # type: ignore[arg-type]
        since_read = timedelta(microseconds=real.elapsed_us() - pump.read_at_us)
        assert clock.now() == SIM_NOW + since_read * scale
        # Its error bound is half the handshake's 2 ms round trip, journaled with daemon.start.
        assert clock.sync_error_s == 0.001
