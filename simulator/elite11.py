"""The Pump 11 Elite personality: its state, prompts and Quick Start command set.

Motion, the ledger and the fault triggers are the shared :class:`.machine.PumpMachine`. What is
Elite specific: the prompt (``:`` ``>`` ``<`` ``*`` ``T*``), infuse and withdraw rates with their
units, a target volume that the infused (or withdrawn) counter runs up to, and no watchdog.

The target volume counts against the volume counter of the run's direction, as on the pump: a
run whose counter already reached the target stops at once, so clear the counter (``civolume``)
before each bolus. A power loss stops the motor and clears the counters and the target volume
(kept: diameter, rates, syringe volume); nothing on the wire says it happened.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from pumpctl.core.clock import Clock

from .elite11_units import (
    MAX_DIAMETER_MM,
    MIN_DIAMETER_MM,
    VOLUME_UNITS_TO_UL,
    format_rate_auto,
    format_volume,
    parse_number,
    rate_factor,
    rate_limits_ul_per_min,
    rate_unit,
    significant,
    volume_unit,
)
from .faults import FaultSpec
from .ledger import Ledger
from .machine import PumpMachine

FIRMWARE = "11 ELITE I/W Single 3.0.4"
DEFAULT_DIAMETER_MM = 4.699  # a BD 1 mL syringe
BAUD_RATES = (9600, 19200, 38400, 57600, 115200)

COMMAND_ERROR = "Command error"
UNKNOWN = "Unknown command"
ARGUMENT_ERROR = "Argument error"
OUT_OF_RANGE = "Out of range"

log = structlog.get_logger()


class Elite11Pump(PumpMachine):
    """A virtual Pump 11 Elite (infuse/withdraw) at ``address``."""

    def __init__(
        self,
        clock: Clock,
        *,
        address: int = 0,
        syringe_ul: float = 1000.0,
        firmware: str = FIRMWARE,
        ledger: Ledger | None = None,
        faults: tuple[FaultSpec, ...] | list[FaultSpec] = (),
        time_scale: float = 1.0,
        baud: int = 9600,
    ) -> None:
        super().__init__(
            clock,
            address=address,
            syringe_ul=syringe_ul,
            firmware=firmware,
            ledger=ledger,
            time_scale=time_scale,
        )
        self.baud = baud
        self.diameter_mm = DEFAULT_DIAMETER_MM
        self.rates = {"INF": (1.0, "ul/min"), "WDR": (1.0, "ul/min")}
        self.target_ul: float | None = None
        self.syringe_volume = (syringe_ul / 1000.0, "ml")
        self.force = 30
        self.echo = False
        self.poll = False
        self.stalled = False
        self.target_reached = False
        self.direction = "INF"
        self.moved_s = {"INF": 0.0, "WDR": 0.0}
        self._moving_since: float | None = None
        #: Prompts the pump sends on its own (``T*`` when a target is reached).
        self.unprompted: list[str] = []
        for spec in faults:
            self.inject(spec)

    # -- state --------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        if self.drive.moving:
            return "infusing" if self.direction == "INF" else "withdrawing"
        return "stalled" if self.stalled else "idle"

    def at_rest(self) -> bool:
        return not self.drive.moving and not self.stalled and not self.unprompted

    def prompt(self) -> str:
        if self.drive.moving:
            return ">" if self.direction == "INF" else "<"
        if self.stalled:
            return "*"
        return "T*" if self.target_reached else ":"

    def counter_ul(self, direction: str) -> float:
        return self.drive.infused_ul if direction == "INF" else self.drive.withdrawn_ul

    def rate_ul_per_min(self, direction: str) -> float:
        value, unit = self.rates[direction]
        return value * rate_factor(unit)

    # -- motion -------------------------------------------------------------------------------

    def start(self, direction: str, at: float, cause: str, *, ignore_target: bool = False) -> None:
        """Run in ``direction`` at its rate, up to the target (none set: until stopped)."""
        if self.drive.moving:
            return
        self.stalled = self.target_reached = False
        self.direction = direction
        target = None if ignore_target else self.target_ul
        remaining = None if target is None else target - self.counter_ul(direction)
        if remaining is not None and remaining <= 0:
            self.target_reached = True  # the counter already holds the target: nothing moves
            return
        self._moving_since = at
        self.begin_motion(direction, self.rate_ul_per_min(direction), remaining, at, cause)

    def halt(self, at: float, cause: str) -> None:
        if self.drive.moving and self._moving_since is not None:
            self.moved_s[self.direction] += at - self._moving_since
        self._moving_since = None
        self.halt_motor(at, cause)

    def stop(self, at: float) -> None:
        """``stop``: the motor stops; a stall or target indication is cleared."""
        self.halt(at, "stop-command")
        self.stalled = self.target_reached = False

    def on_target_reached(self, at: float) -> None:
        self.halt(at, "target-reached")
        self.target_reached = True
        self.unprompted.append("T*")

    def on_end_of_travel(self, at: float) -> None:
        self.halt(at, "end-of-travel")
        self.stalled = True

    def pump_fault(self, spec: FaultSpec, at: float) -> None:
        kind = spec.kind
        if kind == "power-reset":
            self.halt(at, "power-reset")
            self.drive.infused_ul = self.drive.withdrawn_ul = 0.0
            self.drive.progress_ul = 0.0
            self.moved_s = {"INF": 0.0, "WDR": 0.0}
            self.target_ul = None
            self.stalled = self.target_reached = False
            self.echo = self.poll = False
        elif kind == "stall":
            self.halt(at, "stall")
            self.stalled = True
        elif kind == "spontaneous-start" and not self.drive.moving:
            # A pump that starts by itself obeys no target: the worst case the daemon must catch.
            self.start("INF", at, "spontaneous-start", ignore_target=True)
        elif kind == "keypad-pause" and self.drive.moving:
            self.halt(at, "keypad-pause")  # the Elite has no pause: the keypad stops it
        elif kind == "reservoir-empty":
            self.drive.reservoir_ul = 0.0
            if self.drive.moving and self.direction == "INF":
                self.halt(at, "end-of-travel")
                self.stalled = True
        elif kind == "safe-timeout":
            log.info("pumpsim.fault.not_modelled", fault=kind, reason="the Elite has no watchdog")

    def status_line(self, at: float) -> str:
        """The ``status`` reply: rate fL/s, time ms, volume fL, then six flags."""
        direction = self.direction
        moved = self.moved_s[direction]
        if self.drive.moving and self._moving_since is not None:
            moved += at - self._moving_since
        rate_fl_s = round(self.rate_ul_per_min(direction) * 1e9 / 60.0)
        volume_fl = round(self.counter_ul(direction) * 1e9)
        letter = "i" if direction == "INF" else "w"
        flags = (
            (letter.upper() if self.drive.moving else letter)
            + "."
            + ("S" if self.stalled else ".")
            + "."
            + letter.upper()
            + ("T" if self.target_reached else ".")
        )
        return f"{rate_fl_s} {round(moved * 1000)} {volume_fl} {flags}"


# -- the command set ----------------------------------------------------------------------------

Reply = list[str]
Handler = Callable[[Elite11Pump, tuple[str, ...], float], Reply]


def _volume_arg(args: tuple[str, ...]) -> float | str:
    """``<number> <unit>`` as uL, or the error text."""
    if len(args) != 2:
        return ARGUMENT_ERROR
    value, unit = parse_number(args[0]), volume_unit(args[1])
    if value is None or unit is None:
        return ARGUMENT_ERROR
    return value * VOLUME_UNITS_TO_UL[unit]


def _diameter(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    if not args:
        return [f"{pump.diameter_mm:.4f} mm"]
    if len(args) > 2 or (len(args) == 2 and args[1].lower() != "mm"):
        return [ARGUMENT_ERROR]
    value = parse_number(args[0])
    if value is None:
        return [ARGUMENT_ERROR]
    if not MIN_DIAMETER_MM <= value <= MAX_DIAMETER_MM:
        return [OUT_OF_RANGE]
    if pump.drive.moving:
        return [COMMAND_ERROR]
    pump.diameter_mm = value
    return []


def _rate(direction: str) -> Handler:
    def handler(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
        low, high = rate_limits_ul_per_min(pump.diameter_mm)
        if not args:
            current, current_unit = pump.rates[direction]
            return [f"{significant(current)} {current_unit}"]
        if len(args) == 1 and args[0].lower() == "lim":
            return [f"{format_rate_auto(low)} to {format_rate_auto(high)}"]
        if len(args) == 1 and args[0].lower() in ("min", "max"):
            shown, shown_unit = format_rate_auto(low if args[0].lower() == "min" else high).split()
            return _set_rate(pump, direction, float(shown), shown_unit, at)
        value, unit = _rate_arg(args)
        if value is None or unit is None:
            return [ARGUMENT_ERROR]
        if not low <= value * rate_factor(unit) <= high:
            return [OUT_OF_RANGE]
        return _set_rate(pump, direction, value, unit, at)

    return handler


def _rate_arg(args: tuple[str, ...]) -> tuple[float | None, str | None]:
    if len(args) != 2:
        return None, None
    return parse_number(args[0]), rate_unit(args[1])


def _set_rate(pump: Elite11Pump, direction: str, value: float, unit: str, at: float) -> Reply:
    pump.rates[direction] = (value, unit)
    if pump.drive.moving and pump.direction == direction:
        pump.drive.set_rate(value * rate_factor(unit) / 60.0, at)
    return []


def _tvolume(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    if not args:
        return (
            ["Target volume not set"] if pump.target_ul is None else [format_volume(pump.target_ul)]
        )
    volume = _volume_arg(args)
    if isinstance(volume, str):
        return [volume]
    syringe_ul = pump.syringe_volume[0] * VOLUME_UNITS_TO_UL[pump.syringe_volume[1]]
    if volume <= 0:
        return [OUT_OF_RANGE]
    if volume > syringe_ul:
        return [ARGUMENT_ERROR]  # a target beyond the syringe
    if pump.drive.moving:
        return [COMMAND_ERROR]
    pump.target_ul = volume
    return []


def _svolume(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    if not args:
        value, unit = pump.syringe_volume
        return [f"{significant(value)} {unit}"]
    if len(args) != 2 or volume_unit(args[1]) not in ("ml", "ul"):
        return [ARGUMENT_ERROR]
    size = parse_number(args[0])
    if size is None:
        return [ARGUMENT_ERROR]
    if size <= 0:
        return [OUT_OF_RANGE]
    pump.syringe_volume = (size, volume_unit(args[1]) or "ml")
    return []


def _counter(direction: str) -> Handler:
    def handler(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
        return [ARGUMENT_ERROR] if args else [format_volume(pump.counter_ul(direction))]

    return handler


def _clear(*what: str) -> Handler:
    def handler(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
        if args:
            return [ARGUMENT_ERROR]
        for item in what:
            if item == "target":
                pump.target_ul = None
            elif item == "INF":
                pump.drive.infused_ul = 0.0
                pump.moved_s["INF"] = 0.0
            else:
                pump.drive.withdrawn_ul = 0.0
                pump.moved_s["WDR"] = 0.0
        return []

    return handler


def _run(direction: str | None, *, reverse: bool = False) -> Handler:
    def handler(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
        if args:
            return [ARGUMENT_ERROR]
        chosen = direction or pump.direction
        if reverse:
            chosen = "WDR" if pump.direction == "INF" else "INF"
        if not pump.drive.moving:
            pump.start(chosen, at, "run")
            pump.run_started(at)
        return []

    return handler


def _stop(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    pump.stop(at)
    return []


def _crate(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    if not pump.drive.moving:
        return []
    verb = "Infusing" if pump.direction == "INF" else "Withdrawing"
    value, unit = pump.rates[pump.direction]
    return [f"{verb} at {significant(value)} {unit}"]


def _switch(attribute: str) -> Handler:
    def handler(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
        if not args:
            return ["ON" if getattr(pump, attribute) else "OFF"]
        if len(args) != 1 or args[0].lower() not in ("on", "off"):
            return [ARGUMENT_ERROR]
        setattr(pump, attribute, args[0].lower() == "on")
        return []

    return handler


def _force(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    if not args:
        return [f"{pump.force}%"]
    if len(args) != 1 or not args[0].isdigit():
        return [ARGUMENT_ERROR]
    if not 1 <= int(args[0]) <= 100:
        return [OUT_OF_RANGE]
    pump.force = int(args[0])
    return []


def _address(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    if not args:
        return [f"Pump address is {pump.address}"]
    if len(args) != 1 or not args[0].isdigit():
        return [ARGUMENT_ERROR]
    if int(args[0]) > 99:
        return [OUT_OF_RANGE]
    pump.address = int(args[0])
    return []


def _baud(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    if not args:
        return [str(pump.baud)]
    if len(args) != 1 or not args[0].isdigit():
        return [ARGUMENT_ERROR]
    if int(args[0]) not in BAUD_RATES:
        return [OUT_OF_RANGE]
    pump.baud = int(args[0])  # takes effect when the line is opened again
    return []


def _ver(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    return [pump.firmware]


def _version(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    return [
        f"Firmware:      {pump.firmware}",
        f"Pump address:  {pump.address}",
        "Serial number: SIM0001",
    ]


def _metrics(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    return [
        "Pump type          Pump 11",
        f"Pump type string   {pump.firmware.rsplit(' ', 1)[0]}",
        f"Min syringe size   {significant(MIN_DIAMETER_MM)} mm",
        f"Max syringe size   {significant(MAX_DIAMETER_MM)} mm",
        "Direction          Infuse/withdraw",
        "Programmable       Yes",
        "Limit switches     No",
        "Command set        None",
    ]


def _status(pump: Elite11Pump, args: tuple[str, ...], at: float) -> Reply:
    return [pump.status_line(at)]


HANDLERS: dict[str, Handler] = {
    "address": _address,
    "baud": _baud,
    "civolume": _clear("INF"),
    "crate": _crate,
    "ctvolume": _clear("target"),
    "cvolume": _clear("INF", "WDR"),
    "cwvolume": _clear("WDR"),
    "diameter": _diameter,
    "echo": _switch("echo"),
    "force": _force,
    "irate": _rate("INF"),
    "irun": _run("INF"),
    "ivolume": _counter("INF"),
    "metrics": _metrics,
    "poll": _switch("poll"),
    "rrun": _run(None, reverse=True),
    "run": _run(None),
    "status": _status,
    "stop": _stop,
    "svolume": _svolume,
    "tvolume": _tvolume,
    "ver": _ver,
    "version": _version,
    "wrate": _rate("WDR"),
    "wrun": _run("WDR"),
    "wvolume": _counter("WDR"),
}
#: Short names the pump also takes.
ALIASES = {"stp": "stop", "dia": "diameter", "addr": "address"}
#: A command may be shortened to its first four letters or more, where that stays unambiguous.
MIN_ABBREVIATION = 4


def resolve(word: str, extra: tuple[str, ...] = ()) -> str | None:
    """The command ``word`` names (full, alias or unambiguous abbreviation), or None."""
    names = (*HANDLERS, *extra)
    if word in names:
        return word
    if word in ALIASES:
        return ALIASES[word]
    if len(word) >= MIN_ABBREVIATION:
        matches = [name for name in names if name.startswith(word)]
        if len(matches) == 1:
            return matches[0]
    return None
