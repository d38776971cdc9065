"""Protocol 11 numbers and units on the driver side: exact text out, exact Decimals back.

A Pump 11 Elite prints volumes and rates with at most six significant digits and diameters
with four decimals. A dose must never be rounded on its way to the pump, and every setting is
read back (SR-27), so the driver only sends values the pump can print back exactly: at most six
significant digits for volumes and rates, at most four decimals for a diameter. Anything else
is refused, not rounded (deny, never clamp).
"""

from __future__ import annotations

import re
from decimal import Decimal

from pumpctl.errors import ConfigError, ProtocolError

SIGNIFICANT_DIGITS = 6
DIAMETER_DECIMALS = 4
#: Volume units and their factor to microlitres (exact).
VOLUME_UL = {"ml": Decimal(1000), "ul": Decimal(1), "nl": Decimal("0.001"), "pl": Decimal("1e-6")}
#: Time units of a rate and their factor to minutes (exact).
TIME_MIN = {"hr": Decimal(60), "min": Decimal(1), "sec": Decimal(1) / Decimal(60)}

_NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_QUANTITY_RE = re.compile(rf"(?P<number>{_NUMBER}) (?P<unit>[a-z]+(?:/[a-z]+)?)")


def _plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def exact_text(value: Decimal, *, field: str) -> str:
    """``value`` as pump text if it has at most six significant digits; else ConfigError."""
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{field}={value} must be a finite number > 0")
    normal = value.normalize()
    digits = len(normal.as_tuple().digits)
    if digits > SIGNIFICANT_DIGITS:
        raise ConfigError(
            f"{field}={value} cannot be sent exactly: the pump prints at most "
            f"{SIGNIFICANT_DIGITS} significant digits, so it could not be read back"
        )
    return _plain(normal)


def diameter_text(value: Decimal) -> str:
    """A syringe diameter with at most four decimals, as the pump prints it (``4.6990``)."""
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"syringe_diameter_mm={value} must be a finite number > 0")
    quantum = Decimal(1).scaleb(-DIAMETER_DECIMALS)
    if value.quantize(quantum) != value:
        raise ConfigError(
            f"syringe_diameter_mm={value} cannot be sent exactly: the pump keeps "
            f"{DIAMETER_DECIMALS} decimals"
        )
    return f"{value.quantize(quantum):f}"


def parse_diameter(text: str) -> Decimal:
    """``4.6990 mm`` -> Decimal('4.6990')."""
    number, _, unit = text.partition(" ")
    if unit != "mm" or re.fullmatch(_NUMBER, number) is None:
        raise ProtocolError(f"diameter reply {text!r} is not '<number> mm'")
    return Decimal(number)


def _quantity(text: str, what: str) -> tuple[Decimal, str]:
    match = _QUANTITY_RE.fullmatch(text.strip())
    if match is None:
        raise ProtocolError(f"{what} reply {text!r} is not '<number> <unit>'")
    return Decimal(match["number"]), match["unit"]


def parse_volume(text: str, *, what: str) -> tuple[Decimal, Decimal]:
    """``50 ul``/``2.5 ml``/``30 nl`` -> (volume in uL, printed step in uL)."""
    number, unit = _quantity(text, what)
    factor = VOLUME_UL.get(unit)
    if factor is None:
        raise ProtocolError(f"{what} reply {text!r} has unknown volume unit {unit!r}")
    return number * factor, step(number) * factor


def parse_rate(text: str, *, what: str) -> Decimal:
    """``500 ul/min``/``1.5 ml/hr`` -> uL/min (exact: the factors are exact decimals)."""
    number, unit = _quantity(text, what)
    volume, _, time = unit.partition("/")
    if volume not in VOLUME_UL or time not in TIME_MIN:
        raise ProtocolError(f"{what} reply {text!r} has unknown rate unit {unit!r}")
    return number * VOLUME_UL[volume] / TIME_MIN[time]


def parse_limits(text: str) -> tuple[Decimal, Decimal]:
    """``irate lim``'s ``2.66407 nl/min to 2.73433 ml/min`` -> (low, high) in uL/min."""
    low, sep, high = text.partition(" to ")
    if not sep:
        raise ProtocolError(f"rate limits reply {text!r} is not '<rate> to <rate>'")
    return parse_rate(low, what="rate limit"), parse_rate(high, what="rate limit")


def step(number: Decimal) -> Decimal:
    """The resolution of a number printed with six significant digits (1e-6 for zero)."""
    if number == 0:
        return Decimal("1e-6")
    return Decimal(1).scaleb(number.adjusted() - SIGNIFICANT_DIGITS + 1)
