"""When the journal cannot be written or read, each case gives a clear error and denies delivery."""

import errno
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Slot
from pumpctl.errors import JournalError
from pumpctl.journal import Journal
from pumpctl.journal.verify import Diagnosis, verify

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
NOBODY = 65534


def slot(slot_id: str) -> Slot:
    return Slot(slot_id, T0, 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))


def test_garbage_file_is_refused_as_corrupt(tmp_path: Path) -> None:
    """A journal file that is not SQLite is refused with a message saying it is corrupt."""
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not a database" * 500)
    with pytest.raises(JournalError, match="corrupt or not a pumpctl journal"):
        Journal(path, VirtualClock(T0))
    result = verify(path)
    assert result.problem is not None and result.problem.diagnosis is Diagnosis.CORRUPT


def test_journal_with_damaged_pages_is_refused_as_corrupt(tmp_path: Path) -> None:
    """A journal whose pages were overwritten is refused with a JournalError, not a raw crash."""
    path = tmp_path / "journal.db"
    with Journal(path, VirtualClock(T0)) as j:
        for n in range(20):
            j.append("note.padding", {"n": n, "text": "x" * 4000})
    with path.open("r+b") as f:
        f.seek(4096)
        f.write(b"\xff" * 8192)
    with pytest.raises(JournalError, match="corrupt or not a pumpctl journal"):
        Journal(path, VirtualClock(T0))


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    """An SQLite file that some other program wrote is not mistaken for an empty journal."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER)")
    conn.close()
    with pytest.raises(JournalError, match="not a pumpctl journal"):
        Journal(path, VirtualClock(T0))


def test_missing_state_directory_is_named(tmp_path: Path) -> None:
    """A journal path in a directory that does not exist is refused, naming the directory."""
    with pytest.raises(JournalError, match=r"state directory .*/absent does not exist"):
        Journal(tmp_path / "absent" / "journal.db", VirtualClock(T0))


def test_missing_journal_for_reading_is_a_clear_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pumpctl log verify` on a missing file fails with one line and exit 1, not a traceback."""
    assert main(["log", "verify", str(tmp_path / "nope.db")]) == 1
    assert "does not exist" in capsys.readouterr().err


def _as_unprivileged(action: Callable[[], str]) -> str:
    """Run ``action`` in a forked child with no root rights (file modes apply); return its text."""
    if os.geteuid() != 0:
        return action()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            text = action()
        except BaseException as err:
            text = f"unexpected {type(err).__name__}: {err}"
        os.write(write_fd, text.encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    return text


@pytest.fixture
def readonly_dir() -> Iterator[Path]:
    """A state directory only root may write (in /tmp so an unprivileged child can reach it)."""
    directory = Path(tempfile.mkdtemp(prefix="pumpctl-ro-"))
    yield directory
    directory.chmod(0o755)
    shutil.rmtree(directory)


def _open_and_append(path: Path) -> str:
    try:
        with Journal(path, VirtualClock(T0)) as j:
            j.record_intent(slot("s1"))
    except JournalError as err:
        return f"JournalError: {err}"
    return "written"


def test_new_journal_in_read_only_state_directory_is_refused(readonly_dir: Path) -> None:
    """SR-19: a state directory the daemon cannot write gives a JournalError saying so."""
    readonly_dir.chmod(0o555)
    text = _as_unprivileged(lambda: _open_and_append(readonly_dir / "journal.db"))
    assert text.startswith("JournalError:"), text
    assert "cannot be written" in text and "writable by the daemon" in text


def test_existing_journal_in_read_only_state_directory_records_nothing(readonly_dir: Path) -> None:
    """SR-08: with the directory read-only the intent is refused with an error, not half-written."""
    path = readonly_dir / "journal.db"
    with Journal(path, VirtualClock(T0)) as j:
        j.record_daemon_start("0.1.0", "d")
    for entry in readonly_dir.iterdir():
        entry.chmod(0o644)
    readonly_dir.chmod(0o555)
    text = _as_unprivileged(lambda: _open_and_append(path))
    assert text.startswith("JournalError:"), text
    result = verify(path)
    assert result.ok and result.records == 1


@pytest.fixture
def full_journal(tmp_path: Path) -> Iterator[Journal]:
    """A journal whose file may not grow by another page: a full disk, as SQLite sees it."""
    with Journal(tmp_path / "journal.db", VirtualClock(T0)) as j:
        j.record_daemon_start("0.1.0", "d")
        pages = j._conn.execute("PRAGMA page_count").fetchone()[0]
        j._conn.execute(f"PRAGMA max_page_count = {pages}")
        yield j


def _fill(journal: Journal) -> JournalError:
    """Append until even a short record no longer fits in the pages the file has (with small
    pages, a record shorter than the one that failed can still fit in a page's free space)."""
    failed: JournalError | None = None
    for size in (1000, 100, 10):
        for n in range(400):
            try:
                journal.append("note.padding", {"n": n, "text": "x" * size})
            except JournalError as err:
                failed = err
                break
        else:
            raise AssertionError("the journal never filled up")
    assert failed is not None
    return failed


def test_full_disk_raises_and_marks_journal_unwritable(full_journal: Journal) -> None:
    """SR-19: a full disk raises JournalError naming the cause, and writable turns False."""
    err = _fill(full_journal)
    assert "full" in str(err)
    assert not full_journal.writable
    head = full_journal.head
    with pytest.raises(JournalError):
        full_journal.record_intent(slot("s1"))
    assert full_journal.head == head
    assert verify(full_journal.path).ok


def test_intent_refused_on_full_disk_leaves_no_pulse(full_journal: Journal) -> None:
    """SR-08: when the intent cannot be written the pulse does not exist: missed, not unrecorded."""
    _fill(full_journal)
    with pytest.raises(JournalError):
        full_journal.record_intent(slot("s1"))
    assert full_journal.pending_pulses() == []
    assert full_journal.pulse_history(T0 - timedelta(days=1)) == []


def test_journal_becomes_writable_again_when_space_returns(full_journal: Journal) -> None:
    """After space is freed the next append succeeds, writable turns True and the chain verifies."""
    _fill(full_journal)
    full_journal._conn.execute("PRAGMA max_page_count = 1000000")
    full_journal.record_intent(slot("s1"))
    assert full_journal.writable
    assert [p.slot_id for p in full_journal.pending_pulses()] == ["s1"]
    assert verify(full_journal.path).ok


def test_failed_head_publication_is_an_error_and_unwritable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SR-20: if the head cannot be published the append reports it and writable turns False."""

    def no_space(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with Journal(tmp_path / "journal.db", VirtualClock(T0)) as j:
        monkeypatch.setattr("pumpctl.journal.chain.os.fdatasync", no_space)
        with pytest.raises(JournalError, match="head could not be published"):
            j.record_daemon_start("0.1.0", "d")
        assert not j.writable
        monkeypatch.undo()
        j.record_daemon_stop("test")
        assert j.writable
    assert verify(tmp_path / "journal.db").ok
