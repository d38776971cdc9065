"""Which modules a command imports before it answers (issue 13, CLI start-up).

``pumpctl status`` and ``pumpctl --version`` must start quickly on a loaded host, so the command
line imports only what the chosen command needs: parsing never imports the report stack, the
journal, the configuration's pydantic models, structlog or the model extra. These tests run each
command in a fresh interpreter and look at ``sys.modules`` when it returns: which modules, not
how long (speed is measured by ``benchmarks/bench_cli.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pumpctl import report
from pumpctl.cli import report as report_cli

#: Never imported by the commands below: heavy, and not needed to parse or to talk to a daemon.
HEAVY = (
    "pumpctl.report",
    "pumpctl.journal",
    "pumpctl.config",
    "pumpctl.simulation",
    "pumpctl.physiology.delivered",
    "pumpctl.physiology.simulated",
    "pumpctl.daemon.service",
    "structlog",
    "sqlite3",
    "numpy",
    "scipy",
    "matplotlib",
    "fhir",
    "serial",
    "apscheduler",
    "prometheus_client",
    "rich",
)

_PROBE = """
import json, sys
from pumpctl.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
sys.stdout.flush()
print("\\nMODULES " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _imported(*argv: str) -> tuple[object, set[str]]:
    """Run ``pumpctl ARGV`` in a fresh interpreter; its exit code and every module it imported."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    marker = proc.stdout.rfind("MODULES ")
    assert marker >= 0, f"probe printed no module list; stderr: {proc.stderr}"
    data = json.loads(proc.stdout[marker + len("MODULES ") :])
    return data["code"], set(data["modules"])


def _heavy(modules: set[str], *, allow: tuple[str, ...] = ()) -> list[str]:
    def under(name: str, root: str) -> bool:
        return name == root or name.startswith(root + ".")

    return sorted(
        m
        for m in modules
        if any(under(m, root) for root in (*HEAVY, "pydantic"))
        and not any(under(m, root) for root in allow)
    )


@pytest.mark.parametrize(
    ("argv", "expected_code"),
    [
        (["--version"], 0),
        (["--help"], 0),
        (["status", "--socket", "{tmp}/none.sock"], 1),
        (["alarms", "--socket", "{tmp}/none.sock"], 1),
        (["status", "--json", "--socket", "{tmp}/none.sock"], 1),
    ],
)
def test_control_commands_import_nothing_heavy(
    argv: list[str], expected_code: int, tmp_path: Path
) -> None:
    """--version, --help, status and alarms import neither the report stack, the journal, the
    configuration (pydantic), structlog nor the model extra."""
    code, modules = _imported(*(a.format(tmp=tmp_path) for a in argv))
    assert code == expected_code
    assert "pumpctl.cli" in modules  # the probe really ran the command line
    assert _heavy(modules) == []


def test_status_talks_through_the_light_client_only(tmp_path: Path) -> None:
    """status reaches the control client (the module that speaks to the daemon) and nothing
    of the daemon's own machinery."""
    _, modules = _imported("status", "--socket", str(tmp_path / "none.sock"))
    assert "pumpctl.daemon.control_client" in modules
    assert not [m for m in modules if m.startswith("pumpctl.daemon.") and "control_" not in m]


def test_write_commands_check_their_request_without_the_heavy_stack(tmp_path: Path) -> None:
    """suspend validates its request locally (pydantic: a typo is a usage error before the
    daemon is contacted) but still imports no report stack, journal, configuration or
    structlog."""
    code, modules = _imported("suspend", "--reason", "x", "--socket", str(tmp_path / "none"))
    assert code == 1
    assert "pumpctl.daemon.control_protocol" in modules
    assert _heavy(modules, allow=("pydantic",)) == []


def test_report_command_reaches_the_report_stack(tmp_path: Path) -> None:
    """The probe can see a heavy import: `pumpctl report` does import the report stack."""
    missing = tmp_path / "none.sqlite3"
    code, modules = _imported("report", "-j", str(missing), "--format", "csv", "-o", "-")
    assert code == 1
    assert "pumpctl.report" in modules


def test_report_formats_named_by_the_parser_are_the_report_stacks() -> None:
    """The command line lists the report formats without importing the report stack; the two
    lists are the same."""
    assert report_cli.FORMATS == report.FORMATS
