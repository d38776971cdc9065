"""Checks across fields and sections, once each section is valid on its own.

Invariant: a prescription that any configured limit would deny is refused here, before the
daemon starts, with one line per broken limit; the gate still checks every pulse at run time.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pumpctl.config.sections import (
    DRIVER_BAUD_RATES,
    LimitsSection,
    PrescriptionSection,
    PumpSection,
)
from pumpctl.core.model import PUMP_RESOLUTION, Limits, Prescription, ProfileWindow


def resolve_anchor(anchor: datetime | time, timezone: str, now: datetime) -> datetime:
    """The first-pulse anchor as an aware date-time.

    A time of day means the latest moment at or before ``now`` when the clock in ``timezone``
    showed that time: restarts on the same day keep the same cadence, and the planner never
    sees an anchor in the future that would hold back today's pulses.
    """
    if isinstance(anchor, datetime):
        return anchor.astimezone(UTC)
    zone = ZoneInfo(timezone)
    local_day = now.astimezone(zone).date()
    candidate = datetime.combine(local_day, anchor, tzinfo=zone)
    if candidate > now:
        # Yesterday's local time always lies before today's local midnight, hence before now.
        candidate = datetime.combine(local_day - timedelta(days=1), anchor, tzinfo=zone)
    return candidate.astimezone(UTC)


def build_prescription(section: PrescriptionSection, now: datetime) -> Prescription:
    """The domain prescription from a validated section."""
    return Prescription(
        dose_ug=section.dose_ug,
        concentration_ug_per_ml=section.concentration_ug_per_ml,
        interval_min=section.interval_min,
        pulse_duration_s=section.pulse_duration_s,
        anchor=resolve_anchor(section.anchor, section.timezone, now),
        timezone=section.timezone,
        profile=tuple(
            ProfileWindow(start=w.start, end=w.end, interval_min=w.interval_min)
            for w in section.profile
        ),
    )


def build_limits(section: LimitsSection) -> Limits:
    """The domain limits; ``Limits.__post_init__`` re-checks every hard ceiling (SR-03)."""
    return Limits(**section.model_dump())


def _divisors_near(number: int, target: Decimal) -> tuple[int | None, int | None]:
    """The divisors of ``number`` closest below and above ``target``."""
    below: int | None = None
    above: int | None = None
    for small in range(1, math.isqrt(number) + 1):
        if number % small:
            continue
        for divisor in (small, number // small):
            if divisor <= target and (below is None or divisor > below):
                below = divisor
            if divisor >= target and (above is None or divisor < above):
                above = divisor
    return below, above


def suggest_concentrations(dose_ug: Decimal, concentration_ug_per_ml: Decimal) -> list[int]:
    """Whole concentrations near the given one at which the dose is a whole number of nL.

    Volume (uL) = dose * 1000 / concentration is exact at 0.001 uL when the concentration
    divides dose * 10**6; the dose has at most three decimals, so that product is whole.
    """
    scaled = dose_ug * 1_000_000
    if scaled != scaled.to_integral_value():
        return []
    below, above = _divisors_near(int(scaled), concentration_ug_per_ml)
    return sorted({c for c in (below, above) if c is not None})


def _volume_problem(prescription: Prescription) -> str:
    suggestions = suggest_concentrations(prescription.dose_ug, prescription.concentration_ug_per_ml)
    volume = prescription.volume_ul
    shown = f"{volume.quantize(Decimal('0.000001')).normalize():f}"
    advice = (
        "; e.g. concentration_ug_per_ml = " + " or ".join(str(c) for c in suggestions)
        if suggestions
        else ""
    )
    return (
        f"prescription.concentration_ug_per_ml = {prescription.concentration_ug_per_ml}: "
        f"dose {prescription.dose_ug} ug needs about {shown} uL, not a whole multiple of the "
        f"pump's {PUMP_RESOLUTION} uL; allowed a concentration that gives an exact volume" + advice
    )


def prescription_problems(prescription: Prescription, limits: Limits) -> list[str]:
    """Each way the prescription breaks a limit, one line each."""
    problems: list[str] = []
    p = prescription
    if p.dose_ug > limits.max_dose_per_pulse_ug:
        problems.append(
            f"prescription.dose_ug = {p.dose_ug}: allowed <= "
            f"limits.max_dose_per_pulse_ug = {limits.max_dose_per_pulse_ug} ug"
        )
    if not p.volume_exact:
        problems.append(_volume_problem(p))
    elif p.volume_ul > limits.max_pulse_volume_ul:
        problems.append(
            f"prescription.dose_ug = {p.dose_ug}: at {p.concentration_ug_per_ml} ug/mL that is "
            f"{p.volume_ul.normalize():f} uL per pulse; allowed <= limits.max_pulse_volume_ul = "
            f"{limits.max_pulse_volume_ul} uL"
        )
    intervals = [("prescription.interval_min", p.interval_min)] + [
        (f"prescription.profile[{i}].interval_min", w.interval_min) for i, w in enumerate(p.profile)
    ]
    problems.extend(
        f"{path} = {minutes}: allowed >= limits.min_interval_min = {limits.min_interval_min} min"
        for path, minutes in intervals
        if minutes < limits.min_interval_min
    )
    if p.pulse_duration_s > limits.max_pulse_duration_s:
        problems.append(
            f"prescription.pulse_duration_s = {p.pulse_duration_s}: allowed <= "
            f"limits.max_pulse_duration_s = {limits.max_pulse_duration_s} s"
        )
    if p.max_pulses_per_24h > limits.max_pulses_24h:
        problems.append(
            f"prescription.interval_min: the shortest interval ({p.shortest_interval_min} min) "
            f"gives up to {p.max_pulses_per_24h} pulses per 24 h; allowed <= "
            f"limits.max_pulses_24h = {limits.max_pulses_24h}"
        )
    if p.max_daily_dose_ug > limits.max_dose_24h_ug:
        problems.append(
            f"prescription.dose_ug = {p.dose_ug}: up to {p.max_pulses_per_24h} pulses give "
            f"{p.max_daily_dose_ug} ug per 24 h; allowed <= limits.max_dose_24h_ug = "
            f"{limits.max_dose_24h_ug} ug"
        )
    return problems


def syringe_problems(prescription: Prescription, pump: PumpSection) -> list[str]:
    """Whether one pulse fits the syringe at all."""
    if prescription.volume_exact and prescription.volume_ul > pump.syringe_volume_ul:
        return [
            f"pump.syringe_volume_ul = {pump.syringe_volume_ul}: smaller than one pulse "
            f"({prescription.volume_ul.normalize():f} uL); allowed >= the pulse volume"
        ]
    return []


def driver_problems(pump: PumpSection) -> list[str]:
    """Settings the named pump family cannot take (each family has its own baud rates)."""
    rates = DRIVER_BAUD_RATES[pump.driver]
    if pump.baud in rates:
        return []
    return [
        f"pump.baud = {pump.baud}: the {pump.driver} driver's pumps offer "
        f"{', '.join(str(rate) for rate in rates)}"
    ]
