"""``pumpctl log repair JOURNAL --reason TEXT``: repair what the chain does not cover, on record."""

from __future__ import annotations

import argparse
import os
import pwd
from collections.abc import Callable
from pathlib import Path

from pumpctl.errors import EXIT_OK, EXIT_USAGE


def _who() -> str:
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "?"
    return f"{name} (uid={uid} pid={os.getpid()})"


def _repair(args: argparse.Namespace) -> int:
    # Imported here: the daemon's lock is only needed by this command.
    from pumpctl.daemon.lock import LOCK_FILE_NAME, StateLock  # noqa: PLC0415
    from pumpctl.journal.repair import repair  # noqa: PLC0415

    path: Path | None = args.journal or args.journal_opt
    if path is None:
        print("pumpctl: error: give the journal file (JOURNAL or -j PATH)")
        return EXIT_USAGE
    lock_dir = path.parent
    if not (lock_dir / LOCK_FILE_NAME).exists():
        found = repair(path, who=_who(), reason=args.reason)
    else:
        # A running daemon holds this lock: the repair waits for it to stop, never races it.
        with StateLock(lock_dir):
            found = repair(path, who=_who(), reason=args.reason)
    if not found:
        print(f"OK {path}: nothing to repair")
        return EXIT_OK
    for line in found:
        print(f"repaired {path}: {line}")
    print(f"the repair is journaled (journal.repaired); `pumpctl log verify {path}` says OK")
    return EXIT_OK


def register_repair(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    journal_arg: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = commands.add_parser(
        "repair",
        help="rebuild a journal's head, schema and pulse tables from its verified chain",
        description=(
            "Repair what the hash chain does not cover, from the chain: publish a missing or "
            "unreadable head again, put back dropped or altered triggers and indexes, rebuild "
            "the derived pulse tables. An edited, removed, inserted or reordered record is "
            "never repaired (exit 3). The repair is journaled with who and why. Stop the "
            "daemon first."
        ),
    )
    journal_arg(p)
    p.add_argument("--reason", required=True, help="why (journaled), e.g. the incident number")
    p.set_defaults(func=_repair)
