"""The hash chain: canonical bytes of a record, the SHA-256 link, and the published head.

Each record's hash is ``SHA-256(previous hash (32 bytes) || canonical JSON of the record)``; the
first record links to 32 zero bytes. The head (last sequence number and hash) is published in a
small sidecar file next to the journal, so that cutting records off the end is detectable; a
daemon with a signing key adds its Ed25519 signature of the head (:class:`Seal`,
``pumpctl.journal.signing``), so that a chain rewritten without the key is detectable too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, NamedTuple

from pumpctl.statefiles import open_nofollow

GENESIS_HASH = "00" * 32
_HEX = frozenset("0123456789abcdef")
HEAD_SUFFIX = ".head"


def _default(value: object) -> object:
    """JSON for the domain's non-JSON values: exact decimals as strings, enums by value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"journal payload value {value!r} of type {type(value).__name__} is not JSON")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, ASCII only: the same value always gives the same text."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
        default=_default,
    )


class Envelope(NamedTuple):
    """The hashed fields of one record, in column order."""

    kind: str
    wall_utc: str
    utc_offset_min: int
    elapsed_s: float
    boot_id: str
    payload_json: str


def record_bytes(env: Envelope | tuple[str, str, int, float, str, str]) -> bytes:
    """The canonical JSON of one record, exactly as hashed.

    Equal to ``canonical_json`` of the record object (keys sorted) when ``payload_json`` is
    canonical; built by hand because verification runs it half a million times.
    The sequence number is not hashed: the chain itself fixes each record's position, which lets
    the verifier tell a renumbered deletion or insertion from an edit.
    """
    kind, wall_utc, utc_offset_min, elapsed_s, boot_id, payload_json = env
    if not math.isfinite(elapsed_s):
        raise ValueError(f"elapsed_s = {elapsed_s}: allowed a finite number")
    return (
        f'{{"boot_id":{encode_basestring_ascii(boot_id)},"elapsed_s":{elapsed_s!r},'
        f'"kind":{encode_basestring_ascii(kind)},"payload":{payload_json},'
        f'"utc_offset_min":{utc_offset_min},"wall_utc":{encode_basestring_ascii(wall_utc)}}}'
    ).encode("ascii")


def link_hash(prev_hash: str, body: bytes) -> str:
    """The chain link: SHA-256 over the previous hash's 32 bytes followed by the record bytes."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


@dataclass(frozen=True)
class Head:
    """A point of the chain: record ``seq`` has hash ``hash``."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """Parse ``SEQ:HASH`` (as printed by ``pumpctl log verify``)."""
        seq_text, sep, hash_text = text.strip().partition(":")
        hash_text = hash_text.lower()
        valid_hash = len(hash_text) == 64 and all(c in "0123456789abcdef" for c in hash_text)
        if not sep or not seq_text.isdigit() or int(seq_text) < 1 or not valid_hash:
            raise ValueError(
                f"anchor = {text!r}: allowed SEQ:HASH with SEQ >= 1 and a 64-hex-digit SHA-256"
            )
        return cls(int(seq_text), hash_text)


def head_path(journal_path: Path) -> Path:
    """Where the head of ``journal_path`` is published."""
    return journal_path.with_name(journal_path.name + HEAD_SUFFIX)


@dataclass(frozen=True)
class Seal:
    """The signature of a published head: which journal, which key, and the signature (hex)."""

    journal_id: str
    key_id: str
    signature: str


#: The head file is one fixed-size record, rewritten in place (inside one 512-byte disk sector).
HEAD_RECORD_BYTES = 400


def write_head(journal_path: Path, head: Head, seal: Seal | None = None) -> None:
    """Publish ``head`` (signed when ``seal`` is given): one fixed-size record overwritten in
    place, then ``fdatasync``.

    The record is padded to :data:`HEAD_RECORD_BYTES`, far below a disk sector, so the file
    never changes size and the write needs no metadata update, rename or directory fsync: the
    sidecar costs a fraction of the journal's own commit. The journal is committed first, so a
    head that is lost or older after a power cut is still below the durable journal, and a
    torn record is reported as unreadable, never taken for a shorter journal.
    """
    target = head_path(journal_path)
    fields: dict[str, object] = {"hash": head.hash, "seq": head.seq}
    if seal is not None:
        fields |= {"journal_id": seal.journal_id, "key_id": seal.key_id, "sig": seal.signature}
    text = canonical_json(fields)
    data = text.ljust(HEAD_RECORD_BYTES - 1).encode("ascii") + b"\n"
    # Invariant: a link planted in the state directory is refused, never followed.
    fd = open_nofollow(target, os.O_WRONLY | os.O_CREAT, 0o644, what="journal head")
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        os.fdatasync(fd)
    finally:
        os.close(fd)


def read_head(journal_path: Path) -> Head | None:
    """The last published head, or None when there is none (new or never-written journal).

    Raises ``ValueError`` when the sidecar exists but cannot be understood.
    """
    sealed = read_sealed_head(journal_path)
    return None if sealed is None else sealed[0]


def read_sealed_head(journal_path: Path) -> tuple[Head, Seal | None] | None:
    """The last published head with its signature (None for an unsigned head), or None.

    Raises ``ValueError`` when the sidecar exists but cannot be understood.
    """
    target = head_path(journal_path)
    with contextlib.suppress(FileNotFoundError):
        fd = open_nofollow(target, os.O_RDONLY, what="journal head")
        with os.fdopen(fd, "rb") as f:
            raw = f.read(HEAD_RECORD_BYTES * 2)
        try:
            text = raw.decode("ascii")
            data = json.loads(text)
            head = Head(int(data["seq"]), str(data["hash"]))
            if head.seq < 0 or len(head.hash) != 64 or not set(head.hash) <= _HEX:
                raise ValueError(f"seq {head.seq} / hash {head.hash!r} out of range")
            seal = None
            if "sig" in data:
                seal = Seal(str(data["journal_id"]), str(data["key_id"]), str(data["sig"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            raise ValueError(f"head file {target}: not a valid head ({err})") from err
        return head, seal
    return None
