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

from pumpctl.drivers.base import LinkCost, NumberFormat, PumpVocabulary, Quantity, Unit
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


# -- what the pump can be told exactly (SR-04, SR-27) -------------------------------------------

#: Volumes and rates: six significant digits, in uL (down to pL resolution for small ones).
#: ``NumberFormat`` counts the integer digits too, so 0.123456 uL (six significant digits) is
#: refused as seven: stricter than the pump, never looser (deny, never round).
VOLUME_NUMBERS = NumberFormat(max_digits=SIGNIFICANT_DIGITS, max_decimals=6)
#: Diameters: four decimals (``4.6990 mm``), at most six digits (``33.0000``).
DIAMETER_NUMBERS = NumberFormat(max_digits=6, max_decimals=DIAMETER_DECIMALS)
#: The diameters a Pump 11 Elite accepts (manual: 0.1 to 33 mm).
DIAMETER_RANGE_MM = (Decimal("0.1"), Decimal(33))
#: The driver always sends volumes in uL and rates in uL/min (``tvolume 10 ul``).
MICROLITRES = Unit("ul", Decimal(1))
MICROLITRES_PER_MIN = Unit("ul/min", Decimal(1))
#: ``status`` reports the counter in femtolitres: its totals are exact to 1e-9 uL.
STATUS_TOTALS = Unit("fl", Decimal(10) ** 9)
STATUS_NUMBERS = NumberFormat(max_digits=15, max_decimals=0)
#: Bytes of one progress reading (``NNstatus`` CR; reply CR LF ``rate time volume flags`` CR LF
#: ``NN:``, about 40 characters of data), plus the ``tvolume`` check made while a target is set;
#: and of ``NNstop`` CR. Generous: SR-25's arithmetic must not underestimate the wire.
LINK_COST = LinkCost(progress_exchange_bytes=110, stop_command_bytes=8)


def vocabulary(diameter_mm: Decimal) -> PumpVocabulary:
    """What a Protocol 11 pump can be told exactly with a syringe of ``diameter_mm``.

    Rate limits depend on the syringe and are read from the pump at self-test; here only what
    the protocol can carry is judged (six significant digits, > 0), and the self-test's limits
    are checked when the bolus is programmed.
    """
    largest = VOLUME_NUMBERS.largest
    smallest = Decimal(1).scaleb(-VOLUME_NUMBERS.max_decimals)
    return PumpVocabulary(
        syringe_diameter_mm=Quantity(
            "syringe_diameter_mm", (Unit("", Decimal(1)),), DIAMETER_NUMBERS, *DIAMETER_RANGE_MM
        ),
        volume_ul=Quantity("volume_ul", (MICROLITRES,), VOLUME_NUMBERS, smallest, largest),
        rate_ul_per_min=Quantity(
            "rate_ul_per_min", (MICROLITRES_PER_MIN,), VOLUME_NUMBERS, smallest, largest
        ),
        totals_unit=STATUS_TOTALS,
        totals_number=STATUS_NUMBERS,
        link=LINK_COST,
    )
