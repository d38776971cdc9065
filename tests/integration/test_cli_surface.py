"""The command line as operators and scripts meet it: one spelling, JSON, help, no tracebacks.

Commands whose exit code or stderr matters run as real processes (``python -m pumpctl``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest

from pumpctl.cli import build_parser, leaf_parsers, main
from pumpctl.cli.log import KINDS
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.journal import EventKind, Journal

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
NOBODY = 65534


def pumpctl(
    *args: str, env: dict[str, str] | None = None, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    argv: list[str] = [sys.executable, "-m", "pumpctl", *args]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pumpctl: error: "), result.stderr
    return lines[0]


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """A stopped daemon's journal: a delivered pulse, an operator action, an alarm."""
    clock = VirtualClock(T0)
    path = tmp_path / "state" / "journal.sqlite3"
    path.parent.mkdir()
    with Journal(path, clock) as j:
        j.record_daemon_start("0.1.0", "digest")
        slot = Slot("s1", T0, 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))
        j.record_intent(slot)
        clock.advance(60)
        j.record_outcome("s1", Outcome.DELIVERED, delivered_volume_ul=Decimal(50), started=T0)
        j.record_operator_action({"uid": 0, "gid": 0, "pid": 7}, "suspend", {"reason": "x y"})
        j.record_suspend("uid=0 pid=7", "line change")
        j.record_alarm("pump-alarm-stall", "pump-alarm-stall", "high", "stalled", slot_id="s1")
        j.record_daemon_stop("SIGTERM")
    return path


@pytest.fixture
def config(tmp_path: Path, journal: Path) -> Path:
    """The demo configuration with its state folder pointing at the journal's."""
    text = files("pumpctl.examples").joinpath("demo.toml").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("state_dir")]
    text = "\n".join(lines).replace("[journal]", f'[journal]\nstate_dir = "{journal.parent}"')
    path = tmp_path / "pumpctl.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


# -- one spelling ----------------------------------------------------------------------------


def test_every_command_has_a_description_and_examples() -> None:
    """Every subcommand's --help has a description and an examples block, and no leaked dest."""
    parser = build_parser()
    for leaf in leaf_parsers(parser):
        text = leaf.format_help()
        assert leaf.description, leaf.prog
        assert "examples:\n  pumpctl" in text, leaf.prog
        assert "JOURNAL_OPT" not in text and "JOURNAL_POS" not in text, leaf.prog


