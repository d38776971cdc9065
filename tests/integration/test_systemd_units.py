"""The systemd units pass `systemd-analyze verify` and its offline security review.

Needs `systemd-analyze` (Debian/Ubuntu package `systemd`); skipped with that reason without it.
The units name /usr/bin/pumpctl and /usr/bin/pumpsim, which only exist once installed, so a
copy with those two paths pointing at this environment's executables is verified; nothing else
is changed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
ANALYZE = shutil.which("systemd-analyze")
UNITS = (
    "pumpctl.service",
    "pumpsim.service",
    "pumpctl@bench.service",
    "pumpctl-ship.service",
    "pumpctl-ship@bench.service",
)
TIMERS = ("pumpctl-ship.timer", "pumpctl-ship@bench.timer")
#: systemd-analyze security's "OK" band ends at 4.9; the units score 0.7 today.
MAX_EXPOSURE = 2.0

pytestmark = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze not installed (apt-get install systemd)"
)


@pytest.fixture(scope="module")
def unit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The units, with the installed executables replaced by this environment's, and an instance."""
    bin_dir = Path(sys.executable).parent
    executable = bin_dir / "pumpctl"
    assert executable.exists(), f"pumpctl is not installed in {bin_dir}"
    out = tmp_path_factory.mktemp("units")
    for unit in [*SYSTEMD_DIR.glob("*.service"), *SYSTEMD_DIR.glob("*.timer")]:
        text = unit.read_text()
        # pumpsim's entry point may not be installed in every branch; any executable will do,
        # verify only checks that the command exists and is executable.
        text = text.replace("/usr/bin/pumpctl", str(executable))
        text = text.replace("/usr/bin/pumpsim", str(executable))
        (out / unit.name).write_text(text)
    for template in ("pumpctl@.service", "pumpctl-ship@.service", "pumpctl-ship@.timer"):
        shutil.copy(out / template, out / template.replace("@", "@bench"))
    return out


def _analyze(unit_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], cwd=unit_dir, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("unit", UNITS + TIMERS)
def test_unit_verifies_without_warnings(unit_dir: Path, unit: str) -> None:
    """`systemd-analyze verify` accepts the unit and prints no warning (unknown keys included)."""
    result = _analyze(unit_dir, "verify", "--man=no", f"./{unit}")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_unit_is_hardened(unit_dir: Path, unit: str) -> None:
    """The offline security review rates each unit's exposure at most 2.0 (of 10)."""
    result = _analyze(unit_dir, "security", "--offline=true", "--no-pager", f"./{unit}")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_daemon_units_carry_the_required_settings() -> None:
    """The daemon units are Type=notify with a watchdog, restart on failure and the lock dir."""
    for name in ("pumpctl.service", "pumpctl@.service"):
        text = (SYSTEMD_DIR / name).read_text()
        for line in (
            "Type=notify",
            "WatchdogSec=30s",
            "Restart=on-failure",
            "User=pumpctl",
            "DevicePolicy=closed",
            "RestrictAddressFamilies=AF_UNIX",
            "IPAddressDeny=any",
        ):
            assert re.search(rf"^{re.escape(line)}$", text, re.MULTILINE), f"{name}: {line}"
    template = (SYSTEMD_DIR / "pumpctl@.service").read_text()
    assert "ExecStart=/usr/bin/pumpctl run -c /etc/pumpctl/%i.toml" in template
    assert "Environment=PUMPCTL_STATE_DIR=/var/lib/pumpctl/%i" in template


def test_shipper_units_run_apart_from_delivery_at_the_lowest_priority() -> None:
    """The shipper is a oneshot started by a timer, as the daemon's user, at idle priority."""
    for name in ("pumpctl-ship.service", "pumpctl-ship@.service"):
        text = (SYSTEMD_DIR / name).read_text()
        for line in (
            "Type=oneshot",
            "User=pumpctl",
            "Nice=19",
            "CPUSchedulingPolicy=idle",
            "IOSchedulingClass=idle",
            "ProtectSystem=strict",
        ):
            assert re.search(rf"^{re.escape(line)}$", text, re.MULTILINE), f"{name}: {line}"
    template = (SYSTEMD_DIR / "pumpctl-ship@.service").read_text()
    assert "ExecStart=/usr/bin/pumpctl ship -c /etc/pumpctl/%i.toml" in template
    assert "Environment=PUMPCTL_STATE_DIR=/var/lib/pumpctl/%i" in template
    for name in ("pumpctl-ship.timer", "pumpctl-ship@.timer"):
        assert "OnUnitActiveSec=5min" in (SYSTEMD_DIR / name).read_text()


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers missing")
def test_sysusers_creates_the_service_account(tmp_path: Path) -> None:
    """systemd-sysusers creates the pumpctl user and group, without a login shell."""
    sysusers = shutil.which("systemd-sysusers")
    assert sysusers is not None
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        [sysusers, f"--root={tmp_path}", str(SYSTEMD_DIR / "pumpctl.sysusers.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text().splitlines()
    (user,) = [line for line in passwd if line.startswith("pumpctl:")]
    assert ":/var/lib/pumpctl:" in user
    assert user.endswith("nologin")
    assert any(
        line.startswith("pumpctl:")
        for line in (tmp_path / "etc" / "group").read_text().splitlines()
    )
