"""Single-instance lock on the state directory (SR-18): one daemon per pump and journal.

``flock`` on ``STATE_DIR/pumpctl.lock`` is released by the kernel when the holder dies, even by
SIGKILL, so a crashed daemon never leaves a stale lock behind; the pid written inside only serves
the error message of the second instance.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

import structlog

from pumpctl.errors import PumpctlError
from pumpctl.statefiles import open_nofollow

_log = structlog.get_logger()

LOCK_FILE_NAME = "pumpctl.lock"


class StateLock:
    """Exclusive, non-blocking lock on a state directory; use as a context manager.

    Invariant: while one ``StateLock`` on a directory is held, no other process (and no other
    ``StateLock`` object in this process) can acquire it.
    """

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LOCK_FILE_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`PumpctlError` naming the pid that holds it."""
        if self._fd is not None:
            return
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            # No O_TRUNC: truncating before we hold the lock would wipe the holder's pid.
            # Invariant: a link planted in the state directory is refused, never followed.
            fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o640, what="state lock")
        except OSError as err:
            raise PumpctlError(
                f"cannot open the state lock {self.path}: {err.strerror or err}; the state "
                "directory must exist and be writable by the daemon's user"
            ) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise PumpctlError(
                f"state directory {self.state_dir} is locked by {who} ({self.path}); only one "
                "pumpctl daemon may use a pump and journal at a time (stop the other one first)"
            ) from err
        except OSError as err:
            os.close(fd)
            raise PumpctlError(f"cannot lock {self.path}: {err.strerror or err}") from err
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            os.fsync(fd)
        except OSError as err:
            os.close(fd)
            raise PumpctlError(f"cannot write the pid into {self.path}: {err}") from err
        self._fd = fd
        _log.info("daemon.lock_acquired", lock_path=str(self.path), pid=os.getpid())

    def release(self) -> None:
        """Release the lock; the file stays (removing it would race with a new acquirer)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            _log.debug("daemon.lock_truncate_failed", lock_path=str(self.path))
        finally:
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    """The pid the holder wrote, or ``None`` when the file is empty or unreadable."""
    try:
        raw = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
        return int(raw) if raw else None
    except (OSError, ValueError):
        return None
