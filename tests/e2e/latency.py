"""Realistic latency for the in-process simulation: the virtual clock moves while work is done.

On a virtual clock a serial round trip, a journal fsync or a wake-up take no time at all, which
hides every effect of lateness. These wrappers move the clock as a real host would: a few
milliseconds per serial byte exchange and per fsync, a wake-up that comes a little late, and now
and then a stall (a busy host, a slow SD card) longer than the start-latency bound.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pumpctl.core.clock import VirtualClock
from pumpctl.simulation import Simulation


@dataclass(frozen=True)
class LatencyProfile:
    """Seconds of clock time each kind of work takes: (low, high) uniform, plus rare stalls."""

    to_pump_s: tuple[float, float] = (0.002, 0.02)  # command bytes reach the pump
    from_pump_s: tuple[float, float] = (0.005, 0.03)  # the pump answers, bytes come back
    fsync_s: tuple[float, float] = (0.001, 0.01)  # one journal append
    oversleep_s: tuple[float, float] = (0.0, 0.05)  # a wake-up comes this late
    stall_p: float = 0.01  # chance that a wake-up or an append stalls
    stall_s: tuple[float, float] = (0.2, 0.8)


def add_latency(simulation: Simulation, profile: LatencyProfile, seed: int) -> None:
    """Make every serial exchange, journal append and sleep of ``simulation`` take clock time."""
    rng = random.Random(seed)  # noqa: S311 - reproducible latencies, not secrets
    clock: VirtualClock = simulation.clock

    def spend(span: tuple[float, float], *, may_stall: bool = False) -> None:
        seconds = rng.uniform(*span)
        if may_stall and rng.random() < profile.stall_p:
            seconds += rng.uniform(*profile.stall_s)
        clock.advance(seconds)

    transport: Any = simulation.daemon.driver._given_transport  # type: ignore[attr-defined]
    write = transport.write

    def slow_write(data: bytes) -> None:
        spend(profile.to_pump_s)
        write(data)  # the simulator acts on the command at this clock time
        spend(profile.from_pump_s)

    transport.write = slow_write

    journal: Any = simulation.journal
    append = journal.append

    def slow_append(kind: Any, payload: Any) -> Any:
        spend(profile.fsync_s, may_stall=True)
        return append(kind, payload)

    journal.append = slow_append
    append_many = journal.append_many

    def slow_append_many(records: Any, **options: Any) -> Any:
        # One commit (a pulse start's allow, intent and RUN record): one fsync, which may stall.
        spend(profile.fsync_s, may_stall=True)
        return append_many(records, **options)

    journal.append_many = slow_append_many

    waker: Any = simulation.daemon.waker
    sleep = waker.sleep

    def late_sleep(seconds: float) -> None:
        sleep(seconds)
        spend(profile.oversleep_s, may_stall=True)

    waker.sleep = late_sleep
