"""Numbers and units as a Protocol 11 pump reads and prints them, and its rate limits.

Volumes and rates carry their units in every command and reply (``500 ul``, ``1.5 ml/min``).
Units may be abbreviated to their first letters (``m`` for ml, ``m/m`` for ml/min, ``u/h`` for
ul/hr). Values are printed with at most six significant digits; volumes in the unit that keeps
them at or above 1 (``30 nl``, ``12.5 ul``, ``2 ml``), rates in the units they were set in.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

#: Volume units and their factor to microlitres.
VOLUME_UNITS_TO_UL = {"ml": 1000.0, "ul": 1.0, "nl": 1e-3, "pl": 1e-6}
#: Time units of a rate and their factor to minutes.
TIME_UNITS_TO_MIN = {"hr": 60.0, "min": 1.0, "sec": 1.0 / 60.0}
#: Smallest and largest syringe inside diameter the pump accepts (Pump 11 Elite metrics).
MIN_DIAMETER_MM = 0.1
MAX_DIAMETER_MM = 33.0
#: Pusher speed limits, from the published flow range (1.28 pl/min with a 0.103 mm syringe,
#: 88.28 ml/min with a 26.7 mm one).
MIN_SPEED_MM_PER_MIN = 1.28e-6 / (math.pi * (0.103 / 2) ** 2)
MAX_SPEED_MM_PER_MIN = 88280.0 / (math.pi * (26.7 / 2) ** 2)
SIGNIFICANT_DIGITS = 6

_NUMBER_RE = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+\.")
_VOLUME_ABBREVIATIONS = {"m": "ml", "u": "ul", "n": "nl", "p": "pl"}
_TIME_ABBREVIATIONS = {"h": "hr", "m": "min", "s": "sec"}


def parse_number(text: str) -> float | None:
    """A decimal number (an exponent is accepted too); None if it is not one or not finite."""
    if not _NUMBER_RE.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def volume_unit(text: str) -> str | None:
    """``ml``/``ul``/``nl``/``pl`` for a volume unit or its abbreviation; None otherwise."""
    unit = text.lower()
    unit = _VOLUME_ABBREVIATIONS.get(unit, unit)
    return unit if unit in VOLUME_UNITS_TO_UL else None


def rate_unit(text: str) -> str | None:
    """``ml/min`` style rate unit for ``text`` (``m/m``, ``ul/hr``, ``u/h`` ...); None if none."""
    volume, sep, time = text.lower().partition("/")
    unit = volume_unit(volume)
    time = _TIME_ABBREVIATIONS.get(time, time)
    if not sep or unit is None or time not in TIME_UNITS_TO_MIN:
        return None
    return f"{unit}/{time}"


def rate_factor(unit: str) -> float:
    """Factor from a rate in ``unit`` to uL/min."""
    volume, _, time = unit.partition("/")
    return VOLUME_UNITS_TO_UL[volume] / TIME_UNITS_TO_MIN[time]


def significant(value: float) -> str:
    """``value`` rounded to six significant digits, without exponent or trailing zeros."""
    if value == 0:
        return "0"
    exact = Decimal(repr(value))
    digits = SIGNIFICANT_DIGITS - exact.adjusted() - 1
    rounded = round(exact, digits)
    text = f"{rounded:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def displayed(value: float) -> float:
    """``value`` as it reads back after printing (six significant digits)."""
    return float(significant(value))


def format_volume(volume_ul: float) -> str:
    """A volume in the unit that keeps it at or above 1 (``0 ul`` when zero)."""
    if volume_ul <= 0:
        return "0 ul"
    for unit in ("ml", "ul", "nl"):
        if volume_ul >= VOLUME_UNITS_TO_UL[unit]:
            return f"{significant(volume_ul / VOLUME_UNITS_TO_UL[unit])} {unit}"
    return f"{significant(volume_ul / VOLUME_UNITS_TO_UL['pl'])} pl"


def format_rate_auto(rate_ul_per_min: float) -> str:
    """A rate per minute in the volume unit that keeps it at or above 1."""
    volume = format_volume(rate_ul_per_min)
    return f"{volume}/min"


def rate_limits_ul_per_min(diameter_mm: float) -> tuple[float, float]:
    """(minimum, maximum) rate in uL/min for a syringe of ``diameter_mm``, as displayed."""
    area = math.pi * (diameter_mm / 2.0) ** 2
    low, high = area * MIN_SPEED_MM_PER_MIN, area * MAX_SPEED_MM_PER_MIN
    return _displayed_auto(low), _displayed_auto(high)


def _displayed_auto(rate_ul_per_min: float) -> float:
    number, unit = format_volume(rate_ul_per_min).split(" ")
    return float(number) * VOLUME_UNITS_TO_UL[unit]
