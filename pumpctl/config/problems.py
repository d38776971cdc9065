"""Turns pydantic's validation errors into one line per problem: path, value, what is allowed.

A line reads ``prescription.dose_ug = "5 mg": expected a bare number in micrograms (ug), ...``.
Unknown keys get a hint: a key that names another unit (``dose_mg``) points at the field and its
unit, a typo points at the nearest field.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Sequence
from datetime import date, time
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from pumpctl.config.fields import UNIT_NAMES

MAX_VALUE_CHARS = 60
_UNIT_SUFFIXES = sorted((f"_{unit}" for unit in UNIT_NAMES), key=len, reverse=True)


def field_path(loc: Sequence[int | str]) -> str:
    """``("prescription", "profile", 0, "start")`` -> ``prescription.profile[0].start``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(document)"


def render_value(value: object) -> str:
    """A value as the user wrote it in TOML, shortened when long."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        text = '"' + "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in escaped)
        text += '"'
    elif isinstance(value, date | time):
        text = value.isoformat()
    elif isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(render_value(item) for item in value) + "]"
    else:
        text = repr(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "..."
    return text


def _nested_model(annotation: object) -> type[BaseModel] | None:
    """The section model behind a field's annotation (``Section``, ``list[Section]``)."""
    candidates = [annotation, *typing.get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        nested = typing.get_args(candidate)
        for inner in nested:
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model whose fields live at ``loc`` (integer steps walk into list items)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _nested_model(field.annotation) if field is not None else None
    return model


def _describe(root: type[BaseModel], loc: Sequence[int | str]) -> str:
    parent = _model_at(root, loc[:-1])
    if parent is None or not isinstance(loc[-1], str):
        return ""
    field = parent.model_fields.get(loc[-1])
    return (field.description or "") if field is not None else ""


def _quantity(name: str) -> str:
    """``dose_ug`` -> ``dose``; ``concentration_ug_per_ml`` -> ``concentration``."""
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def unknown_key_hint(key: str, known: Sequence[str], *, section: bool) -> str:
    """Why a key is unknown and what the user probably meant."""
    what = "unknown section" if section else "unknown key"
    for name in known:
        stem = _quantity(name)
        if stem != name and key.startswith(stem + "_") and key != name:
            unit = UNIT_NAMES[name[len(stem) + 1 :]]
            return f"{what}; the unit is part of the name: use {name}, in {unit}"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
    if close:
        return f"{what}; did you mean {close[0]}?"
    return f"{what}; allowed: {', '.join(known)}"


def _kind_message(error_type: str, loc: Sequence[int | str]) -> str | None:
    name = field_path(loc)
    if error_type in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a table [{name}]"
    if error_type == "list_type":
        return f"expected an array of tables [[{name}]]"
    return None


def problem_line(root: type[BaseModel], error: Any) -> str:
    """One user-facing line for one pydantic error dict."""
    loc: tuple[int | str, ...] = tuple(error["loc"])
    path = field_path(loc)
    error_type: str = error["type"]
    value = error.get("input")
    if error_type == "missing":
        required = _describe(root, loc)
        return f"{path}: missing; required: {required}" if required else f"{path}: missing"
    if error_type == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        known = list(parent.model_fields) if parent is not None else []
        hint = unknown_key_hint(str(loc[-1]), known, section=len(loc) == 1)
        return f"{path}: {hint}"
    message = _kind_message(error_type, loc)
    if error_type == "too_long":
        message = f"at most {error['ctx']['max_length']} entries allowed"
    if message is None:
        message = str(error["msg"])
    if isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(item, dict) for item in value)
    ):
        # Tables speak through their path; echoing them would bury the message.
        return f"{path}: {message}"
    return f"{path} = {render_value(value)}: {message}"


def problem_lines(root: type[BaseModel], error: ValidationError) -> list[str]:
    """Every problem in ``error``, in the document's order, one line each."""
    return [problem_line(root, item) for item in error.errors(include_url=False)]
