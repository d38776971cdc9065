"""The report's plain words: prescriptions, limits, quantities and local times a clinician reads.

Inputs are the journaled shapes (``prescription.change`` / ``limits.change`` ``new``, as the daemon
writes them), so a report of any journal reads the same way. Every local time carries its UTC
offset: across a daylight-saving change, two times an hour apart must not look two hours apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pumpctl.core.gate import resolve_threshold
from pumpctl.core.model import Limits
from pumpctl.core.timefmt import local_text, offset_text

NOT_RECORDED = "not recorded"


def local_time(when: datetime, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """``2026-03-02 09:30+01:00``: the prescription's local time with its UTC offset, spelled
    as everywhere else in pumpctl (``pumpctl.core.timefmt``)."""
    return local_text(when, zone, seconds=seconds)


def local_clock(when: datetime, zone: ZoneInfo) -> str:
    """``09:30+01:00``: a local time of day with its offset, for tables sorted by day."""
    return local_text(when, zone)[11:]


def utc_offset(local: datetime) -> str:
    """``+01:00`` (``+00:00`` for UTC)."""
    return offset_text(local.utcoffset())


def day_label(day: date) -> str:
    """``Mon 02 Mar 2026``."""
    return f"{day:%a %d %b %Y}"


def decimal_text(value: object) -> str:
    """A decimal without trailing zeros or exponent: ``12.500`` → ``12.5``, ``10`` → ``10``."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if number == number.to_integral():
        return str(number.quantize(Decimal(1)))
    return format(number.normalize(), "f")


def ug(value: object) -> str:
    return f"{decimal_text(value)} µg"


def duration_words(seconds: object) -> str:
    """``1-min`` for 60 s, ``90-s`` for 90 s: how long one bolus lasts."""
    try:
        total = Decimal(str(seconds))
    except InvalidOperation:
        return f"{seconds}-s"
    if total > 0 and total % 60 == 0:
        return f"{decimal_text(total / 60)}-min"
    return f"{decimal_text(total)}-s"


def _hhmm(text: object) -> str:
    """``22:00`` from a journaled ``22:00:00``; anything else as it was journaled."""
    try:
        return time.fromisoformat(str(text)).strftime("%H:%M")
    except ValueError:
        return str(text)


def _known(value: object) -> object:
    return "?" if value is None else value


def _wraps_midnight(window: Mapping[str, Any]) -> bool:
    try:
        start = time.fromisoformat(str(window.get("start")))
        end = time.fromisoformat(str(window.get("end")))
    except ValueError:
        return False
    return start > end


def _windows(profile: object) -> list[Mapping[str, Any]]:
    return [w for w in profile if isinstance(w, Mapping)] if isinstance(profile, list) else []


def prescription_words(p: Mapping[str, Any]) -> str:
    """``10 µg every 90 min by day, every 120 min 22:00–06:00, 1-min bolus``.

    The base interval reads "by day" when the profile is one window across midnight (a night).
    A value the record lacks reads "?"; a record with none of them reads "not recorded".
    """
    if all(p.get(k) is None for k in ("dose_ug", "interval_min", "pulse_duration_s")):
        return NOT_RECORDED
    windows = _windows(p.get("profile"))
    base = f"every {_known(p.get('interval_min'))} min"
    if len(windows) == 1 and _wraps_midnight(windows[0]):
        base += " by day"
    parts = [f"{ug(_known(p.get('dose_ug')))} {base}"]
    parts += [
        f"every {_known(w.get('interval_min'))} min "
        f"{_hhmm(_known(w.get('start')))}–{_hhmm(_known(w.get('end')))}"
        for w in windows
    ]
    parts.append(f"{duration_words(_known(p.get('pulse_duration_s')))} bolus")
    return ", ".join(parts)


