"""The daemon's Ed25519 signing key in its state directory, and enrolling it in the journal.

The key is created at the daemon's first start as ``STATE_DIR/signing.key`` (PKCS#8 PEM, mode
0600, written with ``O_EXCL | O_NOFOLLOW`` and fsynced). It is read back only through a
descriptor opened with ``O_NOFOLLOW`` and checked on that descriptor: a regular file, owned by
the daemon's user, unreadable by group and others. Anything else is refused with one line.

A rotation first writes the successor as ``signing.key.new``, then journals ``key.rotated``
(the old key's signature over the new key), then renames the new file over the old one. After a
crash between those steps, :func:`attach_key` finishes or abandons the rotation by what the
journal says: the journal, not the file system, decides which key is in force.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from pumpctl.errors import PumpctlError
from pumpctl.journal.signing import (
    KEY_KINDS,
    KeyRecord,
    key_id,
    rotation_message,
)

if TYPE_CHECKING:
    from pumpctl.journal.store import Journal

_log = structlog.get_logger()

KEY_FILE = "signing.key"
PENDING_KEY_FILE = "signing.key.new"
MAX_KEY_FILE_BYTES = 4096


class KeyFileError(PumpctlError):
    """The signing key file is unsafe or unreadable (a symlink, readable by others, damaged)."""


@dataclass
class SigningKey:
    """A daemon's private key; signs heads once it knows which journal it serves."""

    private_key: Any  # cryptography's Ed25519PrivateKey, typed loosely to keep its import lazy
    public_key: bytes
    journal_id: str = ""

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return bytes(self.private_key.sign(message))


def _open_dir(state_dir: Path) -> int:
    try:
        return os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise KeyFileError(
            f"state directory {state_dir}: cannot be opened ({err.strerror or err})"
        ) from err


def _from_pem(pem: bytes, where: Path) -> SigningKey:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415  (daemon-only import)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PrivateKey,
    )

    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as err:
        raise KeyFileError(f"signing key {where}: not a readable PEM private key ({err})") from err
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"signing key {where}: not an Ed25519 key; allowed Ed25519 only")
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return SigningKey(private, public)


def _read(dir_fd: int, name: str, where: Path) -> SigningKey | None:
    """The key file ``name`` in the directory, checked on its descriptor; None if absent."""
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as err:
        if os.path.islink(where):
            raise KeyFileError(
                f"signing key {where} is a symbolic link; allowed a regular file only "
                "(remove the link; the daemon creates a new key)"
            ) from err
        raise KeyFileError(f"signing key {where}: cannot be opened ({err.strerror})") from err
    try:
        info = os.fstat(fd)
        mode = stat.S_IMODE(info.st_mode)
        # Invariant: a key others can read signs nothing; a key others own may have been planted.
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"signing key {where}: not a regular file")
        if info.st_uid != os.geteuid():
            raise KeyFileError(
                f"signing key {where}: owned by uid {info.st_uid}, not by the daemon's user "
                f"(uid {os.geteuid()})"
            )
        if mode & 0o077:
            raise KeyFileError(
                f"signing key {where}: mode {mode:04o} lets group or others read it; allowed "
                f"0600 (chmod 600 {where}, and treat the key as disclosed: rotate it)"
            )
        data = os.read(fd, MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"signing key {where}: larger than {MAX_KEY_FILE_BYTES} bytes")
    return _from_pem(data, where)


def _write_new(dir_fd: int, name: str, where: Path) -> SigningKey:
    """Create a new key as ``name``: exclusive, never through a link, fsynced with its folder."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PrivateKey,
    )

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    except FileExistsError as err:
        raise KeyFileError(
            f"signing key {where} appeared while a new one was being written; start again"
        ) from err
    except OSError as err:
        raise KeyFileError(f"signing key {where}: cannot be created ({err.strerror})") from err
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken bits away, never added: be exact anyway
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.fsync(dir_fd)
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return SigningKey(private, public)


def load_key(state_dir: Path) -> SigningKey | None:
    """The state directory's key, or None when it has none yet."""
    dir_fd = _open_dir(state_dir)
    try:
        return _read(dir_fd, KEY_FILE, state_dir / KEY_FILE)
    finally:
        os.close(dir_fd)


