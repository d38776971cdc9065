"""The NE-1000 driver translates its alarm letters into the vendor-neutral vocabulary."""

from __future__ import annotations

import pytest

from pumpctl.drivers.base import PumpAlarm
from pumpctl.drivers.ne1000_link import alarm_error, pump_alarm


@pytest.mark.parametrize(
    ("letter", "alarm"),
    [
        ("R", PumpAlarm.POWER_RESET),
        ("S", PumpAlarm.STALL),
        ("T", PumpAlarm.WATCHDOG_TIMEOUT),
        ("E", PumpAlarm.PROGRAM_ERROR),
        ("O", PumpAlarm.PHASE_OUT_OF_RANGE),
        ("Z", PumpAlarm.UNKNOWN),
        ("", PumpAlarm.UNKNOWN),
    ],
)
def test_ne1000_letters_translate_to_the_neutral_vocabulary(letter: str, alarm: PumpAlarm) -> None:
    """Each alarm letter of the manual has its own member; any other letter is UNKNOWN."""
    assert pump_alarm(letter) is alarm
    error = alarm_error(letter, "x", command="RUN", executed=False)
    assert (error.alarm, error.vendor_code) == (alarm, letter)