def prescription_details(p: Mapping[str, Any]) -> str:
    """Volume, concentration, time zone and where the cadence is counted from."""
    zone_name = str(p.get("timezone") or "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    parts = []
    try:
        dose = Decimal(str(p["dose_ug"]))
        concentration = Decimal(str(p["concentration_ug_per_ml"]))
        volume = dose * 1000 / concentration
        parts.append(f"{decimal_text(volume)} µL per pulse at {decimal_text(concentration)} µg/mL")
    except (KeyError, InvalidOperation, ArithmeticError, TypeError):
        pass
    parts.append(f"local times in {zone_name}")
    anchor = p.get("anchor")
    try:
        first = datetime.fromisoformat(str(anchor)) if anchor else None
    except ValueError:
        first = None
    if first is not None and first.tzinfo is not None:
        parts.append(f"cadence counted from {local_time(first, zone)}")
    return "; ".join(parts)


def limits_of(payload: Mapping[str, Any]) -> Limits:
    """Limits from a journaled dict; unknown or missing fields keep their defaults."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Limits):
        raw = payload.get(f.name)
        if raw is None:
            continue
        default = getattr(Limits(), f.name)
        try:
            values[f.name] = (
                Decimal(str(raw))
                if isinstance(default, Decimal)
                else int(raw)
                if isinstance(default, int)
                else float(raw)
            )
        except (TypeError, ValueError, InvalidOperation):
            continue
    try:
        return Limits(**values)
    except (TypeError, ValueError):
        return Limits()


def limits_words(payload: Mapping[str, Any] | None, limits: Limits) -> str:
    """The safety limits in force, one sentence; missing fields read as pumpctl's defaults."""
    threshold = resolve_threshold(limits)
    source = "set" if limits.exposure_threshold is not None else "derived from the minimum interval"
    text = (
        f"at least {limits.min_interval_min} min between pulse starts; "
        f"at most {limits.max_pulses_24h} pulses and {ug(limits.max_dose_24h_ug)} per 24 h; "
        f"at most {ug(limits.max_dose_per_pulse_ug)}, "
        f"{decimal_text(limits.max_pulse_volume_ul)} µL and {limits.max_pulse_duration_s} s "
        f"per pulse; no pulse starts while the predicted level exceeds {threshold:.2f} of one "
        f"pulse's peak ({source}); a pulse starts at most {limits.grace_min} min late, else it "
        f"is missed; missed-pulse alarm at {limits.missed_alarm_min} min"
    )
    if not payload:
        text += f" (limits {NOT_RECORDED}: pumpctl's defaults shown)"
    return text


def change_words(what: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    """A prescription or limits change as "old → new", in words, naming only what changed."""
    if what == "prescription":
        if not old:
            return f"set to {prescription_words(new)}"
        return f"{prescription_words(old)} → {prescription_words(new)}"
    if not old:
        return f"set to: {limits_words(new, limits_of(new))}"
    keys = sorted(k for k in new if not old or old.get(k) != new.get(k))
    if not keys:
        return "unchanged"
    return "; ".join(
        f"{k.replace('_', ' ')}: {_plain(old.get(k) if old else None)} → {_plain(new.get(k))}"
        for k in keys
    )


def _plain(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        return decimal_text(value)
    return str(value)


def count_words(n: int, one: str, many: str | None = None) -> str:
    """``1 pulse``, ``3 pulses``, ``none``."""
    if n == 0:
        return "none"
    return f"{n} {one if n == 1 else (many or one + 's')}"


def fell_cause(pump_reset: bool) -> str:
    """Why a flow's totals fell, as the journal tells it."""
    return "cleared by a power reset the pump reported" if pump_reset else "cleared outside pumpctl"


def flow_words(
    *,
    volume_ul: Decimal | None,
    dose_ug: Decimal | None,
    totals_ul: Decimal | None,
    expected_ul: Decimal | None,
    since: datetime | None,
    where: str,
    moving: bool,
    zone: ZoneInfo,
    pump_reset: bool = False,
) -> str:
    """A journaled unexplained flow (SR-26) in plain words, without the time it was found
    (each format shows that beside it). A flow whose totals fell says "volume unknown", never
    a number for what moved, and names the cause: a power reset the pump reported, or a clear
    made outside pumpctl."""
    expected = "not known" if expected_ul is None else f"{decimal_text(expected_ul)} µL"
    totals = NOT_RECORDED if totals_ul is None else f"{decimal_text(totals_ul)} µL"
    last = (
        f"the pump's totals last read as expected at {local_time(since, zone)}"
        if since is not None
        else "no earlier reading of the pump's totals was known"
    )
    if volume_ul is None:
        return (
            f"volume unknown: the pump's totals fell to {totals} from the expected {expected} "
            f"(found {where}): {fell_cause(pump_reset)}, so what moved cannot be known; {last}"
        )
    dose = (
        f"{decimal_text(dose_ug)} µg" if dose_ug is not None else "dose not recorded, not counted"
    )
    stopped = "; the pump was moving and was stopped" if moving else ""
    return (
        f"{decimal_text(volume_ul)} µL ({dose}) moved that no pulse commanded (found {where}; "
        f"totals {totals}, expected {expected}); {last}{stopped}"
    )
