"""Limits in the configuration: ceilings only narrow, and the prescription must fit the limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pumpctl.config.checks import suggest_concentrations
from pumpctl.core.model import PUMP_RESOLUTION, HardCeiling, Limits
from tests.unit.config_samples import changed, load, problems, valid_document

C = HardCeiling

# (limit, the hard ceiling itself, one step past it on the unsafe side)
CEILINGS = [
    ("min_interval_min", C.MIN_INTERVAL_MIN, C.MIN_INTERVAL_MIN - 1),
    ("max_pulses_24h", C.MAX_PULSES_24H, C.MAX_PULSES_24H + 1),
    ("max_dose_per_pulse_ug", C.MAX_DOSE_PER_PULSE_UG, C.MAX_DOSE_PER_PULSE_UG + PUMP_RESOLUTION),
    ("max_dose_24h_ug", C.MAX_DOSE_24H_UG, C.MAX_DOSE_24H_UG + PUMP_RESOLUTION),
    ("max_pulse_volume_ul", C.MAX_PULSE_VOLUME_UL, C.MAX_PULSE_VOLUME_UL + PUMP_RESOLUTION),
    ("max_pulse_duration_s", C.MAX_PULSE_DURATION_S, C.MAX_PULSE_DURATION_S + 1),
    (
        "exposure_threshold",
        Decimal(str(C.MAX_EXPOSURE_FRACTION)),
        Decimal(str(C.MAX_EXPOSURE_FRACTION)) + PUMP_RESOLUTION,
    ),
    ("grace_min", C.MAX_GRACE_MIN, C.MAX_GRACE_MIN + 1),
]


@pytest.mark.parametrize(("name", "ceiling", "beyond"), CEILINGS)
def test_limit_past_its_hard_ceiling_is_refused(name: str, ceiling: object, beyond: object) -> None:
    """SR-03: a limit one step past its hard ceiling is refused with the field and the range."""
    (line,) = problems(changed(f"limits.{name}", beyond))
    assert line.startswith(f"limits.{name} = {beyond}: allowed ")
    assert str(ceiling) in line


@pytest.mark.parametrize(("name", "ceiling", "beyond"), CEILINGS)
def test_limit_at_its_hard_ceiling_is_accepted(name: str, ceiling: object, beyond: object) -> None:
    """SR-03: a limit exactly at its hard ceiling is allowed (the prescription fits it)."""
    document = changed(f"limits.{name}", ceiling)
    if name == "min_interval_min":
        document["limits"]["max_pulses_24h"] = 16
    if name == "max_dose_24h_ug":
        document["limits"]["max_dose_per_pulse_ug"] = Decimal(25)
    value = getattr(load(document).limits, name)
    expected = (
        float(ceiling) if isinstance(ceiling, Decimal) and name == "exposure_threshold" else ceiling
    )
    assert value == expected


def test_narrowed_limits_are_in_force() -> None:
    """SR-03: narrower limits from the file replace the defaults, the rest stay default."""
    document = changed("prescription.interval_min", 100)
    document["limits"] = {
        "min_interval_min": 100,
        "max_pulses_24h": 15,  # 100-min starts: 15 fit in 24 h (0, 100, ..., 1400 min)
        "max_dose_per_pulse_ug": Decimal(12),
        "max_dose_24h_ug": Decimal(180),
        "exposure_threshold": Decimal("0.25"),
    }
    limits = load(document).limits
    assert limits.min_interval_min == 100
    assert limits.max_pulses_24h == 15
    assert limits.max_dose_24h_ug == Decimal(180)
    assert limits.exposure_threshold == 0.25
    assert limits.max_pulse_duration_s == Limits().max_pulse_duration_s


def test_absent_limits_are_the_safe_defaults() -> None:
    """Without a [limits] section the core's default limits apply."""
    document = valid_document()
    del document["limits"]
    assert load(document).limits == Limits()


def test_dose_above_the_configured_per_pulse_limit_is_refused() -> None:
    """A dose above limits.max_dose_per_pulse_ug is refused naming both fields."""
    document = changed("limits.max_dose_per_pulse_ug", Decimal(5))
    assert problems(document) == [
        "prescription.dose_ug = 10.0: allowed <= limits.max_dose_per_pulse_ug = 5.0 ug"
    ]


def test_pulse_volume_above_its_limit_is_refused() -> None:
    """A dose that needs more volume than limits.max_pulse_volume_ul is refused."""
    document = changed("prescription.concentration_ug_per_ml", Decimal(100))
    document["limits"]["max_pulse_volume_ul"] = Decimal(50)
    (line,) = problems(document)
    assert line == (
        "prescription.dose_ug = 10.0: at 100.0 ug/mL that is 100 uL per pulse; "
        "allowed <= limits.max_pulse_volume_ul = 50.0 uL"
    )


