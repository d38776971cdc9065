"""Shared helpers for the configuration tests: a valid document and a small TOML writer."""

from __future__ import annotations

import copy
import json
from datetime import date, time
from decimal import Decimal
from typing import Any

from pumpctl.config import Config, parse_config_text
from pumpctl.errors import ConfigError

NOT_SET = object()


def valid_document() -> dict[str, Any]:
    """A complete, valid configuration as a TOML-shaped dict (fresh copy each call)."""
    return copy.deepcopy(
        {
            "prescription": {
                "dose_ug": Decimal(10),
                "concentration_ug_per_ml": Decimal(1000),
                "interval_min": 90,
                "pulse_duration_s": 60,
                "anchor": "2026-03-01T08:00:00+01:00",
                "timezone": "Europe/Berlin",
            },
            "limits": {},
            "pump": {
                "driver": "ne1000",
                "url": "socket://127.0.0.1:7777",
                "syringe_diameter_mm": Decimal("4.78"),
                "syringe_volume_ul": Decimal(1000),
            },
        }
    )


def toml_value(value: object) -> str:  # noqa: PLR0911 - one return per TOML value kind
    """One value in TOML syntax (inline tables for nested dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if value.is_nan():
            return "nan"
        if value.is_infinite():
            return "-inf" if value < 0 else "inf"
        text = str(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def dumps(document: dict[str, Any]) -> str:
    """The document as TOML text: top-level values first, then one [section] per table."""
    lines = [
        f"{json.dumps(k)} = {toml_value(v)}" for k, v in document.items() if not isinstance(v, dict)
    ]
    for name, table in document.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(name)}]")
            lines.extend(f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def changed(path: str, value: object = NOT_SET) -> dict[str, Any]:
    """The valid document with ``section.key`` set to ``value`` (or removed when NOT_SET)."""
    document = valid_document()
    section, _, key = path.partition(".")
    table = document.setdefault(section, {})
    if value is NOT_SET:
        table.pop(key, None)
    else:
        table[key] = value
    return document


def load(document: dict[str, Any], **kwargs: Any) -> Config:
    return parse_config_text(dumps(document), **kwargs)


def problems(document: dict[str, Any], **kwargs: Any) -> list[str]:
    """The problem lines a document produces (fails the test when it is accepted)."""
    try:
        load(document, **kwargs)
    except ConfigError as err:
        return err.problems
    raise AssertionError("the document was accepted")
