"""Whether the configured pump can be told the prescription exactly, and its runaway bounded.

``config check``, a reload and ``plan`` all load the configuration through these checks, so a
dose, volume, rate or syringe diameter the driver cannot state exactly (SR-04 at the wire), or
a rate too fast for the link to stop a runaway within the SR-25 bound, is refused with exit 78
before the daemon ever commands it. Each line names the field to change and the nearest values
that work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import cast

from pumpctl.config.sections import PumpSection
from pumpctl.core.model import Limits, Prescription
from pumpctl.core.overshoot import LinkTiming, overshoot_bound_ul, plan_watch
from pumpctl.drivers.base import PumpVocabulary, shown
from pumpctl.drivers.registry import get_driver_class
from pumpctl.errors import PumpctlError

#: How far from the prescribed pulse duration to look for one that works (seconds).
DURATION_SEARCH_S = 120


def vocabulary_for(pump: PumpSection) -> PumpVocabulary:
    """The configured driver's vocabulary for the configured syringe."""
    cls = get_driver_class(pump.driver)
    describe = getattr(cls, "vocabulary", None)
    if describe is None:
        raise PumpctlError(
            f"driver {pump.driver!r} does not say what its pump can be told (no vocabulary());"
            " pumpctl cannot check a prescription for it"
        )
    return cast(PumpVocabulary, describe(pump.syringe_diameter_mm))


def nominal_timing(words: PumpVocabulary, baud: int) -> LinkTiming:
    """The link's reading and stop times before any has been measured: wire time plus host."""
    return LinkTiming.nominal(words.link.progress_s(baud), words.link.stop_s(baud))


def _or(values: Iterable[Decimal | int | None], unit: str = "") -> str:
    texts = [shown(Decimal(v)) + unit for v in values if v is not None]
    return " or ".join(dict.fromkeys(texts))


def _doses_for(volumes: Iterable[Decimal | None], p: Prescription, limits: Limits) -> list[Decimal]:
    """Doses (at most 3 decimals, within the limit) that give exactly these volumes."""
    found = []
    for volume in volumes:
        if volume is None:
            continue
        dose = volume * p.concentration_ug_per_ml / 1000
        if dose == dose.quantize(Decimal("0.001")) and 0 < dose <= limits.max_dose_per_pulse_ug:
            found.append(dose)
    return found


def _near_durations(p: Prescription, limits: Limits, works: Callable[[int], bool]) -> list[int]:
    """The pulse durations nearest the prescribed one, below and above, for which ``works``."""
    found = []
    ceiling = limits.max_pulse_duration_s
    for direction in (-1, 1):
        for distance in range(1, DURATION_SEARCH_S + 1):
            duration = p.pulse_duration_s + direction * distance
            if not 1 <= duration <= ceiling:
                break
            if works(duration):
                found.append(duration)
                break
    return found


def _rate_at(p: Prescription, duration_s: int) -> Decimal:
    return dataclasses.replace(p, pulse_duration_s=duration_s).rate_ul_per_min


def sendable_problems(prescription: Prescription, limits: Limits, pump: PumpSection) -> list[str]:
    """One line per setting the configured pump cannot be told, or cannot be stopped within."""
    p = prescription
    try:
        words = vocabulary_for(pump)
    except PumpctlError as err:
        return [f"pump.driver = {pump.driver!r}: {err}"]
    problems = []
    diameter = pump.syringe_diameter_mm
    why = words.syringe_diameter_mm.problem(diameter)
    if why is not None:
        problems.append(
            f"pump.syringe_diameter_mm = {diameter}: {why}; nearest sendable "
            f"{_or(words.syringe_diameter_mm.nearest(diameter))}"
        )
    if not p.volume_exact:
        return problems  # the volume itself is already refused with its own line
    volume = p.volume_ul
    volume_text = f"{volume.normalize():f} uL"
    why = words.volume_ul.problem(volume)
    if why is not None:
        nearest = words.volume_ul.nearest(volume)
        doses = _doses_for(nearest, p, limits)
        advice = f"; e.g. prescription.dose_ug = {_or(doses)}" if doses else ""
        problems.append(
            f"prescription.dose_ug = {p.dose_ug}: at {shown(p.concentration_ug_per_ml)} ug/mL "
            f"that is {volume_text} per pulse, which the {pump.driver} driver cannot send "
            f"exactly with a {diameter} mm syringe (a volume {why}); nearest sendable volumes "
            f"{_or(nearest, ' uL')}{advice}"
        )
        return problems

    def sendable(duration_s: int) -> bool:
        return words.rate_ul_per_min.problem(_rate_at(p, duration_s)) is None

    rate = p.rate_ul_per_min
    why = words.rate_ul_per_min.problem(rate)
    if why is not None:
        durations = _near_durations(p, limits, sendable)
        advice = f"; pulse_duration_s = {_or(durations)} give rates it can" if durations else ""
        problems.append(
            f"prescription.pulse_duration_s = {p.pulse_duration_s}: {volume_text} in "
            f"{p.pulse_duration_s} s needs {shown(rate)} uL/min, which the {pump.driver} driver "
            f"cannot send exactly with a {diameter} mm syringe (a rate {why}){advice}"
        )
        return problems
    timing = nominal_timing(words, pump.baud)
    step = words.totals_step_ul(volume + overshoot_bound_ul(volume))

    def bounded(duration_s: int) -> bool:
        if not sendable(duration_s):
            return False
        plan = plan_watch(volume, _rate_at(p, duration_s), timing, step_ul=step, heartbeat_s=1)
        return plan.feasible

    plan = plan_watch(volume, rate, timing, step_ul=step, heartbeat_s=1)
    if not plan.feasible:
        longer = [d for d in _near_durations(p, limits, bounded) if d > p.pulse_duration_s]
        advice = f"; pulse_duration_s = {longer[0]} or longer keeps it within" if longer else ""
        if step >= plan.bound_ul:
            advice = (
                f"; the pump prints its totals in {shown(step)} uL steps with this syringe, too "
                "coarse to see a runaway in time: use a syringe whose totals it counts finer "
                "(docs/driver.md) or larger pulses"
            )
        problems.append(
            f"prescription.pulse_duration_s = {p.pulse_duration_s}: at {pump.baud} baud "
            f"{plan.describe()} (SR-25){advice}"
        )
    return problems
