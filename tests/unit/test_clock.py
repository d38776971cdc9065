"""The clocks: virtual time moves only when told, elapsed time never goes backwards."""

from datetime import UTC, datetime, timedelta

import pytest

from pumpctl.core.clock import Clock, ScaledClock, SystemClock, VirtualClock, seconds_to_us


def test_virtual_clock_advance_moves_wall_and_elapsed_together() -> None:
    """Advancing a virtual clock moves both readings by the same amount."""
    clock = VirtualClock(datetime(2026, 3, 1, tzinfo=UTC), elapsed_s=10.0)
    clock.advance(90.5)
    assert clock.now() == datetime(2026, 3, 1, 0, 1, 30, 500000, tzinfo=UTC)
    assert clock.elapsed_s() == 100.5


def test_virtual_clock_wall_step_leaves_elapsed_alone() -> None:
    """A wall-clock step (NTP, operator) does not move the elapsed clock."""
    clock = VirtualClock(datetime(2026, 3, 1, tzinfo=UTC), elapsed_s=10.0)
    clock.step_wall(-3600)
    assert clock.now() == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    assert clock.elapsed_s() == 10.0


def test_virtual_clock_reboot_changes_boot_id_and_restarts_elapsed() -> None:
    """A reboot gives a new boot id and an elapsed origin unrelated to the old one."""
    clock = VirtualClock(elapsed_s=5000.0)
    old = clock.boot_id
    clock.reboot(downtime_s=120, wall_error_s=-7200)
    assert clock.boot_id != old
    assert clock.elapsed_s() < 5000.0


def test_virtual_clock_refuses_negative_advance() -> None:
    """Time cannot be advanced backwards; wall steps are the way to model that."""
    with pytest.raises(ValueError, match="negative"):
        VirtualClock().advance(-1)


def test_system_clock_is_utc_and_monotonic() -> None:
    """The system clock reports aware UTC wall time and a non-decreasing elapsed reading."""
    clock = SystemClock()
    assert isinstance(clock, Clock)
    assert clock.now().tzinfo is UTC
    first = clock.elapsed_s()
    assert clock.elapsed_s() >= first
    assert clock.boot_id


def test_scaled_clock_runs_faster_than_its_base() -> None:
    """A scaled clock advances N times as fast as the clock it is built on."""
    base = VirtualClock(datetime(2026, 3, 1, tzinfo=UTC))
    scaled = ScaledClock(60.0, base=base)
    start_wall, start_elapsed = scaled.now(), scaled.elapsed_s()
    base.advance(2.0)
    assert (scaled.now() - start_wall).total_seconds() == pytest.approx(120.0)
    assert scaled.elapsed_s() - start_elapsed == pytest.approx(120.0)


def test_virtual_clock_stays_exact_over_a_million_small_steps() -> None:
    """SR-32: a year of small advances leaves wall and elapsed time in exact lock-step."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    clock = VirtualClock(start, elapsed_s=1000.0)
    for _ in range(1_000_000):
        clock.advance(0.1)
    assert clock.now() - start == timedelta(seconds=100_000)
    assert clock.elapsed_us() == 1000 * 10**6 + 100_000 * 10**6


def test_advance_to_lands_exactly_on_a_microsecond_instant() -> None:
    """SR-32: advancing to an instant with microseconds reads that instant exactly."""
    clock = VirtualClock(datetime(2026, 3, 1, 7, 59, 59, 999_999, tzinfo=UTC), elapsed_s=3.000001)
    target = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    clock.advance_to(target)
    assert clock.now() == target
    assert clock.elapsed_us() == 3_000_001 + (90 * 60 * 10**6 + 1)


def test_seconds_to_us_recovers_journaled_readings_exactly() -> None:
    """SR-32: an elapsed reading stored as float seconds comes back as the same microsecond."""
    for us in (0, 1, 5_399_999_999, 1_767_225_600_123_457, 2**31 * 10**6 - 1):
        assert seconds_to_us(us / 1_000_000) == us


def test_system_clock_elapsed_us_is_an_integer_that_never_decreases() -> None:
    """The real clock's exact reading is whole microseconds and monotonic."""
    clock = SystemClock()
    first = clock.elapsed_us()
    assert isinstance(first, int)
    assert clock.elapsed_us() >= first
    assert clock.scale == 1.0


def test_scaled_clock_anchors_at_the_given_base_reading() -> None:
    """A scaled clock anchored at an earlier base reading already counts the time since then."""
    base = VirtualClock(datetime(2026, 3, 1, tzinfo=UTC), elapsed_s=100.0)
    origin = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    anchored_at = base.elapsed_us()
    base.advance(0.5)  # e.g. a port closing between reading the origin and building the clock
    scaled = ScaledClock(600.0, origin=origin, base=base, origin_elapsed_us=anchored_at)
    assert scaled.now() == origin + timedelta(seconds=300)
    assert scaled.scale == 600.0
