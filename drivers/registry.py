"""Driver names to driver classes, imported only when asked for.

Built-in drivers are listed here; other packages add theirs through the entry-point group
``pumpctl.drivers`` (``name = "package.module:Class"``). A driver that fails to import is reported
with its name and the cause, never skipped silently.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import structlog

from pumpctl.errors import ConfigError, PumpctlError

log = structlog.get_logger()

ENTRY_POINT_GROUP = "pumpctl.drivers"

#: Built-in drivers: one NE-1000 family driver serves the NE-1000, NE-500 and NE-300; one
#: Protocol 11 driver serves the Harvard Apparatus Pump 11 Elite and PHD Ultra.
BUILTIN_DRIVERS: dict[str, str] = {
    "ne1000": "pumpctl.drivers.ne1000:Ne1000Driver",
    "ne500": "pumpctl.drivers.ne1000:Ne1000Driver",
    "ne300": "pumpctl.drivers.ne1000:Ne1000Driver",
    "harvard11": "pumpctl.drivers.harvard11:Harvard11Driver",
    "elite11": "pumpctl.drivers.harvard11:Harvard11Driver",
    "phdultra": "pumpctl.drivers.harvard11:Harvard11Driver",
}


def _targets() -> dict[str, str]:
    targets: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        targets.setdefault(ep.name, ep.value)
    for name, target in BUILTIN_DRIVERS.items():
        if targets.get(name, target) != target:
            # A plug-in must not silently replace a driver whose behaviour the docs promise.
            log.warning("driver.shadowed", name=name, ignored=targets[name], used=target)
        targets[name] = target
    return targets


def available_drivers() -> list[str]:
    """Names accepted by :func:`get_driver_class`, sorted."""
    return sorted(_targets())


def get_driver_class(name: str) -> type:
    """The class registered as ``name``; raises ``ConfigError`` or ``PumpctlError`` naming it."""
    targets = _targets()
    target = targets.get(name)
    if target is None:
        raise ConfigError(f"driver={name!r} is unknown; available: {', '.join(sorted(targets))}")
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise PumpctlError(
            f"driver {name!r} ({target}) failed to import: {type(err).__name__}: {err}"
        ) from err
    cls = getattr(module, attribute, None) if attribute else None
    if not isinstance(cls, type):
        raise PumpctlError(f"driver {name!r}: {target} does not name a class")
    return cls
