"""Fault injection: what can go wrong with a pump and its cable, and when it does.

A fault is written ``KIND[@WHEN][,OPTION=VALUE...]`` (command line, scenario file, control
channel alike). WHEN is one of:

* nothing - at once (when the simulator starts, or when injected at run time);
* ``F`` (a fraction 0 < F <= 1) - when the next bolus has delivered F of its volume;
* ``run:N`` or ``run:N:F`` - at the N-th RUN (optionally at F of that bolus);
* ``cmd:N`` - when the N-th command addressed to the pump arrives (before it is handled);
* ``t=S`` - S seconds of simulator time later.

Counts and times start when the fault is armed: at start for command-line and scenario faults,
at injection for the control channel.

Options: ``for=S`` (silence and slow replies last S seconds instead of for good / one reply),
``times=N`` (reply faults hit N replies, default 1), ``delay=S`` (slow replies, default 1.0),
``ver=TEXT`` (the identity a wrong-firmware pump reports), ``send=COMMAND`` (what a ``rogue``
client sends the pump behind its controller's back: ``DIA20``, ``VOLML``, ``RAT900UM``, ``RUN``,
``CLDINF``).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pumpctl.errors import ConfigError

#: Faults of the pump itself, applied to the state machine.
PUMP_FAULTS = frozenset(
    {
        "power-reset",
        "stall",
        "safe-timeout",
        "runaway",
        "spontaneous-start",
        "keypad-pause",
        "reservoir-empty",
        "wrong-identity",
        "rogue",
    }
)
#: Faults of the link, applied to the bytes of replies.
LINK_FAULTS = frozenset({"silence", "garble", "truncate", "duplicate", "bad-crc", "slow"})
FAULT_KINDS = PUMP_FAULTS | LINK_FAULTS

_OPTION_NAMES = frozenset({"for", "times", "delay", "ver", "send"})
#: A rogue command: letters, digits and a decimal point, as typed on a terminal.
_ROGUE_COMMAND_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.")


@dataclass(frozen=True)
class Trigger:
    """When a fault fires; see the module docstring for the spelling."""

    fraction: float | None = None
    run: int | None = None
    cmd: int | None = None
    at_s: float | None = None

    @property
    def immediate(self) -> bool:
        return self.fraction is None and self.run is None and self.cmd is None and self.at_s is None


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject: its kind, its trigger and its options."""

    kind: str
    trigger: Trigger = field(default_factory=Trigger)
    duration_s: float | None = None
    times: int = 1
    delay_s: float = 1.0
    ver: str = "NE500V3.934"
    send: str = "DIA20"
    text: str = ""


def _fraction(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise ConfigError(
            f"fault {spec!r}: fraction {text!r} is not a number; allowed 0 < F <= 1"
        ) from err
    if not 0 < value <= 1:
        raise ConfigError(f"fault {spec!r}: fraction {value} is outside 0 < F <= 1")
    return value


def _count(text: str, spec: str, what: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"fault {spec!r}: {what} {text!r} must be a whole number >= 1")
    return int(text)


def _seconds(text: str, spec: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise ConfigError(f"fault {spec!r}: {what} {text!r} is not a number of seconds") from err
    if value < 0:
        raise ConfigError(f"fault {spec!r}: {what} {value} must be >= 0 seconds")
    return value


MAX_IDENTITY_CHARS = 40  # keeps the VER reply inside the codec's reply size


def check_identity(text: str, what: str) -> str:
    """A firmware identity the pump can report: printable ASCII without spaces, short."""
    if not (0 < len(text) <= MAX_IDENTITY_CHARS and text.isascii() and text.isprintable()):
        raise ConfigError(
            f"{what}={text!r}: must be 1..{MAX_IDENTITY_CHARS} printable ASCII characters"
        )
    return text


def parse_trigger(when: str, spec: str) -> Trigger:
    """Parse the WHEN part of a fault spec."""
    if when.startswith("t="):
        return Trigger(at_s=_seconds(when[2:], spec, "time"))
    if when.startswith("cmd:"):
        return Trigger(cmd=_count(when[4:], spec, "command number"))
    if when.startswith("run:"):
        parts = when[4:].split(":")
        if len(parts) > 2:
            raise ConfigError(f"fault {spec!r}: WHEN {when!r} must be run:N or run:N:F")
        fraction = _fraction(parts[1], spec) if len(parts) == 2 else None
        return Trigger(run=_count(parts[0], spec, "RUN number"), fraction=fraction)
    return Trigger(fraction=_fraction(when, spec))


def parse_fault(spec: str) -> FaultSpec:
    """Parse ``KIND[@WHEN][,OPTION=VALUE...]``; a ConfigError names what is wrong."""
    head, *options = spec.strip().split(",")
    kind, _, when = head.partition("@")
    kind = kind.strip().lower()
    if kind not in FAULT_KINDS:
        raise ConfigError(
            f"fault {spec!r}: unknown kind {kind!r}; allowed {', '.join(sorted(FAULT_KINDS))}"
        )
    trigger = parse_trigger(when.strip(), spec) if when.strip() else Trigger()
    values: dict[str, Any] = {}
    for option in options:
        name, sep, value = option.partition("=")
        name = name.strip().lower()
        if not sep or name not in _OPTION_NAMES:
            raise ConfigError(
                f"fault {spec!r}: option {option!r} is not one of "
                f"{', '.join(sorted(_OPTION_NAMES))} as NAME=VALUE"
            )
        if name == "for":
            values["duration_s"] = _seconds(value, spec, "for")
        elif name == "delay":
            values["delay_s"] = _seconds(value, spec, "delay")
        elif name == "times":
            values["times"] = _count(value, spec, "times")
        elif name == "send":
            command = value.strip().upper()
            if not command or not set(command) <= _ROGUE_COMMAND_CHARS:
                raise ConfigError(
                    f"fault {spec!r}: send {value!r} must be a pump command like DIA20 or RUN"
                )
            values["send"] = command
        else:
            values["ver"] = check_identity(value.strip(), f"fault {spec!r}: ver")
    return FaultSpec(kind=kind, trigger=trigger, text=spec.strip(), **values)


def load_scenario(path: str | Path) -> list[FaultSpec]:
    """Read a scenario file: TOML or JSON with ``faults = ["stall@0.5", ...]``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"scenario file {str(path)!r} cannot be read: {err}") from err
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(raw)
        else:
            doc = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"scenario file {str(path)!r} is not valid TOML/JSON: {err}") from err
    faults = doc.get("faults") if isinstance(doc, dict) else None
    if not isinstance(faults, list) or not all(isinstance(f, str) for f in faults):
        raise ConfigError(
            f"scenario file {str(path)!r}: 'faults' must be a list of strings like 'stall@0.5'"
        )
    return [parse_fault(f) for f in faults]
