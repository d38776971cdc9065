"""SR-31: the pump's device belongs to the daemon's user alone; operators reach only the socket.

The udev rule is checked as text (every rule line, the commented template included), then run
through ``udevadm test`` where the host allows it: in a private mount namespace with a scratch
``/dev``, ``/run`` and rules directory, and with the service account ``systemd-sysusers``
creates from ``systemd/pumpctl.sysusers.conf``, so nothing of the host changes. A copy of the
shipped line whose match keys name a tty this host has shows what udev does with the rule's
assignments; the shipped file itself must parse without a complaint.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pumpctl.config import load_config
from pumpctl.daemon.device_access import device_exposure

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "systemd" / "99-pumpctl.rules"
SYSUSERS = ROOT / "systemd" / "pumpctl.sysusers.conf"
OPERATING = ROOT / "docs" / "operating.md"
UDEVADM = shutil.which("udevadm")
SYSUSERS_BIN = shutil.which("systemd-sysusers")
UNSHARE = shutil.which("unshare")

_PAIR = re.compile(r'(\w+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"')


def rule_lines() -> list[str]:
    """Every rule in the file, the commented multi-pump template included."""
    lines = []
    for raw in RULES.read_text().splitlines():
        line = raw.lstrip("# ").strip()
        if line.startswith("SUBSYSTEM=="):
            lines.append(line)
    return lines


def assignments(line: str) -> dict[str, str]:
    return {key: value for key, _attr, op, value in _PAIR.findall(line) if op in ("=", "+=")}


def test_every_rule_gives_the_device_to_the_daemons_user_alone() -> None:
    """SR-31: each rule (also the template for several pumps) names the device for the daemon,
    owned by user pumpctl with mode 0600, so no group (dialout, operators) can open it."""
    lines = rule_lines()
    assert len(lines) == 2
    for line in lines:
        keys = assignments(line)
        assert keys["OWNER"] == "pumpctl", line
        assert keys["MODE"] == "0600", line
        assert keys["SYMLINK"].startswith("pump-"), line
        assert 'ENV{ID_SERIAL_SHORT}=="' in line, "one adapter, pinned by its serial"


def test_operators_group_is_not_the_devices(tmp_path: Path) -> None:
    """SR-31: the example configuration hands the control socket to pumpctl-operators, which is
    neither the device's owner nor its group."""
    config = load_config(ROOT / "config" / "ne1000.toml")
    keys = assignments(rule_lines()[0])
    assert config.control.group == "pumpctl-operators"
    assert config.control.group not in (keys["OWNER"], keys.get("GROUP"))
    assert config.control.mode & 0o007 == 0


@pytest.mark.skipif(SYSUSERS_BIN is None, reason="systemd-sysusers missing")
def test_sysusers_makes_operators_a_group_of_their_own(tmp_path: Path) -> None:
    """SR-31: sysusers creates the operators' group and puts the daemon's user in it (to hand
    the socket over); operators are told to join that group, never pumpctl."""
    root = make_accounts(tmp_path)
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",")
        for line in (root / "etc" / "group").read_text().splitlines()
    }
    assert "pumpctl" in groups["pumpctl-operators"]
    assert "usermod -aG pumpctl-operators" in SYSUSERS.read_text()


def test_the_docs_install_what_the_tree_has_and_tell_operators_the_right_group() -> None:
    """The install commands in docs/operating.md name files that exist, and the group they tell
    operators to join is the socket's, not the device's."""
    text = OPERATING.read_text()
    installs = re.findall(r"sudo install -m \d+ (systemd/\S+) (\S+)", text)
    assert {src for src, _ in installs} >= {
        "systemd/pumpctl.sysusers.conf",
        "systemd/99-pumpctl.rules",
        "systemd/pumpctl.service",
    }
    for src, _dest in installs:
        assert (ROOT / src).is_file(), src
    joins = re.findall(r"usermod -aG (\S+)", text)
    assert joins and set(joins) == {"pumpctl-operators"}
    assert "crw------- 1 pumpctl" in text  # what `ls -l` shows after the rule


