"""A pump without a communications watchdog is announced, never assumed to have one."""

from __future__ import annotations

from typing import Any

import structlog

from pumpctl.daemon.assemble import pump_watchdog
from pumpctl.drivers.base import PumpDriver
from pumpctl.drivers.harvard11 import Harvard11Driver
from pumpctl.drivers.ne1000 import Ne1000Driver


def test_a_pump_without_watchdog_is_logged_with_the_compensation() -> None:
    """harvard11 reports no watchdog; the daemon logs pump.no_watchdog and what replaces it."""
    with structlog.testing.capture_logs() as logs:
        assert pump_watchdog(Harvard11Driver("loop://")) is False  # type: ignore[arg-type]
    events: list[dict[str, Any]] = [e for e in logs if e["event"] == "pump.no_watchdog"]
    assert len(events) == 1
    assert "target volume" in events[0]["compensation"]


def test_an_ne1000_keeps_its_watchdog_without_a_warning() -> None:
    """The NE-1000's safe mode is the watchdog: nothing to announce."""
    driver: PumpDriver = Ne1000Driver("loop://")
    with structlog.testing.capture_logs() as logs:
        assert pump_watchdog(driver) is True
    assert not [e for e in logs if e["event"] == "pump.no_watchdog"]
