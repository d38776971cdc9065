"""The NE-1000 command set (manual Appendix B) as the simulated pump answers it.

``execute`` takes one normalised command addressed to this pump and returns the reply's status
and data. A command without arguments is a query; a successful set replies with status only; an
unknown command gets ``?``, a value out of range ``?OOR``, a change the current state forbids
``?NA``. Pending alarms are answered in :meth:`Ne1000Pump` terms by the caller, not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from .pump import MAX_PHASES, Ne1000Pump, Phase
from .units import (
    RATE_UNITS_TO_UL_PER_MIN,
    VOLUME_UNITS_TO_UL,
    default_volume_units,
    format_number,
    parse_number,
    rate_limits_ul_per_min,
)

_NAME_RE = re.compile(r"\*?[A-Z]*")
#: A phase function's argument: a phase, count or seconds number (``JMP 3``, ``PAS 20``).
_FUN_ARGUMENT_RE = re.compile(r"\d{0,4}")
_MIN_DIAMETER_MM = 0.1
_MAX_DIAMETER_MM = 80.0
#: Program functions the pump accepts in a phase (FUN); only RAT and STP are played.
_FUNCTIONS = frozenset(
    {"RAT", "INC", "DEC", "STP", "JMP", "PRI", "LOP", "LPS", "LPE", "PAS", "IF", "EVN", "EVS",
     "EVR", "OUT", "BEP"}
)  # fmt: skip
#: On/off settings: name -> allowed values.
_SWITCHES = {
    "AL": ("0", "1"),
    "BP": ("0", "1"),
    "DIN": ("0", "1"),
    "ROM": ("0", "1"),
    "LOC": ("0", "1"),
    "OUT": ("0", "1"),
}
_TRIGGER_MODES = frozenset({"FT", "FH", "F2", "LE", "ST", "T2"})

Reply = tuple[str, str]
OK = ""
UNKNOWN = "?"
OOR = "?OOR"
NOT_APPLICABLE = "?NA"


def _phase(pump: Ne1000Pump) -> Phase:
    return pump.phases.setdefault(pump.phase_n, Phase())


def _busy(pump: Ne1000Pump) -> bool:
    return pump.state in ("running", "purging")


def _dia(pump: Ne1000Pump, arg: str, at: float) -> str:
    if not arg:
        return format_number(pump.diameter_mm)
    if pump.state != "stopped":
        return NOT_APPLICABLE
    value = parse_number(arg)
    if value is None or not _MIN_DIAMETER_MM <= value <= _MAX_DIAMETER_MM:
        return OOR
    pump.diameter_mm = value
    pump.volume_units = default_volume_units(value)
    return OK


def _rat(pump: Ne1000Pump, arg: str, at: float) -> str:
    phase = _phase(pump)
    if not arg:
        return format_number(phase.rate) + phase.rate_units
    units = arg[-2:] if arg[-2:] in RATE_UNITS_TO_UL_PER_MIN else ""
    number = arg[: len(arg) - len(units)]
    if _busy(pump) and units and units != phase.rate_units:
        return NOT_APPLICABLE  # the manual: rate units are fixed once pumping
    new_units = units or phase.rate_units
    if not number:
        if _busy(pump):
            return NOT_APPLICABLE
        phase.rate_units = new_units
        return OK
    return _set_rate(pump, phase, number, new_units, at)


def _set_rate(pump: Ne1000Pump, phase: Phase, number: str, units: str, at: float) -> str:
    value = parse_number(number)
    low, high = rate_limits_ul_per_min(pump.diameter_mm)
    rate_ul_per_min = (value or 0.0) * RATE_UNITS_TO_UL_PER_MIN[units]
    if value is None or not low <= rate_ul_per_min <= high:
        return OOR
    phase.function, phase.rate, phase.rate_units = "RAT", value, units
    if _busy(pump) and pump.running_phase == pump.phase_n:
        pump.drive.set_rate(rate_ul_per_min / 60.0, at)
    return OK


def _vol(pump: Ne1000Pump, arg: str, at: float) -> str:
    phase = _phase(pump)
    factor = VOLUME_UNITS_TO_UL[pump.volume_units]
    if not arg:
        return format_number(phase.volume_ul / factor) + pump.volume_units
    if pump.state != "stopped":
        return NOT_APPLICABLE
    if arg in VOLUME_UNITS_TO_UL:
        pump.volume_units = arg
        return OK
    value = parse_number(arg)
    if value is None:
        return OOR
    phase.volume_ul = value * factor  # 0 means continuous, as on the real pump
    return OK


def _dir(pump: Ne1000Pump, arg: str, at: float) -> str:
    phase = _phase(pump)
    if not arg:
        return phase.direction
    if arg not in ("INF", "WDR", "REV"):
        return OOR
    if pump.state != "stopped":
        return NOT_APPLICABLE
    if arg == "REV":
        arg = "WDR" if phase.direction == "INF" else "INF"
    phase.direction = arg
    return OK


def _run(pump: Ne1000Pump, arg: str, at: float) -> str:
    start = 1
    if arg:
        if not arg.isdigit() or not 1 <= int(arg) <= MAX_PHASES:
            return OOR
        start = int(arg)
    startable = ("RAT", "PAS")
    if pump.state == "stopped" and pump.phases.get(start, Phase("STP")).function not in startable:
        return NOT_APPLICABLE
    pump.run(start, at)
    return OK


def _stp(pump: Ne1000Pump, arg: str, at: float) -> str:
    pump.stop(at)
    return OK


def _pur(pump: Ne1000Pump, arg: str, at: float) -> str:
    if pump.state != "stopped":
        return NOT_APPLICABLE
    pump.purge(at)
    return OK


def _dis(pump: Ne1000Pump, arg: str, at: float) -> str:
    factor = VOLUME_UNITS_TO_UL[pump.volume_units]
    infused = format_number(pump.drive.infused_ul / factor)
    withdrawn = format_number(pump.drive.withdrawn_ul / factor)
    return f"I{infused}W{withdrawn}{pump.volume_units}"


def _cld(pump: Ne1000Pump, arg: str, at: float) -> str:
    if arg == "INF":
        pump.drive.infused_ul = 0.0
    elif arg == "WDR":
        pump.drive.withdrawn_ul = 0.0
    else:
        return OOR
    return OK


def _saf(pump: Ne1000Pump, arg: str, at: float) -> str:
    if not arg:
        return str(pump.safe_timeout_s)
    if not arg.isdigit() or int(arg) > 255:
        return OOR
    pump.safe_timeout_s = int(arg)
    pump.restart_watchdog(at)
    return OK


def _pf(pump: Ne1000Pump, arg: str, at: float) -> str:
    if not arg:
        return str(pump.pf)
    if arg not in ("0", "1"):
        return OOR
    pump.pf = int(arg)
    return OK


def _ver(pump: Ne1000Pump, arg: str, at: float) -> str:
    return pump.firmware


def _phn(pump: Ne1000Pump, arg: str, at: float) -> str:
    if not arg:
        return f"{pump.phase_n:02d}"
    if not arg.isdigit() or not 1 <= int(arg) <= MAX_PHASES:
        return OOR
    pump.phase_n = int(arg)
    pump.phases.setdefault(pump.phase_n, Phase(function="STP"))
    return OK


def _fun(pump: Ne1000Pump, arg: str, at: float) -> str:
    phase = _phase(pump)
    if not arg:
        return phase.function + phase.argument
    name = _NAME_RE.match(arg)
    function = name.group(0) if name else ""
    argument = arg[len(function) :]
    if function not in _FUNCTIONS or not _FUN_ARGUMENT_RE.fullmatch(argument):
        return OOR
    if pump.state != "stopped":
        return NOT_APPLICABLE
    phase.function, phase.argument = function, argument
    return OK


def _switch(name: str) -> Callable[[Ne1000Pump, str, float], str]:
    def handler(pump: Ne1000Pump, arg: str, at: float) -> str:
        values = pump.settings.values
        if not arg:
            return values[name]
        if arg not in _SWITCHES[name]:
            return OOR
        values[name] = arg
        return OK

    return handler


def _trg(pump: Ne1000Pump, arg: str, at: float) -> str:
    if not arg:
        return pump.settings.values["TRG"]
    if arg not in _TRIGGER_MODES:
        return OOR
    pump.settings.values["TRG"] = arg
    return OK


def _buz(pump: Ne1000Pump, arg: str, at: float) -> str:
    if not arg:
        return pump.settings.values["BUZ"]
    if arg[0] not in "01" or (arg[1:] and not arg[1:].isdigit()):
        return OOR
    pump.settings.values["BUZ"] = arg[0]
    return OK


def _in(pump: Ne1000Pump, arg: str, at: float) -> str:
    return OOR if arg else pump.settings.values["IN"]


def _adr(pump: Ne1000Pump, arg: str, at: float) -> str:
    if not arg:
        return f"{pump.address:02d}"
    if not arg.isdigit() or int(arg) > 99:
        return OOR
    pump.address = int(arg)
    return OK


def _status(pump: Ne1000Pump, arg: str, at: float) -> str:
    return UNKNOWN if arg else OK


Handler = Callable[[Ne1000Pump, str, float], str]
HANDLERS: dict[str, Handler] = {
    "": _status,
    "DIA": _dia,
    "RAT": _rat,
    "VOL": _vol,
    "DIR": _dir,
    "RUN": _run,
    "STP": _stp,
    "PUR": _pur,
    "DIS": _dis,
    "CLD": _cld,
    "SAF": _saf,
    "PF": _pf,
    "VER": _ver,
    "PHN": _phn,
    "FUN": _fun,
    "TRG": _trg,
    "BUZ": _buz,
    "IN": _in,
    "*ADR": _adr,
    "ADR": _adr,
    **{name: _switch(name) for name in _SWITCHES},
}


def split_command(text: str, extra_names: Collection[str] = ()) -> tuple[str, str]:
    """``"RAT500UM"`` -> ``("RAT", "500UM")``: the command name, then the argument."""
    match = _NAME_RE.match(text)
    name = match.group(0) if match else ""
    for length in range(len(name), 0, -1):
        # Arguments may be letters too ("DIRINF" is DIR + INF): take the longest known name.
        if name[:length] in HANDLERS or name[:length] in extra_names:
            return name[:length], text[length:]
    return name, text[len(name) :]


def execute(pump: Ne1000Pump, text: str, at: float) -> Reply:
    """Carry out one command; returns (status character, data)."""
    name, arg = split_command(text, pump.vendor_queries)
    query = pump.vendor_queries.get(name)
    if query is not None and not arg:
        return pump.status_char(), query()
    handler = HANDLERS.get(name)
    if handler is None:
        return pump.status_char(), UNKNOWN
    data = handler(pump, arg, at)
    return pump.status_char(), data