def make_accounts(tmp_path: Path) -> Path:
    """A scratch root whose passwd/group are the host's plus the service accounts."""
    assert SYSUSERS_BIN is not None
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group"):
        shutil.copy(f"/etc/{name}", root / "etc" / name)
    result = subprocess.run(
        [SYSUSERS_BIN, f"--root={root}", str(SYSUSERS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return root


def probe_tty() -> str | None:
    for name in ("tty1", "ttyS0", "tty0", "console"):
        if Path("/sys/class/tty", name).exists():
            return name
    return None


def udevadm_test(tmp_path: Path, rules: dict[str, str], tty: str) -> str:
    """``udevadm test`` with only ``rules`` in /etc/udev/rules.d, in a private namespace."""
    root = make_accounts(tmp_path)
    rules_dir, dev, run = tmp_path / "rules", tmp_path / "dev", tmp_path / "run"
    for folder in (rules_dir, dev, run):
        folder.mkdir()
    for name, text in rules.items():
        (rules_dir / name).write_text(text)
    (dev / "null").touch()
    script = f"""
set -e
mount --bind {rules_dir} /etc/udev/rules.d
mount --bind {root}/etc/passwd /etc/passwd
mount --bind {root}/etc/group /etc/group
mount --bind {run} /run
mount --bind /dev/null {dev}/null
mount --bind {dev} /dev
exec {UDEVADM} test --action=add /class/tty/{tty}
"""
    result = subprocess.run(
        [str(UNSHARE), "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if "Operation not permitted" in result.stderr and result.returncode != 0:
        pytest.skip("no private mount namespace here (needs root / CAP_SYS_ADMIN)")
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.skipif(
    UDEVADM is None or UNSHARE is None or SYSUSERS_BIN is None or os.geteuid() != 0,
    reason="needs udevadm, unshare, systemd-sysusers and root for a private mount namespace",
)
def test_udevadm_applies_the_rule_owner_and_mode(tmp_path: Path) -> None:
    """SR-31: udev parses the shipped rule without complaint and, for a matching device, sets
    owner pumpctl (the uid sysusers made), mode 0600 and the /dev/pump-... link."""
    tty = probe_tty()
    if tty is None:
        pytest.skip("no tty device in /sys/class/tty to run a rule against")
    shipped = rule_lines()[0]
    keys = assignments(shipped)
    probe = f'SUBSYSTEM=="tty", KERNEL=="{tty}", ' + ", ".join(
        f'{key}{"+=" if key == "SYMLINK" else "="}"{value}"' for key, value in keys.items()
    )
    out = udevadm_test(
        tmp_path, {"99-pumpctl.rules": RULES.read_text(), "98-probe.rules": probe}, tty
    )
    complaints = [
        line
        for line in out.splitlines()
        if "99-pumpctl.rules" in line and "Reading rules file" not in line
    ]
    assert complaints == [], complaints  # the shipped rule does not match here; it must parse
    uid = next(
        line.split(":")[2]
        for line in (tmp_path / "root" / "etc" / "passwd").read_text().splitlines()
        if line.startswith("pumpctl:")
    )
    assert f"98-probe.rules:1 OWNER {uid}" in out
    assert "98-probe.rules:1 MODE 0600" in out
    assert f"98-probe.rules:1 LINK '{keys['SYMLINK']}'" in out
    assert "Unknown user" not in out and "Invalid" not in out


@pytest.fixture
def char_device(tmp_path: Path) -> Path:
    path = tmp_path / "ttyUSB-pump"
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("cannot create a character device here (needs CAP_MKNOD)")
    return path


def test_a_device_only_its_owner_opens_is_not_reported(char_device: Path) -> None:
    """SR-31: mode 0600 and owned by the daemon's user: nothing to report."""
    assert device_exposure(str(char_device), euid=char_device.stat().st_uid) is None


@pytest.mark.parametrize(
    ("mode", "says"), [(0o660, "may open it"), (0o620, "may open it"), (0o606, "every user")]
)
def test_group_or_world_access_is_reported(char_device: Path, mode: int, says: str) -> None:
    """SR-31: any group or world bit on the device is reported, naming the device and the fix."""
    char_device.chmod(mode)
    link = char_device.parent / "pump-ne1000"
    link.symlink_to(char_device)
    why = device_exposure(str(link), euid=char_device.stat().st_uid)
    assert why is not None
    assert says in why and f"{mode:04o}" in why and str(char_device) in why
    assert "99-pumpctl.rules" in why


def test_a_device_of_another_user_is_reported(char_device: Path) -> None:
    """SR-31: a device the daemon's user does not own is someone else's to open."""
    why = device_exposure(str(char_device), euid=char_device.stat().st_uid + 1)
    assert why is not None and "not by the daemon's user" in why


def test_network_urls_and_pseudo_terminals_are_not_judged() -> None:
    """A TCP bridge guards its own port, and a pseudo-terminal is pumpsim's: not SR-31's case."""
    assert device_exposure("socket://127.0.0.1:7777") is None
    assert device_exposure("/dev/pts/0") is None
