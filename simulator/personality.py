"""The pump models pumpsim can play, behind one face the servers and the loopback drive."""

from __future__ import annotations

from typing import Any, Protocol

from pumpctl.core.clock import Clock
from pumpctl.errors import ConfigError

from . import elite11, pump
from .elite11_session import Elite11Simulator
from .faults import FaultSpec
from .machine import PumpMachine
from .session import Ne1000Simulator, Outgoing


class Simulator(Protocol):
    """What a personality offers: bytes in, bytes out, faults, physical truth."""

    baud: int
    time_scale: float

    @property
    def pump(self) -> PumpMachine: ...

    def wire_time_s(self, nbytes: int) -> float: ...

    def inject(self, fault: FaultSpec | str) -> None: ...

    def reset_line(self) -> None: ...

    def receive(self, data: bytes, now_s: float | None = None) -> list[Outgoing]: ...

    def poll(self) -> list[Outgoing]: ...

    def describe(self) -> dict[str, object]: ...

    def next_event_s(self) -> float | None: ...

    def rest_until_s(self) -> float | None: ...

    def polled(self, count: int, last_at: float) -> None: ...


#: Model name -> (simulator class, default firmware identity, default baud rate).
MODELS: dict[str, tuple[type, str, int]] = {
    "ne1000": (Ne1000Simulator, pump.FIRMWARE, 19200),
    "elite11": (Elite11Simulator, elite11.FIRMWARE, 9600),
}


#: The simulator model that plays the pump each driver name drives.
MODEL_FOR_DRIVER = {
    "ne1000": "ne1000",
    "ne500": "ne1000",
    "ne300": "ne1000",
    "harvard11": "elite11",
    "elite11": "elite11",
    "phdultra": "elite11",
}


def model_for_driver(driver: str) -> str:
    """The pumpsim model for ``driver``; ConfigError when pumpsim has none."""
    try:
        return MODEL_FOR_DRIVER[driver]
    except KeyError:
        raise ConfigError(
            f"driver {driver!r} has no simulator; pumpsim plays "
            f"{', '.join(sorted(MODEL_FOR_DRIVER))}"
        ) from None


def make_simulator(model: str, clock: Clock, **options: Any) -> Simulator:
    """A simulator of ``model`` (``ne1000`` or ``elite11``); options as its constructor takes."""
    try:
        cls, firmware, baud = MODELS[model]
    except KeyError:
        raise ConfigError(
            f"--model {model!r} is unknown; allowed: {', '.join(sorted(MODELS))}"
        ) from None
    options.setdefault("firmware", firmware)
    options.setdefault("baud", baud)
    simulator: Simulator = cls(clock, **options)
    return simulator
