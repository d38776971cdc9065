"""Tests for the single-instance state-directory lock, across real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pumpctl.daemon.lock import LOCK_FILE_NAME, StateLock
from pumpctl.errors import PumpctlError

_HOLDER = """
import sys
from pumpctl.daemon.lock import StateLock
with StateLock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock on tmp_path until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    # structlog's default configuration also writes to stdout; skip its lines.
    for line in proc.stdout:
        if line.strip() == "locked":
            break
    else:
        pytest.fail("the lock-holding subprocess exited before taking the lock")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_second_process_is_refused_with_holder_pid(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    """SR-18: while another process holds the state lock, acquiring it fails naming that pid."""
    with (
        pytest.raises(PumpctlError, match=rf"locked by process {holder.pid}\b"),
        StateLock(tmp_path),
    ):
        pass


def test_lock_is_free_after_holder_exits(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    """SR-18: the lock passes to the next daemon once the holder exits cleanly."""
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(timeout=10)
    with StateLock(tmp_path) as lock:
        assert lock.held
        assert (tmp_path / LOCK_FILE_NAME).read_text() == f"{os.getpid()}\n"


def test_lock_is_free_after_holder_is_killed(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    """SR-18: a daemon killed by SIGKILL leaves no stale lock behind."""
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with StateLock(tmp_path) as lock:
        assert lock.held


def test_second_lock_in_same_process_is_refused(tmp_path: Path) -> None:
    """SR-18: two lock objects on one directory exclude each other even within one process."""
    with StateLock(tmp_path), pytest.raises(PumpctlError, match="only one pumpctl daemon"):
        StateLock(tmp_path).acquire()


def test_release_allows_reacquire_and_clears_pid(tmp_path: Path) -> None:
    """Releasing empties the pid and lets the directory be locked again."""
    lock = StateLock(tmp_path / "state")
    lock.acquire()
    lock.release()
    assert not lock.held
    assert (tmp_path / "state" / LOCK_FILE_NAME).read_text() == ""
    with StateLock(tmp_path / "state"):
        pass


def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    """A state directory that cannot be created gives an error naming the lock path."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(PumpctlError, match="cannot open the state lock"):
        StateLock(blocker / "state").acquire()
