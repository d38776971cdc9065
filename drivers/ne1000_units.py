"""NE-1000 numbers and units on the driver side: exact number text, units, limits, DIS totals.

The pump takes numbers of at most four digits with at most three decimals. A dose must never be
rounded on its way to the pump, so a value that cannot be written exactly is refused, not
rounded (SR-04 at the wire). :func:`vocabulary` states these rules for one syringe as the
driver contract's :class:`~pumpctl.drivers.base.PumpVocabulary`.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal

from pumpctl.drivers.base import LinkCost, NumberFormat, PumpVocabulary, Quantity, Stated, Unit
from pumpctl.errors import ProtocolError, UnsendableError

#: NE-1000 plunger speed limits (manual: about 5.1 cm/min and 0.004205 cm/h), in mm/min.
MAX_SPEED_MM_PER_MIN = Decimal("51")
MIN_SPEED_MM_PER_MIN = Decimal("0.04205") / Decimal(60)
#: Largest number the pump can be sent (four digits).
MAX_NUMBER = Decimal("9999")
#: pi to more places than any syringe diameter is known to.
_PI = Decimal("3.14159265358979323846")

#: The pump's numbers: at most four digits, at most three of them decimals.
NUMBERS = NumberFormat(max_digits=4, max_decimals=3)
#: Rate units the driver may send, in order of preference, with the exact factor that turns
#: uL/min into that unit (a multiplication, so no repeating decimal is ever involved).
RATE_UNITS: tuple[Unit, ...] = (
    Unit("UM", Decimal(1)),
    Unit("UH", Decimal(60)),
    Unit("MM", Decimal("0.001")),
    Unit("MH", Decimal("0.06")),
)
MICROLITRES = Unit("UL", Decimal(1))
MILLILITRES = Unit("ML", Decimal("0.001"))
#: Up to this diameter the pump counts volumes in uL, above it in mL (set by DIA; manual 5.6).
UL_DIAMETER_LIMIT_MM = Decimal("14.00")
#: Syringe inside diameters the pump accepts (manual: 0.1 to 50.0 mm).
DIAMETER_RANGE_MM = (Decimal("0.1"), Decimal(50))
#: Safe-mode bytes of the exchanges SR-25 counts, with a two-digit address: ``DIS`` (10 out,
#: ``00SI<5>W<5>UL`` 22 back) and ``STP`` (10 out).
LINK_COST = LinkCost(progress_exchange_bytes=32, stop_command_bytes=10)
_VOLUME_FACTORS = {"UL": Decimal(1), "ML": Decimal(1000)}
_NUMBER = r"\d+\.?\d*|\.\d+"
_DIS_RE = re.compile(rf"I(?P<inf>{_NUMBER})W(?P<wdr>{_NUMBER})(?P<units>UL|ML)")
_NUMBER_RE = re.compile(_NUMBER)
_STATED_RE = re.compile(rf"(?P<number>{_NUMBER})(?P<unit>[A-Z]*)")


def volume_unit(diameter_mm: Decimal) -> Unit:
    """The volume unit the pump uses with this syringe: uL up to 14.00 mm, mL above."""
    return MICROLITRES if diameter_mm <= UL_DIAMETER_LIMIT_MM else MILLILITRES


def vocabulary(diameter_mm: Decimal) -> PumpVocabulary:
    """The vocabulary for ``diameter_mm`` (see :func:`_vocabulary`), built once per diameter.

    The daemon asks for it at every reading of a running bolus (SR-25's plan); it is keyed on
    the diameter's exact text, so a cached one is the one a fresh call would build.
    """
    return _vocabulary(str(diameter_mm))


@functools.lru_cache(maxsize=16)
def _vocabulary(diameter_text: str) -> PumpVocabulary:
    """What an NE-1000 family pump can be told exactly with a syringe of ``diameter_mm``.

    Volumes go out in the unit the diameter selects, so with a syringe over 14.00 mm a volume
    is a number of mL with at most three decimals: 1 uL steps, and totals printed in 1 uL steps.
    """
    diameter_mm = Decimal(diameter_text)
    low, high = rate_limits_ul_per_min(diameter_mm)
    unit = volume_unit(diameter_mm)
    smallest_volume = Decimal("0.001") / unit.per_pumpctl_unit
    return PumpVocabulary(
        syringe_diameter_mm=Quantity(
            "syringe_diameter_mm", (Unit("", Decimal(1)),), NUMBERS, *DIAMETER_RANGE_MM
        ),
        volume_ul=Quantity(
            "volume_ul", (unit,), NUMBERS, smallest_volume, MAX_NUMBER / unit.per_pumpctl_unit
        ),
        rate_ul_per_min=Quantity("rate_ul_per_min", RATE_UNITS, NUMBERS, low, high),
        totals_unit=unit,
        totals_number=NUMBERS,
        link=LINK_COST,
    )


def format_number(value: Decimal, *, field: str) -> str:
    """``value`` as pump text, exactly; :class:`UnsendableError` naming ``field`` otherwise."""
    if not value.is_finite() or value < 0:
        raise UnsendableError(f"{field}={value} is not a finite number >= 0")
    decimals = NUMBERS.decimals_for(value)
    if decimals < 0:
        raise UnsendableError(f"{field}={value} exceeds the pump's largest number {MAX_NUMBER}")
    if not NUMBERS.states(value):
        raise UnsendableError(
            f"{field}={value} cannot be sent exactly: the pump takes at most 4 digits and "
            f"{decimals} decimal(s) at this size"
        )
    text = f"{value.quantize(NUMBERS.step(value)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def stated_text(value: Stated, *, field: str) -> str:
    """The wire text of a stated value: the number exactly, then its unit word."""
    return f"{format_number(value.number, field=field)}{value.unit}"


def parse_stated(text: str, *, what: str, units: tuple[str, ...]) -> Stated:
    """A value the pump printed with its unit (``10.00UL``, ``500.0UM``) as a :class:`Stated`."""
    match = _STATED_RE.fullmatch(text)
    if match is None or match["unit"] not in units:
        raise ProtocolError(
            f"{what} reply {text!r} is not a number followed by one of {', '.join(units)}"
        )
    return Stated(parse_number(match["number"], what=what), match["unit"])


def parse_number(text: str, *, what: str) -> Decimal:
    """A number the pump printed (``26.59``, ``0.050``, ``9999.``) as an exact Decimal."""
    if not _NUMBER_RE.fullmatch(text):
        raise ProtocolError(f"{what} reply {text!r} is not a number")
    return Decimal(text.rstrip(".") or "0")


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