def key_records(journal: Journal) -> list[KeyRecord]:
    """The journal's key records, in order."""
    return [
        KeyRecord.from_payload(e.seq, e.kind, e.payload) for e in journal.events(kinds=KEY_KINDS)
    ]


def attach_key(journal: Journal, state_dir: Path) -> SigningKey:
    """Make the state directory's key the journal's signing key; journal it when it is new.

    Creates the key at first start. A journal that names no key yet gets ``key.enrolled`` with a
    new journal id; one whose current key is not this file's gets ``key.enrolled`` naming the
    key it replaces (the old key was lost: nobody vouches for the new one, and verifiers say
    so). A rotation interrupted by a crash is finished or abandoned first.
    """
    dir_fd = _open_dir(state_dir)
    try:
        records = key_records(journal)
        current = records[-1] if records else None
        pending = _read(dir_fd, PENDING_KEY_FILE, state_dir / PENDING_KEY_FILE)
        if pending is not None:
            if current is not None and current.public_key == pending.public_key:
                os.rename(PENDING_KEY_FILE, KEY_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                os.fsync(dir_fd)
                _log.info("key.rotation_completed", key_id=pending.key_id)
            else:
                os.unlink(PENDING_KEY_FILE, dir_fd=dir_fd)
                os.fsync(dir_fd)
                _log.warning("key.rotation_abandoned", key_id=pending.key_id)
        key = _read(dir_fd, KEY_FILE, state_dir / KEY_FILE)
        if key is None:
            key = _write_new(dir_fd, KEY_FILE, state_dir / KEY_FILE)
            _log.info("key.created", key_id=key.key_id, path=str(state_dir / KEY_FILE))
    finally:
        os.close(dir_fd)
    if current is None:
        key.journal_id = uuid.uuid4().hex
        _with_signer(
            journal,
            key,
            lambda: journal.record_key_enrolled(
                key.journal_id, key.public_key, reason="first key of this journal"
            ),
        )
    elif current.public_key != key.public_key:
        key.journal_id = current.journal_id
        _log.warning("key.replaced", old_key_id=current.key_id, key_id=key.key_id)
        _with_signer(
            journal,
            key,
            lambda: journal.record_key_enrolled(
                key.journal_id,
                key.public_key,
                previous_key_id=current.key_id,
                reason="the state directory's key is not the journal's key: it was lost or "
                "replaced; nobody vouches for this one",
            ),
        )
    else:
        key.journal_id = current.journal_id
        journal.attach_signer(key)
    return key


def _with_signer(journal: Journal, key: SigningKey, record: Callable[[], object]) -> None:
    """Journal a key record whose own head the new key already signs (a key is in force from
    the record that introduces it on)."""
    previous = journal.signer
    journal.attach_signer(key)
    try:
        record()
    except BaseException:
        journal.attach_signer(previous)
        raise


def rotate_key(journal: Journal, state_dir: Path, *, reason: str) -> tuple[SigningKey, SigningKey]:
    """Replace the journal's key by a new one the old key vouches for; returns (old, new).

    The caller holds the state directory's lock (the daemon is not running).
    """
    old = attach_key(journal, state_dir)
    dir_fd = _open_dir(state_dir)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(PENDING_KEY_FILE, dir_fd=dir_fd)
        new = _write_new(dir_fd, PENDING_KEY_FILE, state_dir / PENDING_KEY_FILE)
        new.journal_id = old.journal_id
        signature = old.sign(rotation_message(old.journal_id, new.public_key))
        _with_signer(
            journal,
            new,
            lambda: journal.record_key_rotated(
                old.journal_id,
                new.public_key,
                previous_key_id=old.key_id,
                rotation_signature=signature,
                reason=reason,
            ),
        )
        os.rename(PENDING_KEY_FILE, KEY_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    _log.info("key.rotated", old_key_id=old.key_id, key_id=new.key_id)
    return old, new


__all__ = [
    "KEY_FILE",
    "KeyFileError",
    "SigningKey",
    "attach_key",
    "key_records",
    "load_key",
    "rotate_key",
]
