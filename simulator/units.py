"""Numbers and units as the NE-1000 reads and prints them, and its diameter-dependent rate limits.

The pump accepts numbers of at most four digits and one decimal point (three decimals at most) and
prints values with four significant digits; these helpers are the simulator's one place for both.
"""

from __future__ import annotations

import math
import re

#: Maximum plunger speed of the NE-1000 (manual: about 5.1 cm/min), in mm/min.
MAX_SPEED_MM_PER_MIN = 51.0
#: Minimum plunger speed of the NE-1000 (manual: about 0.004205 cm/h), in mm/min.
MIN_SPEED_MM_PER_MIN = 0.04205 / 60.0
#: Diameters up to this use microlitres as the default volume unit; larger ones millilitres.
UL_DIAMETER_LIMIT_MM = 14.0

#: Rate units and their factor to microlitres per minute.
RATE_UNITS_TO_UL_PER_MIN = {"UM": 1.0, "MM": 1000.0, "UH": 1.0 / 60.0, "MH": 1000.0 / 60.0}
#: Volume units and their factor to microlitres.
VOLUME_UNITS_TO_UL = {"UL": 1.0, "ML": 1000.0}

_NUMBER_RE = re.compile(r"\d{1,4}(\.\d{0,3})?|\.\d{1,3}")


def parse_number(text: str) -> float | None:
    """The pump's ``<float>``: at most 4 digits, one point, 3 decimals; None if malformed."""
    if not _NUMBER_RE.fullmatch(text):
        return None
    digits = sum(c.isdigit() for c in text)
    return float(text) if digits <= 4 else None


def format_number(value: float) -> str:
    """Four significant digits with a decimal point, as the pump prints (``0.050``, ``26.59``)."""
    value = max(value, 0.0)
    for decimals, limit in ((3, 9.9995), (2, 99.995), (1, 999.95)):
        if value < limit:
            return f"{value:.{decimals}f}"
    return f"{min(value, 9999.0):.0f}."


def round_to_display(value: float) -> float:
    """``value`` as it reads back after printing: the pump's resolution at that magnitude."""
    return float(format_number(value))


def piston_area_mm2(diameter_mm: float) -> float:
    """Cross-section of a syringe of inside diameter ``diameter_mm``; 1 mm of travel = area uL."""
    return math.pi * (diameter_mm / 2.0) ** 2


def rate_limits_ul_per_min(diameter_mm: float) -> tuple[float, float]:
    """(minimum, maximum) pumping rate in uL/min for a syringe of ``diameter_mm``."""
    area = piston_area_mm2(diameter_mm)
    return area * MIN_SPEED_MM_PER_MIN, area * MAX_SPEED_MM_PER_MIN


def default_volume_units(diameter_mm: float) -> str:
    """The volume unit the pump selects when the diameter is set."""
    return "UL" if diameter_mm <= UL_DIAMETER_LIMIT_MM else "ML"
