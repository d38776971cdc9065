"""The driver registry: built-ins, entry-point plug-ins, and clear failures."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from pytest_mock import MockerFixture

from pumpctl.drivers import registry
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.errors import ConfigError, PumpctlError


def _plugins(mocker: MockerFixture, **targets: str) -> None:
    eps = [EntryPoint(name, value, registry.ENTRY_POINT_GROUP) for name, value in targets.items()]
    mocker.patch.object(registry, "entry_points", return_value=eps)


def test_builtin_names_resolve_to_the_ne1000_driver() -> None:
    """ne1000, ne500 and ne300 all resolve to the NE-1000 family driver."""
    for name in ("ne1000", "ne500", "ne300"):
        assert registry.get_driver_class(name) is Ne1000Driver
    assert {"ne1000", "ne500", "ne300"} <= set(registry.available_drivers())


def test_unknown_driver_is_a_config_error_listing_choices(mocker: MockerFixture) -> None:
    """An unknown name raises ConfigError naming it and the available drivers."""
    _plugins(mocker)
    names = "elite11, harvard11, ne1000, ne300, ne500, phdultra"
    with pytest.raises(ConfigError, match=rf"driver='nope' is unknown; available: {names}"):
        registry.get_driver_class("nope")


def test_entry_point_plugin_is_loaded(mocker: MockerFixture) -> None:
    """A driver registered through the entry-point group is found and imported lazily."""
    _plugins(mocker, fake="decimal:Decimal")
    assert "fake" in registry.available_drivers()
    assert registry.get_driver_class("fake").__name__ == "Decimal"


def test_plugin_import_failure_is_reported(mocker: MockerFixture) -> None:
    """A plug-in that fails to import raises PumpctlError naming the driver and the cause."""
    _plugins(mocker, broken="pumpctl_no_such_module.sub:Driver")
    with pytest.raises(PumpctlError, match=r"driver 'broken'.*ModuleNotFoundError"):
        registry.get_driver_class("broken")


def test_plugin_target_that_is_not_a_class_is_reported(mocker: MockerFixture) -> None:
    """A plug-in pointing at something that is not a class raises PumpctlError."""
    _plugins(mocker, odd="decimal:getcontext", bare="decimal")
    for name in ("odd", "bare"):
        with pytest.raises(PumpctlError, match="does not name a class"):
            registry.get_driver_class(name)


def test_plugin_cannot_shadow_a_builtin(mocker: MockerFixture) -> None:
    """A plug-in reusing a built-in name is ignored: the documented driver stays."""
    _plugins(mocker, ne1000="decimal:Decimal")
    assert registry.get_driver_class("ne1000") is Ne1000Driver


def test_installed_package_declares_its_drivers_as_entry_points() -> None:
    """pumpctl's own metadata registers the NE-1000 family in the pumpctl.drivers group."""
    declared = {ep.name: ep.value for ep in registry.entry_points(group="pumpctl.drivers")}
    for name in ("ne1000", "ne500", "ne300"):
        assert declared[name] == registry.BUILTIN_DRIVERS[name]
