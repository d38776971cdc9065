"""Signed heads: the daemon's key, `log verify --pubkey`, key rotation and a rewritten chain."""

import json
import os
import sqlite3
import stat
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pumpctl.cli import main
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Outcome, Slot
from pumpctl.journal import Journal
from pumpctl.journal.chain import Head, head_path, read_sealed_head, write_head
from pumpctl.journal.keyfile import (
    KEY_FILE,
    PENDING_KEY_FILE,
    KeyFileError,
    SigningKey,
    attach_key,
    key_records,
    rotate_key,
)
from pumpctl.journal.repair import _rebuild as rebuild_from_chain
from pumpctl.journal.signing import SignatureError, public_key_pem
from pumpctl.journal.verify import verify, verify_signature_of
from tests.integration.test_journal_tamper import attack, rehash

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _pulses(journal: Journal, clock: VirtualClock, count: int) -> None:
    for n in range(count):
        slot = Slot(f"s{n}", clock.now(), 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))
        journal.record_intent(slot)
        clock.advance(60)
        journal.record_outcome(slot.slot_id, Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
        clock.advance(5340)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def signed(tmp_path: Path, clock: VirtualClock) -> tuple[Path, SigningKey]:
    """A closed journal signed by its state directory's key: enrolment, three pulses, a stop."""
    path = tmp_path / "journal.db"
    with Journal(path, clock) as journal:
        key = attach_key(journal, tmp_path)
        _pulses(journal, clock, 3)
        journal.record_daemon_stop("SIGTERM")
    return path, key


def _pubkey_file(tmp_path: Path, public_key: bytes, name: str = "host.pub") -> Path:
    target = tmp_path / name
    target.write_text(public_key_pem(public_key))
    return target


def test_first_start_creates_a_private_key_only_its_owner_can_read(
    signed: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    """The key file is created at first start with mode 0600, and enrolled as record 1."""
    path, key = signed
    info = (tmp_path / KEY_FILE).stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    (first,) = key_records(Journal(path, VirtualClock(T0)))
    assert (first.seq, first.kind, first.public_key) == (1, "key.enrolled", key.public_key)


def test_every_published_head_is_signed_by_the_daemon_key(
    signed: tuple[Path, SigningKey],
) -> None:
    """The head sidecar carries the journal id, key id and a signature that verifies."""
    path, key = signed
    sealed = read_sealed_head(path)
    assert sealed is not None
    head, seal = sealed
    assert head == verify(path).head
    assert seal is not None and (seal.journal_id, seal.key_id) == (key.journal_id, key.key_id)
    assert verify_signature_of(path, key.public_key) == key.key_id


def test_a_restart_reuses_the_key_without_enrolling_it_again(
    signed: tuple[Path, SigningKey], tmp_path: Path, clock: VirtualClock
) -> None:
    """A second start with the same key journals no new key record."""
    path, key = signed
    with Journal(path, clock) as journal:
        again = attach_key(journal, tmp_path)
        journal.record_daemon_stop("SIGTERM")
        assert len(key_records(journal)) == 1
    assert again.public_key == key.public_key and again.journal_id == key.journal_id


def test_log_verify_with_the_right_public_key_says_who_signed(
    signed: tuple[Path, SigningKey], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`log verify --pubkey` exits 0 and names the signing key."""
    path, key = signed
    assert (
        main(["log", "verify", str(path), "--pubkey", str(_pubkey_file(tmp_path, key.public_key))])
        == 0
    )
    assert f"head signed by key {key.key_id}" in capsys.readouterr().out


def test_a_chain_rewritten_with_a_recomputed_head_fails_the_signature_check(
    signed: tuple[Path, SigningKey], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A consistent rewrite (new hashes, new head) still verifies as a chain but exits 3 with
    --pubkey: the forger has no key to sign the new head with."""
    path, key = signed

    def rewrite(rows: list[list[object]]) -> list[list[object]]:
        outcome = next(i for i, row in enumerate(rows) if row[1] == "pulse.outcome")
        rows[outcome][6] = (
            '{"delivered_volume_ul":"5","detail":"","ended_utc":null,'
            '"outcome":"PARTIAL","slot_id":"s0","started_utc":null}'
        )
        out, prev = [], "00" * 32
        for row in rows:
            forged = rehash(row, prev)
            out.append(forged)
            prev = str(forged[8])
        return out

    attack(path, rewrite)
    # A forger who knows the scheme also puts the triggers back and derives the pulse tables
    # again from the forged records, as `log repair` would (else verify finds it, SR-28).
    rebuild_from_chain(path)
    last = (
        sqlite3.connect(path).execute("SELECT seq, hash FROM events ORDER BY seq DESC").fetchone()
    )
    write_head(path, Head(int(last[0]), str(last[1])))  # the recomputed head, unsigned
    assert verify(path).ok  # without the key, the rewrite is invisible
    pub = _pubkey_file(tmp_path, key.public_key)
    assert main(["log", "verify", str(path), "--pubkey", str(pub)]) == 3
    assert "is not signed" in capsys.readouterr().out


def test_a_head_signed_by_another_key_fails(
    signed: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    """A forger who signs the head with a key of their own is refused."""
    path, key = signed
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    with Journal(other_dir / "journal.db", VirtualClock(T0)) as other_journal:
        forger = attach_key(other_journal, other_dir)
    sealed = read_sealed_head(path)
    assert sealed is not None
    forger.journal_id = key.journal_id
    with Journal(path, VirtualClock(T0)) as journal:
        journal.attach_signer(forger)  # republishes the head with the forger's signature
    with pytest.raises(SignatureError, match="signed by key"):
        verify_signature_of(path, key.public_key)


def test_a_wrong_public_key_file_is_one_clear_line(
    signed: tuple[Path, SigningKey], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that holds no Ed25519 public key is a usage error, not a traceback."""
    path, _ = signed
    junk = tmp_path / "junk.pub"
    junk.write_text("not a key\n")
    assert main(["log", "verify", str(path), "--pubkey", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "not a public key" in err and "Traceback" not in err


def test_a_journal_never_signed_with_the_given_key_fails(
    signed: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    """A key the journal never enrolled vouches for nothing."""
    path, _ = signed
    with pytest.raises(SignatureError, match="not signed with it"):
        verify_signature_of(path, bytes(range(32)))


def test_a_rotated_key_is_vouched_for_by_the_old_key(
    signed: tuple[Path, SigningKey], tmp_path: Path, clock: VirtualClock
) -> None:
    """After `key.rotated`, the old public key still verifies the new key's heads."""
    path, key = signed
    with Journal(path, clock) as journal:
        old, new = rotate_key(journal, tmp_path, reason="yearly rotation")
        _pulses(journal, clock, 1)
    assert old.public_key == key.public_key
    assert verify_signature_of(path, key.public_key) == new.key_id
    assert verify_signature_of(path, new.public_key) == new.key_id
    assert not (tmp_path / PENDING_KEY_FILE).exists()
    sealed = read_sealed_head(path)
    assert sealed is not None and sealed[1] is not None and sealed[1].key_id == new.key_id


def test_a_lost_key_is_replaced_on_record_and_the_old_key_does_not_vouch_for_it(
    signed: tuple[Path, SigningKey], tmp_path: Path, clock: VirtualClock
) -> None:
    """A missing key file gives a new key journaled as an unvouched replacement."""
    path, key = signed
    (tmp_path / KEY_FILE).unlink()
    with Journal(path, clock) as journal:
        new = attach_key(journal, tmp_path)
        journal.record_daemon_stop("SIGTERM")
        last = key_records(journal)[-1]
    assert (last.kind, last.previous_key_id, new.journal_id) == (
        "key.enrolled",
        key.key_id,
        key.journal_id,
    )
    with pytest.raises(SignatureError, match="without the old key's signature"):
        verify_signature_of(path, key.public_key)
    assert verify_signature_of(path, new.public_key) == new.key_id


def test_a_rotation_interrupted_before_it_was_journaled_is_abandoned(
    signed: tuple[Path, SigningKey], tmp_path: Path, clock: VirtualClock
) -> None:
    """A leftover signing.key.new that the journal never named is deleted; the old key stays."""
    path, key = signed
    (tmp_path / PENDING_KEY_FILE).write_bytes((tmp_path / KEY_FILE).read_bytes())
    os.chmod(tmp_path / PENDING_KEY_FILE, 0o600)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    with Journal(other_dir / "j.db", VirtualClock(T0)) as other:
        attach_key(other, other_dir)
    (tmp_path / PENDING_KEY_FILE).write_bytes((other_dir / KEY_FILE).read_bytes())
    with Journal(path, clock) as journal:
        again = attach_key(journal, tmp_path)
    assert again.public_key == key.public_key
    assert not (tmp_path / PENDING_KEY_FILE).exists()


def test_a_rotation_interrupted_after_it_was_journaled_is_completed(
    signed: tuple[Path, SigningKey],
    tmp_path: Path,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crash between journaling key.rotated and the rename leaves the journal's key in force."""
    path, _ = signed
    real_rename = os.rename

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", crash)
    with Journal(path, clock) as journal, pytest.raises(KeyboardInterrupt):
        rotate_key(journal, tmp_path, reason="yearly")
    monkeypatch.setattr(os, "rename", real_rename)
    with Journal(path, clock) as journal:
        current = attach_key(journal, tmp_path)
        journaled = key_records(journal)[-1]
    assert journaled.kind == "key.rotated" and current.public_key == journaled.public_key
    assert not (tmp_path / PENDING_KEY_FILE).exists()


def test_a_symlinked_key_file_is_refused(tmp_path: Path, clock: VirtualClock) -> None:
    """The key is never read or created through a symbolic link."""
    target = tmp_path / "elsewhere.pem"
    target.write_text("whatever")
    (tmp_path / KEY_FILE).symlink_to(target)
    with (
        Journal(tmp_path / "journal.db", clock) as journal,
        pytest.raises(KeyFileError, match="symbolic link"),
    ):
        attach_key(journal, tmp_path)
    assert target.read_text() == "whatever"


def test_a_key_readable_by_others_is_refused(
    signed: tuple[Path, SigningKey], tmp_path: Path, clock: VirtualClock
) -> None:
    """A group- or world-readable key file is refused with the chmod to fix it."""
    path, _ = signed
    os.chmod(tmp_path / KEY_FILE, 0o640)
    with Journal(path, clock) as journal, pytest.raises(KeyFileError, match="chmod 600"):
        attach_key(journal, tmp_path)


def test_the_head_file_keeps_its_fixed_size_with_a_signature(
    signed: tuple[Path, SigningKey],
) -> None:
    """The signed head still fits the fixed in-place record (no rename, no size change)."""
    path, _ = signed
    data = head_path(path).read_bytes()
    assert len(data) == 400
    assert set(json.loads(data)) == {"hash", "journal_id", "key_id", "seq", "sig"}


def _configured(tmp_path: Path) -> tuple[Path, Path]:
    """A configuration whose state directory holds a signed journal; returns (config, journal)."""
    from tests.e2e.harness import write_config  # noqa: PLC0415

    config = write_config(tmp_path, tmp_path / "pump", anchor=T0)
    state = tmp_path / "state"
    state.mkdir()
    journal_path = state / "journal.sqlite3"
    with Journal(journal_path, VirtualClock(T0)) as journal:
        attach_key(journal, state)
        journal.record_daemon_stop("SIGTERM")
    return config, journal_path


def test_keys_show_prints_a_pem_key_that_log_verify_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keys show -c` writes the public key as PEM on stdout; `log verify --pubkey` takes it."""
    config, journal_path = _configured(tmp_path)
    capsys.readouterr()
    assert main(["keys", "show", "-c", str(config)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("-----BEGIN PUBLIC KEY-----")
    assert "of journal" in captured.err
    pub = tmp_path / "host.pub"
    pub.write_text(captured.out)
    assert main(["log", "verify", str(journal_path), "--pubkey", str(pub)]) == 0


def test_keys_show_json_and_log_verify_json_carry_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keys show --json` gives the key id, journal id and key; `log verify --pubkey --json`
    reports the signature's verdict and signer, and a wrong key's failure as ok: false."""
    config, journal_path = _configured(tmp_path)
    capsys.readouterr()
    assert main(["keys", "show", "-c", str(config), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["key_file_matches"] is True and len(shown["key_id"]) == 16
    pub = tmp_path / "host.pub"
    pub.write_text(shown["public_key_pem"])
    argv = ["log", "verify", str(journal_path), "--pubkey", str(pub), "--json"]
    assert main(argv) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["ok"] is True
    assert verdict["signature"] == {"ok": True, "signer": shown["key_id"], "problem": None}
    other = tmp_path / "other"
    other.mkdir()
    with Journal(other / "journal.sqlite3", VirtualClock(T0)) as journal:
        stranger = attach_key(journal, other)
    from pumpctl.journal.signing import public_key_pem  # noqa: PLC0415

    pub.write_text(public_key_pem(stranger.public_key))
    assert main(argv) == 3
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["ok"] is False and verdict["signature"]["ok"] is False
    assert verdict["problem"] is None and verdict["signature"]["problem"]


def test_keys_rotate_journals_the_rotation_and_prints_the_new_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keys rotate` appends key.rotated; the old key file still verifies the journal."""
    config, journal_path = _configured(tmp_path)
    capsys.readouterr()
    main(["keys", "show", "-c", str(config)])
    old_pub = tmp_path / "old.pub"
    old_pub.write_text(capsys.readouterr().out)
    assert main(["keys", "rotate", "-c", str(config), "--reason", "yearly"]) == 0
    new_pem = capsys.readouterr().out
    assert new_pem != old_pub.read_text()
    assert main(["log", "verify", str(journal_path), "--pubkey", str(old_pub)]) == 0
    capsys.readouterr()
    assert main(["keys", "show", "-c", str(config)]) == 0
    assert capsys.readouterr().out == new_pem


def test_keys_rotate_refuses_while_the_daemon_holds_the_state_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the journal's one writer may journal a rotation: a held lock is one clear line."""
    from pumpctl.daemon.lock import StateLock  # noqa: PLC0415

    config, _ = _configured(tmp_path)
    with StateLock(tmp_path / "state"):
        assert main(["keys", "rotate", "-c", str(config), "--reason", "yearly"]) == 1
    assert "locked" in capsys.readouterr().err
