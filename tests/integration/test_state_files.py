"""State files are never opened through a planted link, and the state directory must be the
daemon's own (file safety)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.daemon.lock import LOCK_FILE_NAME, StateLock
from pumpctl.errors import JournalError, PumpctlError
from pumpctl.journal import Journal
from pumpctl.journal.chain import head_path
from pumpctl.statefiles import StateFileError, check_inside, check_state_dir

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file the daemon must never touch, as a root-owned system file would be."""
    target = tmp_path / "precious"
    target.write_text("do not truncate\n", encoding="utf-8")
    return target


@pytest.fixture
def state(tmp_path: Path) -> Path:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o750)
    return state_dir


def test_a_lock_file_planted_as_a_link_is_refused(state: Path, victim: Path) -> None:
    """The state lock is not opened through a symbolic link; the link's target is untouched."""
    (state / LOCK_FILE_NAME).symlink_to(victim)
    with pytest.raises(StateFileError, match="symbolic link"):
        StateLock(state).acquire()
    assert victim.read_text(encoding="utf-8") == "do not truncate\n"


def test_a_head_file_planted_as_a_link_is_refused(state: Path, victim: Path) -> None:
    """The journal's head is not read or written through a symbolic link."""
    journal = state / "journal.sqlite3"
    head_path(journal).symlink_to(victim)
    with pytest.raises(JournalError, match="symbolic link"):
        Journal(journal, VirtualClock(T0))
    assert victim.read_text(encoding="utf-8") == "do not truncate\n"


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_journal_file_planted_as_a_link_is_refused(
    state: Path, victim: Path, suffix: str
) -> None:
    """The journal and its SQLite side files are not opened through symbolic links."""
    (state / f"journal.sqlite3{suffix}").symlink_to(victim)
    with pytest.raises(PumpctlError, match="symbolic link"):
        Journal(state / "journal.sqlite3", VirtualClock(T0))
    assert victim.read_text(encoding="utf-8") == "do not truncate\n"


@pytest.mark.parametrize("mode", [0o770, 0o757, 0o777])
def test_a_state_directory_writable_by_others_is_refused(state: Path, mode: int) -> None:
    """A state directory group or others may write to is refused, naming path, owner and mode."""
    state.chmod(mode)
    with pytest.raises(StateFileError) as caught:
        check_state_dir(state)
    message = str(caught.value)
    assert str(state) in message and f"mode {mode:04o}" in message and "owner" in message


def test_a_state_directory_of_another_user_is_refused(state: Path) -> None:
    """A state directory owned by someone other than the daemon's user is refused."""
    with pytest.raises(StateFileError, match="belongs to"):
        check_state_dir(state, uid=os.geteuid() + 4242)


def test_a_journal_outside_the_state_directory_is_refused(state: Path, tmp_path: Path) -> None:
    """The journal must live inside the state directory."""
    check_inside(state, state / "journal.sqlite3", "journal")
    with pytest.raises(StateFileError, match="outside the state directory"):
        check_inside(state, tmp_path / "elsewhere.sqlite3", "journal")
    with pytest.raises(StateFileError, match="outside the state directory"):
        check_inside(state, state / ".." / "escape.sqlite3", "journal")


def test_run_refuses_a_world_writable_state_directory_in_one_line(state: Path) -> None:
    """`pumpctl run` exits 1 with one line naming the unsafe state directory, before anything."""
    state.chmod(0o777)
    config = state.parent / "c.toml"
    config.write_text(
        "[prescription]\ndose_ug = 10\nconcentration_ug_per_ml = 1000\ninterval_min = 90\n"
        'pulse_duration_s = 60\nanchor = "08:00"\ntimezone = "UTC"\n'
        '[pump]\ndriver = "ne1000"\nurl = "/nonexistent/pump"\nsyringe_diameter_mm = 4.78\n'
        f'syringe_volume_ul = 1000\n[journal]\nstate_dir = "{state}"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    done = subprocess.run(
        [sys.executable, "-m", "pumpctl", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if "state directory" in line]
    assert len(lines) == 1 and "0777" in lines[0], done.stderr
    assert not (state / LOCK_FILE_NAME).exists()
