"""``pumpctl keys show|rotate``: the daemon's head-signing key (docs/journal.md, signed heads).

``show`` prints the public key a verifier or the fleet server needs; ``rotate`` replaces the
key by a new one the old key vouches for, as a journaled ``key.rotated`` record.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from pumpctl.cli.args import Subparsers, add_command, add_group, config_option, json_option
from pumpctl.errors import EXIT_OK, PumpctlError


def _quiet_logs() -> None:
    """Warnings only, on stderr: standard output is the key (``keys show > host.pub``)."""
    from pumpctl.daemon.logging import configure_logging  # noqa: PLC0415

    configure_logging("console", "warning", stream=sys.stderr)


def _show(args: argparse.Namespace) -> int:
    from pumpctl.cli.args import print_json  # noqa: PLC0415
    from pumpctl.config import load_config  # noqa: PLC0415
    from pumpctl.journal.keyfile import KEY_FILE, KeyFileError, load_key  # noqa: PLC0415
    from pumpctl.journal.query import iter_events  # noqa: PLC0415
    from pumpctl.journal.signing import KEY_KINDS, KeyRecord, public_key_pem  # noqa: PLC0415
    from pumpctl.journal.store import connect  # noqa: PLC0415

    _quiet_logs()
    config = load_config(args.config)
    state_dir, journal_path = config.journal.state_dir, config.journal.path
    journaled: KeyRecord | None = None
    if journal_path.exists():
        # The journal names its key: readable by anyone who may read the journal, no secret.
        with closing(connect(journal_path, writable=False)) as conn:
            for event in iter_events(conn, kinds=KEY_KINDS):
                journaled = KeyRecord.from_payload(event.seq, event.kind, event.payload)
    try:
        key = load_key(state_dir)
        file_key = None if key is None else key.public_key
    except (KeyFileError, PermissionError) as err:
        if journaled is None:
            raise
        print(f"note: {err}; showing the journal's key", file=sys.stderr)
        file_key = None
    public = journaled.public_key if journaled is not None else file_key
    if public is None:
        raise PumpctlError(
            f"no signing key in {state_dir} yet: the daemon creates {KEY_FILE} at its first start"
        )
    if journaled is not None and file_key is not None and file_key != journaled.public_key:
        print(
            f"warning: {state_dir / KEY_FILE} is not the journal's key {journaled.key_id}: the "
            "daemon will journal it as a replacement nobody vouches for at its next start",
            file=sys.stderr,
        )
    from pumpctl.journal.signing import key_id  # noqa: PLC0415

    if args.json:
        print_json(
            {
                "key_id": key_id(public),
                "journal_id": None if journaled is None else journaled.journal_id,
                "public_key_hex": public.hex(),
                "public_key_pem": public_key_pem(public),
                "key_file_matches": None if file_key is None else file_key == public,
            }
        )
        return EXIT_OK
    journal_text = f" of journal {journaled.journal_id}" if journaled is not None else ""
    print(f"key {key_id(public)}{journal_text}", file=sys.stderr)
    print(public.hex() if args.format == "hex" else public_key_pem(public), end="")
    if args.format == "hex":
        print()
    return EXIT_OK


def _rotate(args: argparse.Namespace) -> int:
    from pumpctl.config import load_config  # noqa: PLC0415
    from pumpctl.core.clock import SystemClock  # noqa: PLC0415
    from pumpctl.daemon.lock import StateLock  # noqa: PLC0415
    from pumpctl.journal import Journal  # noqa: PLC0415
    from pumpctl.journal.keyfile import rotate_key  # noqa: PLC0415
    from pumpctl.journal.signing import public_key_pem  # noqa: PLC0415
    from pumpctl.journal.verify import verify  # noqa: PLC0415

    _quiet_logs()
    config = load_config(args.config)
    # The daemon holds this lock while it runs: a rotation is journaled by the only writer.
    with StateLock(config.journal.state_dir):
        if config.journal.path.exists():
            verify(config.journal.path).raise_for_problem()
        with Journal(config.journal.path, SystemClock()) as journal:
            old, new = rotate_key(journal, config.journal.state_dir, reason=args.reason)
    print(f"key {old.key_id} replaced by {new.key_id} (journal {new.journal_id})", file=sys.stderr)
    print(public_key_pem(new.public_key), end="")
    return EXIT_OK


def register(subparsers: Subparsers) -> None:
    actions = add_group(
        subparsers,
        "keys",
        help="show or rotate the daemon's head-signing key",
        description=(
            "The daemon's Ed25519 key signs every head it publishes (docs/journal.md). show "
            "prints its public half for verifiers and the fleet server; rotate replaces it."
        ),
        dest="keys_command",
    )

    p = add_command(
        actions,
        "show",
        help="print the public key that signs the journal's heads",
        description=(
            "Print the public key (PEM, or hex) that signs the journal's heads, taken from the "
            "journal's own key records (the private key file is not needed, so any user who may "
            "read the journal can run it). Give it to `pumpctl log verify --pubkey FILE` and to "
            "the fleet's data manager. The key id and journal id go to stderr."
        ),
        examples=[
            "pumpctl keys show -c /etc/pumpctl/pumpctl.toml > bench-3.pub",
            "pumpctl log verify -c /etc/pumpctl/pumpctl.toml --pubkey bench-3.pub",
            "pumpctl keys show -c /etc/pumpctl/pumpctl.toml --json | jq -r .key_id",
        ],
    )
    config_option(p, required=True)
    p.add_argument("--format", choices=["pem", "hex"], default="pem", help="default: pem")
    json_option(p, "the key id, journal id and public key")
    p.set_defaults(func=_show)

    p = add_command(
        actions,
        "rotate",
        help="replace the key by a new one the old key vouches for (daemon stopped)",
        description=(
            "Create a new signing key, journal key.rotated with the old key's signature over "
            "the new one, and print the new public key. The daemon must be stopped: only one "
            "process writes the journal. Verifiers holding the old public key still verify "
            "the journal; the fleet server accepts the new key from the rotation record."
        ),
        examples=[
            "pumpctl keys rotate -c /etc/pumpctl/pumpctl.toml --reason 'yearly rotation'",
            "systemctl stop pumpctl && pumpctl keys rotate -c /etc/pumpctl/pumpctl.toml "
            "--reason 'key file copied off the host' && systemctl start pumpctl",
        ],
    )
    config_option(p, required=True)
    p.add_argument("--reason", required=True, help="why the key is rotated (journaled)")
    p.set_defaults(func=_rotate)
