"""The pulse monitor's sleep serves operator requests and ends exactly on a microsecond clock."""

from __future__ import annotations

from datetime import UTC, datetime

from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.operator import ServingWaiter
from pumpctl.daemon.waiting import VirtualWaker

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_a_sleep_ends_although_float_seconds_leave_a_sub_microsecond_remainder() -> None:
    """At this elapsed reading, (elapsed + 0.001) - (elapsed + 1 ms) is 9e-13 s in floats: a
    remainder the clock cannot advance by. The sleep must still end, after exactly 1 ms."""
    clock = VirtualClock(START, elapsed_s=5000.000028)
    assert clock.elapsed_us() == 5_000_000_028
    served: list[int] = []
    waiter = ServingWaiter(VirtualWaker(clock), clock, lambda: served.append(clock.elapsed_us()))
    waiter.sleep(0.001)
    assert clock.elapsed_us() == 5_000_001_028
    assert served == [5_000_000_028, 5_000_001_028]


def test_many_short_sleeps_add_up_exactly() -> None:
    clock = VirtualClock(START, elapsed_s=5000.0)
    waiter = ServingWaiter(VirtualWaker(clock), clock, lambda: None)
    for _ in range(10_000):
        waiter.sleep(0.001)
    assert clock.elapsed_us() == 5_010_000_000


def test_a_zero_sleep_serves_once_and_moves_nothing() -> None:
    clock = VirtualClock(START, elapsed_s=5000.0)
    served: list[int] = []
    ServingWaiter(VirtualWaker(clock), clock, lambda: served.append(1)).sleep(0.0)
    assert served == [1] and clock.elapsed_us() == 5_000_000_000
