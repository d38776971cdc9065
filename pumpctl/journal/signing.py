"""Signed heads: what a daemon's Ed25519 key signs, and how a verifier follows a journal's keys.

A journal names its keys in its own chain: ``key.enrolled`` introduces a key (the journal's
first, or one that replaces a lost key: nobody vouches for that one), ``key.rotated`` introduces
a key together with the previous key's signature over it. Every published head is signed with
the key in force, over ``pumpctl.head/1``, the journal id, the sequence number and the hash.

A verifier that trusts one public key accepts a head when the chain of keys leads from the
trusted key to the head's key through rotations each signed by the key before it. This module
is pure apart from :func:`verify_signature`, which imports ``cryptography`` only when called,
so the command line pays nothing for it until it checks a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pumpctl.errors import PumpctlError
from pumpctl.journal.chain import Head, Seal

HEAD_DOMAIN = "pumpctl.head/1"
ROTATION_DOMAIN = "pumpctl.key-rotation/1"
KEY_KINDS = ("key.enrolled", "key.rotated")
#: DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw 32-byte key follows it.
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_PEM_BEGIN = "-----BEGIN PUBLIC KEY-----"
_PEM_END = "-----END PUBLIC KEY-----"


class SignatureError(PumpctlError, ValueError):
    """A signature, key or key history that does not check out (the message says why)."""


class HeadSigner(Protocol):
    """What a journal needs to sign its heads: an identity and a signing function."""

    @property
    def journal_id(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


def key_id(public_key: bytes) -> str:
    """A short, stable name of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def head_message(journal_id: str, head: Head) -> bytes:
    """The bytes a head's signature covers."""
    return f"{HEAD_DOMAIN}\n{journal_id}\n{head.seq}\n{head.hash}".encode("ascii")


def rotation_message(journal_id: str, new_public_key: bytes) -> bytes:
    """The bytes the outgoing key signs to vouch for its successor."""
    return f"{ROTATION_DOMAIN}\n{journal_id}\n{new_public_key.hex()}".encode("ascii")


def seal_head(signer: HeadSigner, head: Head) -> Seal:
    """Sign ``head`` with ``signer``."""
    signature = signer.sign(head_message(signer.journal_id, head))
    return Seal(signer.journal_id, signer.key_id, signature.hex())


def public_key_pem(public_key: bytes) -> str:
    """The standard PEM text of an Ed25519 public key (``openssl pkey -pubin`` reads it)."""
    body = base64.b64encode(_SPKI_PREFIX + public_key).decode("ascii")
    return f"{_PEM_BEGIN}\n{body}\n{_PEM_END}\n"


def parse_public_key(text: str, *, source: str = "public key") -> bytes:
    """The raw 32-byte key from PEM text (other lines around it are ignored) or 64 hex digits."""
    stripped = text.strip()
    if _PEM_BEGIN in stripped:
        inner = stripped.split(_PEM_BEGIN, 1)[1].split(_PEM_END, 1)[0]
        try:
            der = base64.b64decode("".join(inner.split()), validate=True)
        except (binascii.Error, ValueError) as err:
            raise SignatureError(f"{source}: the PEM block is not base64 ({err})") from err
        if len(der) != len(_SPKI_PREFIX) + 32 or not der.startswith(_SPKI_PREFIX):
            raise SignatureError(f"{source}: not an Ed25519 public key; allowed Ed25519 only")
        return der[len(_SPKI_PREFIX) :]
    try:
        raw = bytes.fromhex(stripped)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise SignatureError(
            f"{source}: not a public key; allowed a PEM block (pumpctl keys show) or 64 hex digits"
        )
    return raw


