"""The control-socket protocol (SR-23, SR-24): request schema, validation and reply encoding.

One request per line, a JSON object ``{"cmd": NAME, ...arguments}``; one reply line per request,
``{"ok": true, ...}`` or ``{"ok": false, "error": MESSAGE, "code": CODE}``. Every request is
validated here, strictly (no type coercion, no unknown fields), before the daemon sees it.

=================  ===========================================================================
cmd                arguments
=================  ===========================================================================
``status``         none
``suspend``        ``reason`` (text, required)
``resume``         ``reason`` (text, optional)
``alarms``         none
``ack``            ``alarm_id`` (text), ``reason`` (text)
``silence``        ``alarm_id`` (text), ``minutes`` (whole number 1..60, default 15)
``reservoir_fill`` ``volume_ul`` (number > 0, at most 3 decimals), ``reason`` (text, optional)
=================  ===========================================================================
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from pumpctl.core.alarm_kinds import DEFAULT_SILENCE_MIN, MAX_SILENCE_MIN
from pumpctl.daemon.control_wire import MAX_REQUEST_BYTES, encode_reply
from pumpctl.text import control_characters

__all__ = ["MAX_REQUEST_BYTES", "encode_reply"]

#: Largest fill that can be recorded: well above any syringe the NE-1000 family takes (60 mL).
MAX_FILL_VOLUME_UL: Final = Decimal(100_000)

#: Error codes in ``{"ok": false, "code": ...}`` replies, for scripts.
CODE_BAD_JSON: Final = "bad-json"
CODE_BAD_REQUEST: Final = "bad-request"
CODE_UNKNOWN_CMD: Final = "unknown-cmd"
CODE_INVALID_ARGS: Final = "invalid-args"
CODE_TOO_LARGE: Final = "too-large"
CODE_REFUSED: Final = "refused"
CODE_INTERNAL: Final = "internal"
CODE_BUSY: Final = "busy"


def _no_control(text: str) -> str:
    """Free text is stored as given, so it may not carry control characters (refused)."""
    found = control_characters(text)
    if found:
        raise ValueError(
            f"control characters are not allowed in free text (found {', '.join(found)})"
        )
    return text


Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_no_control),
]
AlarmId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9:._-]{0,63}$")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StatusRequest(_Request):
    """Daemon state, last pulse and outcome, next slot, alarms, reservoir, journal head."""

    cmd: Literal["status"]


class SuspendRequest(_Request):
    """Suspend delivery until resumed; the reason is journaled with the peer's identity."""

    cmd: Literal["suspend"]
    reason: Text


class ResumeRequest(_Request):
    """Resume delivery after a suspension."""

    cmd: Literal["resume"]
    reason: Text | None = None


class AlarmsRequest(_Request):
    """List active alarms."""

    cmd: Literal["alarms"]


class AckRequest(_Request):
    """Acknowledge one alarm with a reason."""

    cmd: Literal["ack"]
    alarm_id: AlarmId
    reason: Text


class SilenceRequest(_Request):
    """Silence one alarm's signal for a limited time; it stays active for the gate."""

    cmd: Literal["silence"]
    alarm_id: AlarmId
    minutes: int = Field(default=DEFAULT_SILENCE_MIN, ge=1, le=MAX_SILENCE_MIN)


class ReservoirFillRequest(_Request):
    """Record that the syringe now holds ``volume_ul`` microlitres."""

    cmd: Literal["reservoir_fill"]
    volume_ul: Decimal = Field(gt=0, le=MAX_FILL_VOLUME_UL, decimal_places=3)
    reason: Text | None = None


REQUEST_TYPES: Final[dict[str, type[_Request]]] = {
    "status": StatusRequest,
    "suspend": SuspendRequest,
    "resume": ResumeRequest,
    "alarms": AlarmsRequest,
    "ack": AckRequest,
    "silence": SilenceRequest,
    "reservoir_fill": ReservoirFillRequest,
}


class RequestError(Exception):
    """A request line was refused before reaching the handler; ``code`` is the reply code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def parse_request(line: bytes | str) -> dict[str, Any]:
    """Validate one request line and return it as a dict of typed values.

    Raises :class:`RequestError` with a message naming the problem: not JSON, not an object,
    missing or unknown ``cmd``, unknown, missing or wrongly typed arguments.
    """
    try:
        raw = json.loads(line)
    except ValueError as err:
        # JSONDecodeError, UnicodeDecodeError, and the int-digits limit (a number of more than
        # 4300 digits) are all ValueErrors.
        raise RequestError(CODE_BAD_JSON, f"request is not valid JSON: {str(err)[:200]}") from err
    except RecursionError as err:
        raise RequestError(CODE_BAD_JSON, "request is not valid JSON: nested too deeply") from err
    if not isinstance(raw, dict):
        raise RequestError(
            CODE_BAD_REQUEST,
            f'request must be a JSON object like {{"cmd": "status"}}, got {type(raw).__name__}',
        )
    cmd = raw.get("cmd")
    known = ", ".join(REQUEST_TYPES)
    if not isinstance(cmd, str):
        raise RequestError(CODE_BAD_REQUEST, f"cmd: missing or not a string (one of: {known})")
    model = REQUEST_TYPES.get(cmd)
    if model is None:
        raise RequestError(CODE_UNKNOWN_CMD, f"cmd: unknown command {cmd[:40]!r} (one of: {known})")
    try:
        request = model.model_validate_json(line)
    except ValidationError as err:
        raise RequestError(CODE_INVALID_ARGS, f"{cmd}: {_describe(err)}") from err
    return request.model_dump()


def _describe(err: ValidationError) -> str:
    """One line per problem: the field, what was wrong, the value received."""
    problems = []
    for item in err.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "request"
        if item["type"] == "extra_forbidden":
            problems.append(f"{field}: unknown argument")
        elif item["type"] == "missing":
            problems.append(f"{field}: required argument missing")
        else:
            shown = repr(item.get("input"))[:40]
            problems.append(f"{field}: {item['msg'].lower()} (got {shown})")
    return "; ".join(problems)


def error_reply(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": message, "code": code}
