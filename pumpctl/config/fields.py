"""Strict field types for the configuration: each one checks kind, range and unit itself.

TOML gives us ``int``, ``Decimal`` (``parse_float=Decimal``), ``str``, ``bool``, dates, times and
tables; a validator accepts only the kinds that cannot be misread and otherwise raises a message
that says what is allowed. Nothing is coerced: ``"5"`` is not a number, ``true`` is not 1, and
``90.0`` is not a whole number of minutes.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import PurePosixPath
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic_core import PydanticCustomError

#: Human names of the units carried in field names (the suffix after the last quantity word).
UNIT_NAMES: dict[str, str] = {
    "ug": "micrograms (ug)",
    "ug_per_ml": "micrograms per millilitre (ug/mL)",
    "ul": "microlitres (uL)",
    "ul_per_min": "microlitres per minute (uL/min)",
    "min": "minutes",
    "s": "seconds",
    "mm": "millimetres",
    "24h": "per rolling 24 h",
}

_NUMBER_WITH_UNIT = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*[^\d\s.].*$")
_PLAIN_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
_GROUP_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

#: Years an anchor may fall in; outside them date arithmetic is either meaningless or overflows.
ANCHOR_YEARS = (2000, 2100)
MAX_TEXT_CHARS = 200


def fail(message: str) -> PydanticCustomError:
    """A validation error whose text is shown to the user as-is after ``path = value:``."""
    return PydanticCustomError("pumpctl", message)


#: TOML value kinds by Python type, most specific first (bool before int, datetime before date).
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (str, "a string"),
    (dict, "a table"),
    (list, "an array"),
    (datetime, "a date-time"),
    (date, "a date"),
    (time, "a time"),
    (int, "an integer"),
    (Decimal, "a decimal number"),
)


def _describe_kind(value: object) -> str:
    for kind, name in _KINDS:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _reject_non_number(value: object, unit: str) -> PydanticCustomError:
    """The error for a value that is not a TOML number, with a hint when it is close to one."""
    unit_text = f" in {UNIT_NAMES[unit]}" if unit in UNIT_NAMES else ""
    if isinstance(value, str) and _PLAIN_NUMBER.match(value):
        return fail(f"expected a number{unit_text}, got a string: write it without quotes")
    if isinstance(value, str) and _NUMBER_WITH_UNIT.match(value):
        return fail(
            f"expected a bare number{unit_text}, got a string with a unit: the unit is part "
            "of the key's name, write only the number"
        )
    return fail(f"expected a number{unit_text}, got {_describe_kind(value)}")


def _range_text(low: Decimal | int, high: Decimal | int, *, low_open: bool, unit: str) -> str:
    unit_text = f" {UNIT_NAMES[unit]}" if unit in UNIT_NAMES else ""
    low_text = f"> {low}" if low_open else f">= {low}"
    return f"{low_text} and <= {high}{unit_text}"


def whole(low: int, high: int, *, unit: str = "") -> Callable[[object], int]:
    """Validator for a whole number in ``low..high``."""
    allowed = f"a whole number {low}..{high}" + (f" ({UNIT_NAMES[unit]})" if unit else "")

    def check(value: object) -> int:
        if isinstance(value, Decimal) and value.is_finite():
            raise fail(f"expected {allowed}, got a decimal number")
        if isinstance(value, bool) or not isinstance(value, int):
            raise _reject_non_number(value, unit)
        if not low <= value <= high:
            raise fail(f"allowed {low}..{high}" + (f" ({UNIT_NAMES[unit]})" if unit else ""))
        return value

    return check


def decimal(
    low: Decimal, high: Decimal, *, places: int, unit: str, low_open: bool = True
) -> Callable[[object], Decimal]:
    """Validator for an exact decimal in a range with at most ``places`` decimal places."""
    allowed = _range_text(low, high, low_open=low_open, unit=unit)
    step = Decimal(1).scaleb(-places)

    def check(value: object) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise _reject_non_number(value, unit)
        number = Decimal(value)
        if not number.is_finite():
            raise fail(f"expected a finite number, allowed {allowed}")
        in_range = (number > low if low_open else number >= low) and number <= high
        if not in_range:
            raise fail(f"allowed {allowed}")
        if number != number.quantize(step):
            raise fail(f"at most {places} decimal places allowed ({step} steps)")
        return number

    return check


def fraction(low_open: Decimal, high: Decimal) -> Callable[[object], float]:
    """Validator for a model fraction (kept as float: it is compared, never summed)."""
    as_decimal = decimal(low_open, high, places=3, unit="")

    def check(value: object) -> float:
        return float(as_decimal(value))

    return check


def choice(options: tuple[str, ...], *, fold_case: bool = False) -> Callable[[object], str]:
    """Validator for one of a fixed set of words."""
    allowed = ", ".join(options)

    def check(value: object) -> str:
        if not isinstance(value, str):
            raise fail(f"expected one of {allowed}, got {_describe_kind(value)}")
        word = value.lower() if fold_case else value
        if word not in options:
            raise fail(f"allowed {allowed}")
        return word

    return check


def parse_time_of_day(value: object) -> time:
    """A local time of day: TOML ``08:00:00`` or the string ``"08:00"`` / ``"08:00:30"``."""
    if isinstance(value, time):
        if value.microsecond or value.tzinfo is not None:
            raise fail("expected a local time of day HH:MM or HH:MM:SS, without fractions")
        return value
    if isinstance(value, str):
        match = _TIME_OF_DAY.match(value)
        if match:
            hours, minutes, seconds = match.groups()
            return time(int(hours), int(minutes), int(seconds or 0))
        raise fail("expected a local time of day HH:MM (00:00..23:59)")
    raise fail(f"expected a local time of day HH:MM, got {_describe_kind(value)}")


def _check_anchor_datetime(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise fail(
            "a date-time needs a UTC offset (e.g. 2026-03-01T08:00:00+01:00); "
            "or give a time of day like 08:00, read in prescription.timezone"
        )
    first, last = ANCHOR_YEARS
    if not first <= moment.year <= last:
        raise fail(f"allowed years {first}..{last}")
    return moment


def parse_anchor(value: object) -> datetime | time:
    """First-pulse anchor: a date-time with UTC offset, or a local time of day."""
    if isinstance(value, datetime):
        return _check_anchor_datetime(value)
    if isinstance(value, date):
        raise fail("expected a date-time with UTC offset or a time of day, got a date only")
    if isinstance(value, time):
        return parse_time_of_day(value)
    if isinstance(value, str):
        if _TIME_OF_DAY.match(value):
            return parse_time_of_day(value)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise fail(
                "expected an ISO 8601 date-time with UTC offset "
                "(2026-03-01T08:00:00+01:00) or a time of day HH:MM"
            ) from None
        return _check_anchor_datetime(moment)
    raise fail(f"expected a date-time or a time of day, got {_describe_kind(value)}")


def parse_timezone(value: object) -> str:
    """An IANA time zone name that this machine's tz database knows (``Europe/Berlin``)."""
    if not isinstance(value, str):
        raise fail(
            f"expected an IANA time zone name like Europe/Berlin, got {_describe_kind(value)}"
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise fail("unknown time zone: expected an IANA name like Europe/Berlin or UTC") from None
    return value


def parse_serial_url(value: object) -> str:
    """A port as ``serial.serial_for_url`` takes it: a device path or a pyserial URL."""
    if not isinstance(value, str) or not value:
        raise fail(f"expected a device path or pyserial URL, got {_describe_kind(value)}")
    if "://" not in value:
        if not value.startswith("/"):
            raise fail(
                "expected an absolute device path (/dev/serial/by-id/...) "
                "or a URL like socket://HOST:PORT"
            )
        return value
    scheme = value.split("://", 1)[0]
    if not re.fullmatch(r"[a-z0-9]+", scheme) or (
        importlib.util.find_spec(f"serial.urlhandler.protocol_{scheme}") is None
    ):
        raise fail(
            "unknown URL scheme: pyserial handles socket://, rfc2217://, loop://, spy://, ..."
        )
    if scheme in ("socket", "rfc2217"):
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            port = None
            parts = None
        if parts is None or not parts.hostname or port is None or not 0 < port < 65536:
            raise fail(f"expected {scheme}://HOST:PORT with a port 1..65535")
    return value


def parse_path(value: object) -> PurePosixPath:
    """A file-system path (absolute, or relative to where the section says)."""
    if not isinstance(value, str) or not value.strip():
        raise fail(f"expected a path string, got {_describe_kind(value)}")
    if "\x00" in value:
        raise fail("a path cannot contain a NUL character")
    return PurePosixPath(value)


def parse_group(value: object) -> str:
    """A Unix group name."""
    if not isinstance(value, str) or not _GROUP_NAME.match(value):
        raise fail("expected a Unix group name (lower-case letters, digits, _ or -, <= 32 chars)")
    return value


def parse_socket_mode(value: object) -> int:
    """Permission bits of the control socket; owner read/write, never any access for others."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"expected an octal mode like 0o660, got {_describe_kind(value)}")
    if value & ~0o770 or value & 0o600 != 0o600:
        raise fail(
            "allowed owner read-write plus optional group bits, nothing for others "
            "(e.g. 0o660, written with the 0o prefix)"
        )
    return value


def parse_text(value: object) -> str:
    """Free text for labels: one line, printable."""
    if not isinstance(value, str):
        raise fail(f"expected a string, got {_describe_kind(value)}")
    if _CONTROL_CHARS.search(value):
        raise fail("expected one line of text without control characters")
    if len(value) > MAX_TEXT_CHARS:
        raise fail(f"at most {MAX_TEXT_CHARS} characters allowed")
    return value