def read_public_key(path: Path) -> bytes:
    """A public key file as written by ``pumpctl keys show``; one clear error otherwise."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as err:
        raise SignatureError(f"public key file {path}: cannot be read ({err})") from err
    return parse_public_key(text, source=f"public key file {path}")


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415  (loaded only to verify)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PublicKey,
    )

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class KeyRecord:
    """One ``key.enrolled`` or ``key.rotated`` record, as the chain holds it."""

    seq: int
    kind: str
    journal_id: str
    public_key: bytes
    previous_key_id: str | None
    rotation_signature: bytes | None

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    @classmethod
    def from_payload(cls, seq: int, kind: str, payload: dict[str, Any]) -> KeyRecord:
        try:
            public_key = bytes.fromhex(str(payload["public_key"]))
            signature_hex = payload.get("rotation_signature")
            return cls(
                seq=seq,
                kind=kind,
                journal_id=str(payload["journal_id"]),
                public_key=public_key,
                previous_key_id=payload.get("previous_key_id"),
                rotation_signature=None if signature_hex is None else bytes.fromhex(signature_hex),
            )
        except (KeyError, ValueError, TypeError) as err:
            raise SignatureError(f"record {seq} ({kind}): not a valid key record ({err})") from err


def key_payload(
    journal_id: str,
    public_key: bytes,
    *,
    previous_key_id: str | None = None,
    rotation_signature: bytes | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """The payload of a key record (``rotation_signature`` only for ``key.rotated``)."""
    payload: dict[str, Any] = {
        "journal_id": journal_id,
        "key_id": key_id(public_key),
        "public_key": public_key.hex(),
        "previous_key_id": previous_key_id,
        "reason": reason,
    }
    if rotation_signature is not None:
        payload["rotation_signature"] = rotation_signature.hex()
    return payload


def journal_id_of(records: Sequence[KeyRecord]) -> str:
    """The one journal id every key record names; raises SignatureError otherwise."""
    ids = list(dict.fromkeys(r.journal_id for r in records))
    if not ids:
        raise SignatureError("the journal has no key record: it was never signed")
    if len(ids) > 1:
        raise SignatureError(f"the key records name several journals: {', '.join(ids)}")
    return ids[0]


def trusted_key_at(records: Iterable[KeyRecord], trusted: bytes, seq: int) -> bytes:
    """The key in force at ``seq`` as vouched for by ``trusted``; raises SignatureError if none.

    Trust starts at the last record that introduces ``trusted`` at or before ``seq``; from there
    each ``key.rotated`` must carry the outgoing key's signature over its successor, and a
    ``key.enrolled`` (a replacement nobody signed) breaks the chain of trust.
    """
    ordered = sorted((r for r in records if r.seq <= seq), key=lambda r: r.seq)
    start = max((i for i, r in enumerate(ordered) if r.public_key == trusted), default=None)
    if start is None:
        raise SignatureError(
            f"no key record up to record {seq} introduces the trusted key {key_id(trusted)}: "
            "the journal was not signed with it"
        )
    journal_id = ordered[start].journal_id
    current = trusted
    for record in ordered[start + 1 :]:
        if record.journal_id != journal_id:
            raise SignatureError(
                f"record {record.seq} names journal {record.journal_id}, not {journal_id}"
            )
        if record.kind != "key.rotated":
            raise SignatureError(
                f"record {record.seq} replaced key {key_id(current)} by {record.key_id} without "
                "the old key's signature: the new key is not vouched for by the trusted key"
            )
        signature = record.rotation_signature or b""
        message = rotation_message(journal_id, record.public_key)
        if not verify_signature(current, message, signature):
            raise SignatureError(
                f"record {record.seq} rotates to key {record.key_id}, but its rotation signature "
                f"does not verify with the previous key {key_id(current)}"
            )
        current = record.public_key
    return current


def check_sealed_head(
    records: Sequence[KeyRecord], trusted: bytes, head: Head, seal: Seal | None
) -> str:
    """Check a published head's signature against ``trusted``; returns the signing key's id.

    Raises :class:`SignatureError` saying what does not check out.
    """
    if seal is None:
        raise SignatureError(f"the published head {head} is not signed")
    journal_id = journal_id_of(records)
    key = trusted_key_at(records, trusted, head.seq)
    if seal.journal_id != journal_id:
        raise SignatureError(
            f"the head is signed for journal {seal.journal_id}, but this is journal {journal_id}"
        )
    if seal.key_id != key_id(key):
        raise SignatureError(
            f"the head is signed by key {seal.key_id}, but the key in force at record "
            f"{head.seq} is {key_id(key)}"
        )
    try:
        signature = bytes.fromhex(seal.signature)
    except ValueError:
        signature = b""
    if not verify_signature(key, head_message(seal.journal_id, head), signature):
        raise SignatureError(
            f"the signature of the published head {head} does not verify with key {key_id(key)}"
        )
    return key_id(key)
