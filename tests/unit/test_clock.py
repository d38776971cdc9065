"""The clocks: virtual time moves only when told, elapsed time never goes backwards."""

from datetime import UTC, datetime

import pytest

from pumpctl.core.clock import Clock, ScaledClock, SystemClock, VirtualClock


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
