"""NE-1000 numbers and units on the driver side: exact number text, rate units, limits, DIS totals.

The pump takes numbers of at most four digits with at most three decimals. A dose must never be
rounded on its way to the pump, so a value that cannot be written exactly is refused, not
rounded (SR-04 at the wire).
"""

from __future__ import annotations

import re
from decimal import Decimal

from pumpctl.errors import ConfigError, ProtocolError

#: NE-1000 plunger speed limits (manual: about 5.1 cm/min and 0.004205 cm/h), in mm/min.
MAX_SPEED_MM_PER_MIN = Decimal("51")
MIN_SPEED_MM_PER_MIN = Decimal("0.04205") / Decimal(60)
#: Largest number the pump can be sent (four digits).
MAX_NUMBER = Decimal("9999")
#: Finest volume step the pump can be programmed in, in uL (three decimals of uL).
VOLUME_RESOLUTION_UL = Decimal("0.001")
#: pi to more places than any syringe diameter is known to.
_PI = Decimal("3.14159265358979323846")

#: Rate units the driver may send, in order of preference, with the exact factor that turns
#: uL/min into that unit (a multiplication, so no repeating decimal is ever involved).
RATE_UNITS: tuple[tuple[str, Decimal], ...] = (
    ("UM", Decimal(1)),
    ("UH", Decimal(60)),
    ("MM", Decimal("0.001")),
    ("MH", Decimal("0.06")),
)
_VOLUME_FACTORS = {"UL": Decimal(1), "ML": Decimal(1000)}
_NUMBER = r"\d+\.?\d*|\.\d+"
_DIS_RE = re.compile(rf"I(?P<inf>{_NUMBER})W(?P<wdr>{_NUMBER})(?P<units>UL|ML)")
_NUMBER_RE = re.compile(_NUMBER)


def format_number(value: Decimal, *, field: str) -> str:
    """``value`` as pump text, exactly; :class:`ConfigError` naming ``field`` when impossible."""
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{field}={value} is not a finite number >= 0")
    integer_digits = len(str(int(value)))
    decimals = min(3, 4 - integer_digits)
    if decimals < 0:
        raise ConfigError(f"{field}={value} exceeds the pump's largest number {MAX_NUMBER}")
    quantum = Decimal(1).scaleb(-decimals)
    if value.quantize(quantum) != value:
        raise ConfigError(
            f"{field}={value} cannot be sent exactly: the pump takes at most 4 digits and "
            f"{decimals} decimal(s) at this size"
        )
    text = f"{value.quantize(quantum):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_number(text: str, *, what: str) -> Decimal:
    """A number the pump printed (``26.59``, ``0.050``, ``9999.``) as an exact Decimal."""
    if not _NUMBER_RE.fullmatch(text):
        raise ProtocolError(f"{what} reply {text!r} is not a number")
    return Decimal(text.rstrip(".") or "0")


def rate_command(rate_ul_per_min: Decimal) -> str:
    """The ``RAT`` argument (number and units) that states ``rate_ul_per_min`` exactly."""
    if not rate_ul_per_min.is_finite() or rate_ul_per_min <= 0:
        raise ConfigError(f"rate_ul_per_min={rate_ul_per_min} must be > 0")
    for units, factor in RATE_UNITS:
        value = rate_ul_per_min * factor
        try:
            return f"{format_number(value, field='rate_ul_per_min')}{units}"
        except ConfigError:
            continue
    raise ConfigError(
        f"rate_ul_per_min={rate_ul_per_min} cannot be stated exactly in UM, UH, MM or MH with "
        "at most 4 digits and 3 decimals"
    )


def piston_area_mm2(diameter_mm: Decimal) -> Decimal:
    """Cross-section of the syringe bore; 1 mm of plunger travel moves this many uL."""
    return _PI * diameter_mm * diameter_mm / 4


def rate_limits_ul_per_min(diameter_mm: Decimal) -> tuple[Decimal, Decimal]:
    """(minimum, maximum) rate in uL/min for a syringe of ``diameter_mm``."""
    area = piston_area_mm2(diameter_mm)
    return area * MIN_SPEED_MM_PER_MIN, area * MAX_SPEED_MM_PER_MIN


def parse_dispensed(data: str) -> tuple[Decimal, Decimal, Decimal]:
    """``I<float>W<float><UL|ML>`` as (infused_ul, withdrawn_ul, resolution_ul)."""
    match = _DIS_RE.fullmatch(data)
    if match is None:
        raise ProtocolError(f"DIS reply {data!r} is not I<number>W<number><UL|ML>")
    factor = _VOLUME_FACTORS[match["units"]]
    infused, withdrawn = Decimal(match["inf"]), Decimal(match["wdr"])
    # The last printed digit is the step: 50.00 -> 0.01 (the exponent of the Decimal as written).
    step = max(Decimal(1).scaleb(_exponent(infused)), Decimal(1).scaleb(_exponent(withdrawn)))
    return infused * factor, withdrawn * factor, step * factor


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0
