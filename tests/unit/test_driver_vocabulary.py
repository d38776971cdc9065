"""What an NE-1000 can be told exactly, and the read-back and progress calls built on it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpctl.core.clock import VirtualClock
from pumpctl.drivers.base import Direction, NumberFormat, Stated
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.drivers.ne1000_units import vocabulary
from pumpctl.drivers.testing import SpyTransport
from pumpctl.errors import UnsendableError
from pumpctl.simulator.loopback import LoopbackTransport
from pumpctl.simulator.session import Ne1000Simulator

SMALL = Decimal("4.78")  # BD 1 mL: volumes in uL
LARGE = Decimal("26.59")  # BD 60 mL: volumes in mL


def rig(diameter: Decimal) -> tuple[VirtualClock, Ne1000Simulator, SpyTransport, Ne1000Driver]:
    clock = VirtualClock()
    sim = Ne1000Simulator(clock, syringe_ul=50_000.0)
    spy = SpyTransport(LoopbackTransport(sim))
    driver = Ne1000Driver("loop://", transport=spy)
    driver.connect()
    driver.self_test(syringe_diameter_mm=diameter)
    return clock, sim, spy, driver


@pytest.mark.parametrize(
    ("volume", "ok"),
    [("12.34", True), ("12.345", False), ("0.125", True), ("1234", True), ("12345", False)],
)
def test_microlitre_volumes_take_four_digits_three_decimals(volume: str, ok: bool) -> None:
    """Up to 14.00 mm the volume goes out in uL with at most 4 digits and 3 decimals."""
    words = vocabulary(SMALL)
    assert (words.volume_ul.problem(Decimal(volume)) is None) is ok


def test_a_large_syringe_states_volumes_in_millilitres() -> None:
    """Over 14.00 mm the pump counts mL: 10 uL is 0.010 mL, but 12.5 uL needs 4 decimals."""
    words = vocabulary(LARGE)
    assert words.volume_ul.stated(Decimal(10)) == Stated(Decimal("0.010"), "ML")
    assert words.volume_ul.stated(Decimal("12.5")) is None
    assert words.volume_ul.nearest(Decimal("12.5")) == (Decimal(12), Decimal(13))
    assert words.totals_step_ul(Decimal(10)) == Decimal(1)  # DIS prints 0.010 ML
    assert vocabulary(SMALL).totals_step_ul(Decimal(10)) == Decimal("0.01")  # 10.00 UL


def test_rates_the_pump_cannot_state_name_their_neighbours() -> None:
    """66.667 uL/min has no 4-digit form in any rate unit; 66.66 and 66.67 do."""
    rates = vocabulary(SMALL).rate_ul_per_min
    assert rates.stated(Decimal("66.667")) is None
    assert rates.nearest(Decimal("66.667")) == (Decimal("66.66"), Decimal("66.67"))
    assert rates.stated(Decimal("0.0125")) == Stated(Decimal("0.7500"), "UH")


def test_rate_range_follows_the_bore() -> None:
    """A rate above the plunger's top speed for the syringe is out of range, not unsendable."""
    rates = vocabulary(SMALL).rate_ul_per_min
    problem = rates.problem(Decimal(1000))
    assert problem is not None and problem == "allowed 0.0125766..915.199"


@given(st.decimals(min_value=0, max_value=20000, places=4, allow_nan=False))
def test_neighbours_are_statable_and_bracket_the_value(number: Decimal) -> None:
    """The nearest statable numbers below and above are statable and enclose the number."""
    fmt = NumberFormat(4, 3)
    below, above = fmt.neighbours(number)
    assert below is not None and fmt.states(below) and below <= number
    if above is not None:
        assert fmt.states(above) and above >= number
        assert above - below <= fmt.step(number) * 10  # no statable number skipped by much
    if fmt.states(number):
        assert below == above == number


def test_program_bolus_uses_the_diameters_volume_unit() -> None:
    """With a 26.59 mm syringe the driver sends VOL ML and the volume in mL."""
    _, sim, spy, driver = rig(LARGE)
    driver.program_bolus(Decimal(10), Decimal(1000))
    assert spy.texts()[-4:] == ["DIRINF", "VOLML", "VOL0.01", "RAT1000UM"]
    assert sim.pump.phases[1].volume_ul == pytest.approx(10.0)


def test_program_bolus_refuses_an_unsendable_volume_as_its_own_error() -> None:
    """A volume the pump cannot state is UnsendableError (not a configuration error)."""
    _, _, spy, driver = rig(LARGE)
    before = len(spy.commands)
    with pytest.raises(UnsendableError, match=r"volume_ul=12\.5 cannot be stated exactly in ML"):
        driver.program_bolus(Decimal("12.5"), Decimal(1000))
    assert len(spy.commands) == before


def test_read_settings_reports_what_the_pump_states() -> None:
    """DIA, DIR, VOL and RAT come back as numbers with their units."""
    _, _, _, driver = rig(SMALL)
    driver.program_bolus(Decimal(10), Decimal("0.0375"))
    settings = driver.read_settings()
    expected = vocabulary(SMALL).settings_for(SMALL, Decimal(10), Decimal("0.0375"))
    assert expected is not None
    assert expected.mismatches(settings) == ()
    assert settings.direction is Direction.INFUSE
    assert (str(settings.volume), str(settings.rate)) == ("10.00UL", "2.250UH")


def test_read_settings_sees_a_diameter_changed_behind_the_drivers_back() -> None:
    """A raw DIA sent to the pump shows as a diameter (and volume unit) mismatch."""
    _, sim, _, driver = rig(SMALL)
    driver.program_bolus(Decimal(10), Decimal(10))
    sim.pump.diameter_mm = 20.0
    sim.pump.volume_units = "ML"
    expected = vocabulary(SMALL).settings_for(SMALL, Decimal(10), Decimal(10))
    assert expected is not None
    lines = expected.mismatches(driver.read_settings())
    assert any(line.startswith("syringe diameter reads 20.00") for line in lines)
    assert any(line.startswith("volume reads 0.010ML") for line in lines)


def test_progress_gives_state_and_totals_of_one_exchange() -> None:
    """One DIS exchange gives the pump's state and its totals."""
    clock, _, spy, driver = rig(SMALL)
    driver.clear_dispensed()
    driver.program_bolus(Decimal(10), Decimal(60))
    driver.run()
    clock.advance(5)
    before = len(spy.commands)
    reading = driver.progress()
    assert len(spy.commands) == before + 1
    assert reading.status.moving
    assert reading.totals.infused_ul == Decimal(5)
