"""``pumpctl log repair JOURNAL --reason TEXT``: repair what the chain does not cover, on record."""

from __future__ import annotations

import argparse
import os
import pwd

from pumpctl.cli.args import Subparsers, add_command, journal_option, journal_path
from pumpctl.errors import EXIT_OK


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

    path = journal_path(args)
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


def register_repair(commands: Subparsers) -> None:
    p = add_command(
        commands,
        "repair",
        help="rebuild a journal's head, schema and pulse tables from its verified chain",
        description=(
            "Repair what the hash chain does not cover, from the chain: publish a missing or "
            "unreadable head again, put back dropped or altered triggers and indexes, rebuild "
            "the derived pulse tables. An edited, removed, inserted or reordered record is "
            "never repaired (exit 3). The repair is journaled with who and why. Stop the "
            "daemon first."
        ),
        examples=[
            "pumpctl log repair /var/lib/pumpctl/journal.sqlite3 --reason 'INC-42 head deleted'",
            "pumpctl log repair -c /etc/pumpctl/pumpctl.toml --reason 'triggers dropped'",
        ],
    )
    journal_option(p)
    p.add_argument("--reason", required=True, help="why (journaled), e.g. the incident number")
    p.set_defaults(func=_repair)
