"""SR-31 in the daemon: a pump device others can open is alarmed at each connection, without
stopping the therapy (the read-back before RUN and the flow watch still guard the pump)."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from pumpctl.core.alarm_kinds import AlarmKind, Priority
from tests.daemon.harness import START, make_bench


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "ttyUSB-pump"
    try:
        os.mknod(path, stat.S_IFCHR | 0o660, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("cannot create a character device here (needs CAP_MKNOD)")
    path.chmod(0o660)  # mknod's mode passes through the umask
    return path


def test_a_device_the_group_can_open_raises_pump_device_shared(
    tmp_path: Path, device: Path
) -> None:
    """SR-31: at start-up a device of mode 0660 raises the medium pump-device-shared alarm naming
    the device and the udev rule; the pulse after it is still given."""
    bench = make_bench(tmp_path)
    bench.daemon.pump_watch.device_url = str(device)
    bench.daemon.start()
    alarm = bench.daemon.alarms.get(AlarmKind.PUMP_DEVICE_SHARED)
    assert alarm.priority is Priority.MEDIUM
    assert str(device) in alarm.detail and "0660" in alarm.detail
    assert "99-pumpctl.rules" in alarm.detail
    bench.run_until(START + timedelta(minutes=10))
    assert len(bench.starts()) == 1  # a medium alarm warns; it does not deny


def test_a_device_only_the_daemon_opens_raises_nothing(tmp_path: Path, device: Path) -> None:
    """SR-31: the same device with mode 0600, owned by the daemon's user, is not alarmed."""
    device.chmod(0o600)
    bench = make_bench(tmp_path)
    bench.daemon.pump_watch.device_url = str(device)
    bench.daemon.start()
    assert AlarmKind.PUMP_DEVICE_SHARED not in {a.kind for a in bench.daemon.alarms.active()}