def test_config_is_accepted_everywhere_a_config_makes_sense(
    config: Path, journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-c FILE works for config check, the log commands and report; FILE still works too."""
    assert main(["config", "check", "-c", str(config)]) == 0
    assert main(["config", "check", str(config)]) == 0
    assert main(["log", "verify", "-c", str(config)]) == 0
    assert f"OK {journal}: 7 records" in capsys.readouterr().out
    assert main(["log", "show", "-c", str(config), "-n", "1"]) == 0
    assert "daemon.stop" in capsys.readouterr().out
    assert main(["report", "-c", str(config), "--format", "csv", "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("slot_id,")


def test_two_different_config_files_are_a_usage_error(tmp_path: Path, config: Path) -> None:
    """config check FILE -c OTHER names both and exits 2; nothing given exits 2 as well."""
    line = one_line_error(pumpctl("config", "check", str(config), "-c", str(tmp_path / "x")), 2)
    assert "two configuration files" in line
    one_line_error(pumpctl("config", "check"), 2)
    one_line_error(pumpctl("log", "verify"), 2)


def test_dash_output_is_stdout_for_export_and_report(journal: Path, tmp_path: Path) -> None:
    """-o - writes to standard output and creates no file named '-'."""
    exported = pumpctl("log", "export", "-j", str(journal), "-o", "-")
    assert json.loads(exported.stdout.splitlines()[0])["slot_id"] == "s1"
    report = subprocess.run(
        [sys.executable, "-m", "pumpctl", "report", "-j", str(journal), "--format=json", "-o-"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["schema"]
    assert not (tmp_path / "-").exists()


# -- JSON with typed fields ------------------------------------------------------------------


def test_json_of_read_commands_has_typed_fields(config: Path, journal: Path) -> None:
    """config check, plan, log verify and log show --json print numbers as numbers."""
    checked = json.loads(pumpctl("config", "check", "-c", str(config), "--json").stdout)
    assert isinstance(checked["prescription"]["volume_ul"], int | float)
    assert isinstance(checked["limits"]["max_pulses_24h"], int)
    planned = pumpctl("plan", "-c", str(config), "--hours", "6", "--json")
    plan = json.loads(planned.stdout)
    assert plan["slots"] and isinstance(plan["slots"][0]["dose_ug"], int | float)
    assert isinstance(plan["slots"][0]["allowed"], bool)
    verified = json.loads(pumpctl("log", "verify", str(journal), "--json").stdout)
    assert verified["ok"] is True and verified["head"]["seq"] == 7
    shown = [
        json.loads(line)
        for line in pumpctl("log", "show", str(journal), "--json").stdout.splitlines()
    ]
    assert [row["seq"] for row in shown] == list(range(1, 8))
    assert shown[3]["payload"]["peer"]["uid"] == 0


# -- log show --------------------------------------------------------------------------------


def test_show_renders_fields_flat_with_user_names(journal: Path) -> None:
    """Nested payloads are dotted keys, texts with spaces quoted, uids shown with the name."""
    lines = pumpctl("log", "show", str(journal), "--kind", "operator.action").stdout
    assert "peer.uid=root(uid=0)" in lines
    assert 'arguments.reason="x y"' in lines
    assert "{" not in lines and "'" not in lines
    suspended = pumpctl("log", "show", str(journal), "--kind", "delivery.suspended").stdout
    assert 'who="root(uid=0) pid=7"' in suspended


def test_show_last_n_and_relative_since(journal: Path) -> None:
    """-n keeps the last records; a relative --since counts back from now (none here)."""
    last = pumpctl("log", "show", str(journal), "-n", "2").stdout.splitlines()
    assert [line.split()[0] for line in last] == ["6", "7"]
    assert pumpctl("log", "show", str(journal), "--since", "2h").stdout == ""
    old = pumpctl("log", "show", str(journal), "--since", "3000 days ago").stdout
    assert len(old.splitlines()) == 7


def test_follow_prints_records_as_they_are_appended(tmp_path: Path, journal: Path) -> None:
    """--follow keeps running and prints each new record once it is journaled."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pumpctl",
            "log",
            "show",
            str(journal),
            "-n1",
            "-f",
            "--interval-s=0.1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "daemon.stop" in proc.stdout.readline()
        with Journal(journal, VirtualClock(T0 + timedelta(hours=1))) as j:
            j.record_daemon_start("0.1.0", "again")
        assert "daemon.start" in proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()


def test_kinds_offered_are_the_journal_kinds() -> None:
    """log show --kind offers exactly the journal's event kinds."""
    assert set(KINDS) == {kind.value for kind in EventKind}


# -- no tracebacks ---------------------------------------------------------------------------


def test_unreadable_journals_are_one_line(tmp_path: Path) -> None:
    """A folder, a non-journal file and a missing file give one line and exit 1 everywhere."""
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    for target in (tmp_path, tmp_path / "missing.sqlite3", junk):
        for args in (
            ["log", "show", str(target)],
            ["log", "export", str(target)],
            ["report", "-j", str(target), "-o", str(tmp_path / "r.html")],
        ):
            one_line_error(pumpctl(*args), 1)
    bad = pumpctl("log", "verify", str(junk))
    assert bad.returncode == 3 and "Traceback" not in bad.stderr


def test_output_into_a_missing_folder_is_one_line(journal: Path, tmp_path: Path) -> None:
    """-o into a folder that does not exist names the path and exits 1."""
    target = tmp_path / "no" / "such" / "slots.jsonl"
    line = one_line_error(pumpctl("log", "export", str(journal), "-o", str(target)), 1)
    assert str(target) in line
    line = one_line_error(pumpctl("report", "-j", str(journal), "-o", str(target)), 1)
    assert "No such file or directory" in line


def test_demo_in_an_unusable_folder_is_one_line(tmp_path: Path) -> None:
    """demo --dir below a regular file (no folder can be made there) is one line, exit 1."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    one_line_error(pumpctl("demo", "--dir", str(blocker / "demo"), "--hours", "1"), 1)


def _runs_as_nobody() -> bool:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    return pumpctl("--version", user=NOBODY).returncode == 0


@pytest.fixture
def shared_journal(journal: Path) -> Iterator[Path]:
    """The journal in a folder every user may enter (pytest's own is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="pumpctl-ro-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        for path in journal.parent.iterdir():
            shutil.copy(path, folder / path.name)
            (folder / path.name).chmod(0o644)
        yield folder / journal.name
    finally:
        shutil.rmtree(folder)


@pytest.mark.skipif(not _runs_as_nobody(), reason="needs root to run a command as nobody")
def test_a_read_only_user_verifies_and_reports_a_stopped_journal(shared_journal: Path) -> None:
    """A user who may read the journal but not write its folder verifies it and reports on it."""
    journal = shared_journal
    verified = pumpctl("log", "verify", str(journal), user=NOBODY)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("OK ")
    report = pumpctl("report", "-j", str(journal), "--format", "csv", "-o", "-", user=NOBODY)
    assert report.returncode == 0, report.stderr
    assert not list(journal.parent.glob("*-shm"))
    journal.chmod(0o600)
    line = one_line_error(pumpctl("log", "verify", str(journal), user=NOBODY), 1)
    assert "permission denied" in line


# -- completion, colour, versions ------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_name_the_commands(shell: str) -> None:
    """Each shell's script names the subcommands and their options."""
    script = pumpctl("completion", shell).stdout
    since = "-l since" if shell == "fish" else "--since"
    for word in ("status", "verify", since, "notify"):
        assert word in script, (shell, word)
    if shell == "bash" and shutil.which("bash"):
        checked = subprocess.run(["bash", "-n"], input=script, text=True, check=False)
        assert checked.returncode == 0


def test_no_color_and_color_flags(journal: Path) -> None:
    """--color always paints, NO_COLOR and --color never do not (output is a pipe here)."""
    painted = pumpctl("log", "verify", str(journal), "--color", "always").stdout
    assert "\033[" in painted
    plain = pumpctl("log", "verify", str(journal), "--color", "auto", env={"NO_COLOR": "1"})
    assert "\033[" not in plain.stdout
    assert "\033[" not in pumpctl("--color", "never", "log", "verify", str(journal)).stdout


def test_pumpsim_has_a_version() -> None:
    """pumpsim --version prints its name and version like pumpctl --version."""
    done = subprocess.run(
        [sys.executable, "-m", "pumpctl.simulator.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("pumpsim ")
