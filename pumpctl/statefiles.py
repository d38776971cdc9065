"""Opening the daemon's state files without being led elsewhere (file safety).

Whoever can plant a symbolic link in the state directory could otherwise make a daemon running
as root truncate or overwrite any file it names. So every state file (lock, journal and its
SQLite side files, published head, signing key) is opened with ``O_NOFOLLOW`` or refused when
it is a link, and the state directory itself must belong to the daemon's user and be writable
by nobody else (then nobody else can plant anything in it).
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from pathlib import Path

from pumpctl.errors import PumpctlError


class StateFileError(PumpctlError):
    """A state file or the state directory is not safe to use (a link, wrong owner or mode)."""


#: The SQLite files that live beside a journal in WAL mode.
SQLITE_SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


def _owner(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def refuse_link(path: Path, what: str) -> None:
    """Raise :class:`StateFileError` when ``path`` is a symbolic link."""
    if path.is_symlink():
        raise StateFileError(
            f"{what} {path} is a symbolic link (to {os.readlink(path)}); refusing to follow it: "
            "remove the link, the daemon creates the file itself"
        )


def open_nofollow(path: Path, flags: int, mode: int = 0o640, *, what: str) -> int:
    """``os.open`` that never follows a symbolic link at ``path`` (a link is refused)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as err:
        if err.errno == errno.ELOOP:
            refuse_link(path, what)
        raise


def refuse_journal_links(journal: Path) -> None:
    """The journal, its SQLite side files and its head file must not be links."""
    refuse_link(journal, "journal")
    for suffix in SQLITE_SIDE_SUFFIXES:
        refuse_link(journal.with_name(journal.name + suffix), "journal side file")


def check_state_dir(state_dir: Path, *, uid: int | None = None) -> None:
    """The state directory must be a real directory owned by the daemon's user (``uid``, by
    default the effective uid) and not writable by group or others.

    Invariant: nobody but the daemon's user can plant, replace or remove a state file.
    """
    uid = os.geteuid() if uid is None else uid
    try:
        info = os.lstat(state_dir)
    except FileNotFoundError as err:
        raise StateFileError(f"state directory {state_dir} does not exist") from err
    if stat.S_ISLNK(info.st_mode):
        raise StateFileError(
            f"state directory {state_dir} is a symbolic link; configure the real directory"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise StateFileError(f"state directory {state_dir} is not a directory")
    mode = stat.S_IMODE(info.st_mode)
    problems = []
    if info.st_uid != uid:
        problems.append(f"it belongs to {_owner(info.st_uid)}, not to {_owner(uid)}")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append("group or others may write to it")
    if problems:
        raise StateFileError(
            f"state directory {state_dir} (owner {_owner(info.st_uid)}, mode {mode:04o}) refused: "
            f"{'; '.join(problems)}; fix with `chown {_owner_name(uid)} {state_dir}` and "
            f"`chmod 0750 {state_dir}`"
        )


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_inside(state_dir: Path, path: Path, what: str) -> None:
    """``path`` must lie inside ``state_dir`` (after resolving both), not point elsewhere."""
    base = state_dir.resolve()
    target = path.parent.resolve() / path.name
    if base != target.parent and base not in target.parents:
        raise StateFileError(
            f"{what} {path} is outside the state directory {state_dir}; keep it inside, where "
            "only the daemon's user can write"
        )