def test_volume_not_representable_at_pump_resolution_suggests_concentrations() -> None:
    """10 ug at 3000 ug/mL is 3.333... uL: refused, suggesting concentrations that are exact."""
    (line,) = problems(changed("prescription.concentration_ug_per_ml", Decimal(3000)))
    assert line.startswith("prescription.concentration_ug_per_ml = 3000.0: dose 10.0 ug needs")
    assert line.endswith("e.g. concentration_ug_per_ml = 2500 or 3125")


@pytest.mark.parametrize(
    ("dose", "concentration"),
    [("10", "3000"), ("7.5", "700"), ("0.001", "3"), ("25", "99999"), ("1.234", "0.7")],
)
def test_suggested_concentrations_give_exact_volumes(dose: str, concentration: str) -> None:
    """Every suggested concentration makes the pulse volume a whole number of nanolitres."""
    suggestions = suggest_concentrations(Decimal(dose), Decimal(concentration))
    assert suggestions
    for suggested in suggestions:
        volume = Decimal(dose) * 1000 / suggested
        assert volume == volume.quantize(PUMP_RESOLUTION)


@pytest.mark.parametrize(
    "path", ["limits.min_interval_min", "prescription.interval_min", "prescription.profile"]
)
def test_no_configuration_allows_an_interval_below_60_min(path: str) -> None:
    """SR-02: an interval of 59 min is refused wherever a configuration could set one."""
    if path == "prescription.profile":
        document = changed(path, [{"start": "08:00", "end": "09:00", "interval_min": 59}])
        path = "prescription.profile[0].interval_min"
    else:
        document = changed(path, 59)
    (line,) = problems(document)
    assert line == f"{path} = 59: allowed 60..1440 (minutes)"


def test_interval_shorter_than_the_minimum_interval_is_refused() -> None:
    """SR-02: a prescribed interval below limits.min_interval_min is refused."""
    document = changed("prescription.interval_min", 80)
    document["limits"]["max_pulses_24h"] = 18
    assert problems(document) == [
        "prescription.interval_min = 80: allowed >= limits.min_interval_min = 90 min"
    ]


def test_profile_interval_shorter_than_the_minimum_interval_is_refused() -> None:
    """SR-02: a profile window's interval below the minimum interval is refused by index."""
    document = valid_document()
    document["prescription"]["profile"] = [
        {"start": "08:00", "end": "12:00", "interval_min": 75},
    ]
    document["limits"] = {"max_pulses_24h": 20}
    assert problems(document) == [
        "prescription.profile[0].interval_min = 75: allowed >= limits.min_interval_min = 90 min"
    ]


def test_pulse_longer_than_the_duration_limit_is_refused() -> None:
    """SR-05: a pulse longer than limits.max_pulse_duration_s is refused."""
    document = changed("prescription.pulse_duration_s", 120)
    assert problems(document) == [
        "prescription.pulse_duration_s = 120: allowed <= limits.max_pulse_duration_s = 60 s"
    ]


def test_more_pulses_per_day_than_allowed_is_refused() -> None:
    """SR-03: an interval that gives more pulses per 24 h than the limit is refused."""
    document = changed("prescription.interval_min", 60)
    document["limits"]["min_interval_min"] = 60
    assert problems(document) == [
        "prescription.interval_min: the shortest interval (60 min) gives up to 24 pulses per "
        "24 h; allowed <= limits.max_pulses_24h = 16"
    ]


def test_more_dose_per_day_than_allowed_is_refused() -> None:
    """SR-03: a prescription whose daily dose exceeds limits.max_dose_24h_ug is refused."""
    document = changed("prescription.dose_ug", Decimal(20))
    document["limits"]["max_pulse_volume_ul"] = Decimal(20)
    document["limits"]["max_dose_24h_ug"] = Decimal(300)
    assert problems(document) == [
        "prescription.dose_ug = 20.0: up to 16 pulses give 320.0 ug per 24 h; "
        "allowed <= limits.max_dose_24h_ug = 300.0 ug"
    ]


def test_pulse_larger_than_the_syringe_is_refused() -> None:
    """A syringe smaller than one pulse is refused."""
    document = changed("pump.syringe_volume_ul", Decimal(5))
    (line,) = problems(document)
    assert line.startswith("pump.syringe_volume_ul = 5.0: smaller than one pulse (10 uL)")


def test_cross_checks_still_run_when_another_section_is_broken() -> None:
    """A broken [pump] does not hide a prescription that breaks a limit."""
    document = changed("prescription.interval_min", 80)
    document["limits"]["max_pulses_24h"] = 18
    document["pump"]["baud"] = 7
    lines = problems(document)
    assert [line.split(" = ")[0] for line in lines] == ["pump.baud", "prescription.interval_min"]
