"""The journal on disk: durable appends, records with full time context, the gate's history."""

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Decision, Moment, Outcome, Reason, Slot
from pumpctl.errors import JournalError
from pumpctl.journal import EventKind, Journal
from pumpctl.journal.chain import read_head, write_head
from pumpctl.journal.query import history_sql
from pumpctl.journal.schema import MIGRATIONS, SCHEMA_VERSION
from pumpctl.journal.store import connect
from pumpctl.journal.verify import verify

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def slot(slot_id: str, when: datetime = T0, dose: str = "5") -> Slot:
    return Slot(slot_id, when, 90, Decimal(dose), Decimal(50), Decimal(50), Decimal(60))


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0, elapsed_s=500.0, boot_id="boot-a")


@pytest.fixture
def journal(tmp_path: Path, clock: VirtualClock) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db", clock, local_tz=ZoneInfo("Europe/Paris")) as j:
        yield j


def raw_rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM events ORDER BY seq").fetchall()


def test_append_returns_seq_and_hash_and_the_chain_verifies(journal: Journal) -> None:
    """SR-20: appends number records 1, 2, 3... and the result is a verifying hash chain."""
    first = journal.record_daemon_start("0.1.0", "sha256:abc")
    second = journal.append("daemon.stop", {"reason": "test"})
    assert (first.seq, second.seq) == (1, 2)
    assert len(first.hash) == 64 and first.hash != second.hash
    result = verify(journal.path)
    assert result.ok and result.records == 2 and result.head == journal.head


def test_record_carries_utc_time_local_offset_elapsed_reading_and_boot_id(
    journal: Journal, clock: VirtualClock
) -> None:
    """SR-11, SR-19: a record stores UTC time, the local offset beside it, elapsed time, boot id."""
    clock.advance(90)
    journal.record_suspend("op:alice", "syringe change")
    _, kind, wall, offset, elapsed, boot, payload, _, _ = raw_rows(journal.path)[0]
    assert kind == "delivery.suspended"
    assert wall == "2026-03-01T08:01:30.000000+00:00"
    assert offset == 60  # Paris is UTC+1 in March
    assert (elapsed, boot) == (590.0, "boot-a")
    assert json.loads(str(payload)) == {
        "who": "op:alice",
        "reason": "syringe change",
        "cause": "operator",
    }


def test_every_connection_uses_wal_and_full_synchronous_commits(journal: Journal) -> None:
    """SR-19: the writer and readers run WAL with synchronous=FULL, so COMMIT means fsynced."""
    journal.record_daemon_start("0.1.0", "d")
    for conn in (journal._conn, connect(journal.path, writable=False)):
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_intent_is_on_disk_when_record_intent_returns(journal: Journal) -> None:
    """SR-08: once record_intent returns, an independent connection already sees the intent."""
    journal.record_intent(slot("s1"), pump_settings={"VOL": "50", "RAT": "50"})
    with sqlite3.connect(journal.path) as other:
        row = other.execute("SELECT kind, payload FROM events WHERE seq = 1").fetchone()
    assert row[0] == "pulse.intent"
    assert json.loads(row[1])["pump_settings"] == {"VOL": "50", "RAT": "50"}


def test_schema_refuses_update_and_delete(journal: Journal) -> None:
    """SR-20: the schema itself refuses to change or remove a record or a derived pulse row."""
    journal.record_intent(slot("s1"))
    journal.record_outcome("s1", Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
    with sqlite3.connect(journal.path) as raw:
        for sql in (
            "UPDATE events SET payload = '{}' WHERE seq = 1",
            "DELETE FROM events WHERE seq = 2",
            "UPDATE pulses SET dose_ug = '0'",
            "DELETE FROM pulse_outcomes",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute(sql)
    assert verify(journal.path).ok


def test_the_api_offers_no_way_to_change_a_record() -> None:
    """SR-20: the journal class has no update, delete or edit operation; corrections are appends."""
    verbs = ("update", "delete", "edit", "remove", "set_", "replace", "truncate")
    assert [name for name in dir(Journal) if name.lstrip("_").startswith(verbs)] == []


def test_correction_is_a_new_record_that_refers_to_the_old_one(journal: Journal) -> None:
    """A correction appends a record naming the corrected one and leaves the original intact."""
    original = journal.record_reservoir_change(Decimal(900), "op:alice", "fill")
    journal.record_correction(original.seq, "op:alice", "typo", {"volume_ul": "1900"})
    rows = raw_rows(journal.path)
    assert json.loads(str(rows[0][6]))["volume_ul"] == "900"
    assert json.loads(str(rows[1][6]))["refers_to_seq"] == original.seq


def test_append_publishes_head_in_sidecar_and_structured_log(journal: Journal) -> None:
    """SR-20: every append publishes the head in the sidecar file and a journal.appended event."""
    with capture_logs() as logs:
        appended = journal.record_daemon_start("0.1.0", "d")
    assert read_head(journal.path) == journal.head
    assert journal.head is not None and journal.head.seq == appended.seq
    assert {"event": "journal.appended", "seq": 1, "hash": appended.hash}.items() <= logs[0].items()


EVERY_KIND = {
    EventKind.DAEMON_START: lambda j: j.record_daemon_start(
        "0.1.0", "d", config_path="/etc/p.toml"
    ),
    EventKind.DAEMON_STOP: lambda j: j.record_daemon_stop("SIGTERM"),
    EventKind.PRESCRIPTION_CHANGE: lambda j: j.record_prescription_change(
        "op:alice", {"dose_ug": "5"}, {"dose_ug": "6"}, "clinician order 42"
    ),
    EventKind.LIMITS_CHANGE: lambda j: j.record_limits_change(
        "op:alice", {"max_pulses_24h": 16}, {"max_pulses_24h": 12}, "protocol"
    ),
    EventKind.SLOT_SCHEDULED: lambda j: j.record_slot_scheduled(slot("s1")),
    EventKind.GATE_DECISION: lambda j: j.record_gate_decision(
        "s1", Decision(reasons=(Reason.MIN_INTERVAL, Reason.EXPOSURE), details=("too soon",))
    ),
    EventKind.PULSE_INTENT: lambda j: j.record_intent(slot("s1")),
    EventKind.PULSE_RUN: lambda j: j.record_run("s3"),
    EventKind.PULSE_STARTED: lambda j: j.record_started("s3"),
    EventKind.PULSE_OUTCOME: lambda j: j.record_outcome(
        "s3", Outcome.DELIVERED, delivered_volume_ul=Decimal(50), started=T0, ended=T0
    ),
    EventKind.SLOT_MISSED: lambda j: j.record_missed("s2", T0, reasons=(Reason.SUSPENDED,)),
    EventKind.PULSE_RECONCILED: lambda j: j.acknowledge_uncertain("s3", "op:bob", "checked line"),
    EventKind.FLOW_UNEXPLAINED: lambda j: j.record_unexplained_flow(
        volume_ul=Decimal("2.5"),
        dose_ug=Decimal("2.5"),
        totals_ul=Decimal("12.5"),
        expected_ul=Decimal(10),
        since=T0,
        moving=False,
        where="between pulses",
    ),
    EventKind.TOTALS_CLEARING: lambda j: j.record_totals_clearing("s4", Decimal("10")),
    EventKind.PULSE_ARMED: lambda j: j.record_armed(
        slot("s4"), read_back={"volume": "10UL", "rate": "10UM"}
    ),
    EventKind.PULSE_DISARMED: lambda j: j.record_disarmed(
        "s4", "delivery.suspended journaled since arming", armed_utc=T0
    ),
    EventKind.ALARM_RAISED: lambda j: j.record_alarm("a1", "occlusion", "high", "stall"),
    EventKind.ALARM_ACKNOWLEDGED: lambda j: j.record_alarm_acknowledged("a1", "op:bob"),
    EventKind.ALARM_SILENCED: lambda j: j.record_alarm_silenced("a1", "op:bob", T0),
    EventKind.ALARM_CLEARED: lambda j: j.record_alarm_cleared("a1", why="line flushed"),
    EventKind.DELIVERY_SUSPENDED: lambda j: j.record_suspend("op:bob", "break"),
    EventKind.DELIVERY_RESUMED: lambda j: j.record_resume("op:bob", "back"),
    EventKind.RESERVOIR_CHANGED: lambda j: j.record_reservoir_change(
        Decimal(1000), "op:bob", "fill"
    ),
    EventKind.OPERATOR_ACTION: lambda j: j.record_operator_action(
        {"uid": 1000, "gid": 1000, "pid": 42, "user": "bob"}, "suspend", {"reason": "break"}
    ),
    EventKind.CORRECTION: lambda j: j.record_correction(1, "op:bob", "typo", {"reason": "x"}),
    EventKind.REPAIRED: lambda j: j.record_repair(
        "op:bob", "INC-7 head deleted", ["head missing"], ["head published again"]
    ),
    EventKind.KEY_ENROLLED: lambda j: j.record_key_enrolled("j1", bytes(32), reason="first"),
    EventKind.KEY_ROTATED: lambda j: j.record_key_rotated(
        "j1", bytes(32), previous_key_id="k0", rotation_signature=bytes(64), reason="yearly"
    ),
    EventKind.NOTIFY_ATTEMPT: lambda j: j.record_notify_attempt(
        "n1",
        alarm_id="pump-alarm-stall",
        event="raised",
        command="mail",
        attempt=1,
        outcome="sent",
        final=True,
    ),
}


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_event_kind_has_a_typed_helper_that_journals_it(
    journal: Journal, kind: EventKind
) -> None:
    """SR-19: every kind (start, decision, intent, outcome, miss, alarm...) has a helper."""
    journal.record_intent(slot("s3"))  # something for the reconciliation helper to settle
    EVERY_KIND[kind](journal)
    assert raw_rows(journal.path)[-1][1] == kind.value
    assert verify(journal.path).ok


def test_gate_decision_keeps_every_reason_code(journal: Journal) -> None:
    """SR-04: a denial is journaled with every reason code the gate gave."""
    journal.record_gate_decision("s1", Decision(reasons=(Reason.MIN_INTERVAL, Reason.EXPOSURE)))
    payload = json.loads(str(raw_rows(journal.path)[0][6]))
    assert payload["allowed"] is False
    assert payload["reasons"] == ["min-interval", "exposure"]


def test_prescription_change_records_who_old_new_and_why(journal: Journal) -> None:
    """SR-21: a prescription change is journaled with who, the old and new values, and why."""
    journal.record_prescription_change("op:carol", {"dose_ug": "5"}, {"dose_ug": "7.5"}, "order 7")
    payload = json.loads(str(raw_rows(journal.path)[0][6]))
    assert payload == {
        "who": "op:carol",
        "old": {"dose_ug": "5"},
        "new": {"dose_ug": "7.5"},
        "why": "order 7",
    }


@pytest.mark.parametrize(("who", "why"), [("", "order 7"), ("op:carol", "  ")])
def test_prescription_change_without_who_or_why_is_refused(
    journal: Journal, who: str, why: str
) -> None:
    """SR-21: a change that does not say who made it and why is refused and nothing is written."""
    with pytest.raises(ValueError, match="allowed a non-empty text"):
        journal.record_prescription_change(who, None, {"dose_ug": "5"}, why)
    assert journal.head is None


def test_outcome_without_intent_is_refused_and_nothing_written(journal: Journal) -> None:
    """An outcome for a slot with no intent is refused, and the chain stays as it was."""
    journal.record_daemon_start("0.1.0", "d")
    with pytest.raises(ValueError, match="no pulse intent"):
        journal.record_outcome("ghost", Outcome.DELIVERED, delivered_volume_ul=Decimal(1))
    assert journal.head is not None and journal.head.seq == 1
    assert journal.writable
    assert len(raw_rows(journal.path)) == 1


def test_bad_kind_or_payload_is_refused(journal: Journal) -> None:
    """A kind that is not dotted lowercase, or a payload that is not JSON, is refused."""
    with pytest.raises(ValueError, match="kind = 'Bad Kind'"):
        journal.append("Bad Kind", {})
    with pytest.raises(ValueError, match=r"payload of note\.x"):
        journal.append("note.x", {"x": object()})


def test_pulse_history_joins_intents_with_their_latest_outcome(
    journal: Journal, clock: VirtualClock
) -> None:
    """The gate's history gives each intent with its latest outcome and measured volume."""
    journal.record_intent(slot("s1"))
    journal.record_outcome("s1", Outcome.PARTIAL, delivered_volume_ul=Decimal("20.5"))
    clock.advance(5400)
    journal.record_intent(slot("s2", T0 + timedelta(minutes=90)))
    history = journal.pulse_history(T0 - timedelta(hours=24))
    assert [(p.slot_id, p.outcome, p.delivered_volume_ul) for p in history] == [
        ("s1", Outcome.PARTIAL, Decimal("20.5")),
        ("s2", None, None),
    ]
    first = history[0]
    assert (first.intent_wall, first.intent_elapsed_s, first.boot_id) == (T0, 500.0, "boot-a")
    assert (first.dose_ug, first.volume_ul, first.duration_s) == (
        Decimal(5),
        Decimal(50),
        Decimal(60),
    )


def test_pulse_history_gives_the_latest_moment_each_pulse_can_have_started(
    journal: Journal, clock: VirtualClock
) -> None:
    """SR-02: the pump's confirmation of RUN, else the first settling record, bounds the start."""
    journal.record_intent(slot("confirmed"))
    clock.advance(0.25)
    journal.record_run("confirmed")
    clock.advance(0.125)
    journal.record_started("confirmed")
    clock.advance(60)
    journal.record_outcome("confirmed", Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
    journal.record_intent(slot("unconfirmed"))
    clock.advance(70)
    journal.record_outcome("unconfirmed", Outcome.UNCERTAIN, delivered_volume_ul=None)
    clock.advance(600)
    journal.acknowledge_uncertain("unconfirmed", "op:bob", "syringe checked")
    journal.record_intent(slot("pending"))
    confirmed, unconfirmed, pending = journal.pulse_history(T0 - timedelta(hours=1))
    assert confirmed.started == Moment(T0 + timedelta(seconds=0.375), 500_375_000, "boot-a")
    assert unconfirmed.started == Moment(T0 + timedelta(seconds=130.375), 630_375_000, "boot-a")
    assert pending.started is None
    assert pending.start_bound == pending.intent


def test_pulse_history_says_which_pulses_had_their_run_sent(
    clock: VirtualClock, tmp_path: Path
) -> None:
    """SR-02: a NOT_DELIVERED pulse whose RUN was sent counts as a start; one refused before its
    RUN does not. A version-4 journal learns which RUNs were sent from its own events."""
    path = tmp_path / "journal.db"
    journal = Journal(path, clock)
    journal.record_intent(slot("stalled"))
    journal.record_run("stalled")
    journal.record_started("stalled")
    clock.advance(3)
    journal.record_outcome("stalled", Outcome.NOT_DELIVERED, delivered_volume_ul=Decimal(0))
    journal.record_intent(slot("mismatch"))
    journal.record_outcome("mismatch", Outcome.NOT_DELIVERED, delivered_volume_ul=Decimal(0))
    stalled, mismatch = journal.pulse_history(T0 - timedelta(hours=1))
    assert (stalled.run_sent, stalled.counts_as_start) == (True, True)
    assert (mismatch.run_sent, mismatch.counts_as_start) == (False, False)
    journal.close()
    with sqlite3.connect(path, isolation_level=None) as raw:  # as version 4 left it
        raw.execute("DROP TABLE pulse_runs")
        raw.execute("PRAGMA user_version = 4")
    raw.close()
    with Journal(path, clock) as again:
        stalled, mismatch = again.pulse_history(T0 - timedelta(hours=1))
        assert (stalled.run_sent, mismatch.run_sent) == (True, False)
    assert verify(path).ok


def test_pulse_history_filters_by_time_but_keeps_old_pending_pulses(
    journal: Journal, clock: VirtualClock
) -> None:
    """SR-09: an old pulse still uncertain stays in the gate's history however long ago it was."""
    journal.record_intent(slot("old-pending"))
    journal.record_intent(slot("old-done"))
    journal.record_outcome("old-done", Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
    clock.advance(48 * 3600)
    journal.record_intent(slot("recent"))
    history = journal.pulse_history(clock.now() - timedelta(hours=24))
    assert [p.slot_id for p in history] == ["old-pending", "recent"]
    assert history[0].pending and history[0].counted_dose_ug == Decimal(5)


def test_pulse_history_is_one_indexed_query(journal: Journal) -> None:
    """The history query searches the derived pulses table by index, never scanning events."""
    journal.record_intent(slot("s1"))
    plan = journal._conn.execute(
        f"EXPLAIN QUERY PLAN {history_sql(1, by_boot=True)}", ("2026-01-01", "boot-a", 0.0, 1)
    ).fetchall()
    details = " | ".join(str(row[3]) for row in plan)
    assert "INDEX pulses_wall (intent_wall>?)" in details
    assert "INDEX pulses_boot_elapsed (boot_id=? AND elapsed_s>?)" in details
    assert "SCAN" not in details


def test_forward_wall_step_does_not_hide_a_recent_pulse_from_the_gate(
    journal: Journal, clock: VirtualClock
) -> None:
    """SR-11: a pulse of this boot stays in the history even if the wall clock jumps ahead."""
    journal.record_intent(slot("s1"))
    journal.record_outcome("s1", Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
    clock.advance(3600)
    clock.step_wall(30 * 3600)  # the wall clock now claims the pulse was 31 h ago
    assert [p.slot_id for p in journal.pulse_history(clock.now() - timedelta(hours=24))] == ["s1"]
    clock.advance(24 * 3600)  # really more than a day later: it may leave the window
    assert journal.pulse_history(clock.now() - timedelta(hours=24)) == []


def test_last_event_wall_is_the_newest_records_time(journal: Journal, clock: VirtualClock) -> None:
    """last_event_wall gives the newest record's wall time, or None for an empty journal."""
    assert journal.last_event_wall() is None
    journal.record_daemon_start("0.1.0", "d")
    clock.advance(60)
    journal.record_daemon_stop("done")
    assert journal.last_event_wall() == T0 + timedelta(seconds=60)


def test_reopening_continues_the_chain(tmp_path: Path, clock: VirtualClock) -> None:
    """A journal reopened after a clean stop continues its numbering and chain."""
    path = tmp_path / "journal.db"
    with Journal(path, clock) as j:
        j.record_daemon_start("0.1.0", "d")
        j.record_intent(slot("s1"))
    clock.reboot()
    with Journal(path, clock) as j:
        assert j.head is not None and j.head.seq == 2
        assert [p.slot_id for p in j.pending_pulses()] == ["s1"]
        assert j.record_daemon_start("0.1.0", "d").seq == 3
    assert verify(path).ok


def test_version_1_journal_is_migrated_forward_with_its_pulses(
    tmp_path: Path, clock: VirtualClock
) -> None:
    """A version-1 journal (events only) gains the derived pulse tables, filled from its events."""
    path = tmp_path / "journal.db"
    with Journal(path, clock) as j:
        j.record_intent(slot("s1"))
        j.record_outcome("s1", Outcome.DELIVERED, delivered_volume_ul=Decimal(50))
    with sqlite3.connect(path, isolation_level=None) as raw:  # rebuild it as version 1 wrote it
        rows = raw.execute("SELECT * FROM events").fetchall()
    path.unlink()
    with sqlite3.connect(path, isolation_level=None) as raw:
        MIGRATIONS[0](raw)
        raw.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        raw.execute("PRAGMA user_version = 1")
    raw.close()
    with Journal(path, clock) as j:
        assert j._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        [pulse] = j.pulse_history(T0 - timedelta(days=1))
        assert (pulse.slot_id, pulse.outcome) == ("s1", Outcome.DELIVERED)
    assert verify(path).ok


def test_journal_from_a_newer_pumpctl_is_refused(tmp_path: Path, clock: VirtualClock) -> None:
    """A journal with a schema newer than this code knows is refused, not guessed at."""
    path = tmp_path / "journal.db"
    Journal(path, clock).close()
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(JournalError, match=f"schema version = {SCHEMA_VERSION + 1}"):
        Journal(path, clock)


def test_events_filters_by_kind_and_time_in_journal_order(
    journal: Journal, clock: VirtualClock
) -> None:
    """events() lists records oldest first, filtered by kind and by a wall-time window."""
    journal.record_suspend("op:a", "one")
    clock.advance(60)
    journal.record_daemon_stop("x")
    clock.advance(60)
    journal.record_resume("op:a", "two")
    kinds = ("delivery.suspended", "delivery.resumed")
    assert [e.kind for e in journal.events(kinds=kinds)] == list(kinds)
    window = journal.events(since=T0 + timedelta(seconds=30), until=T0 + timedelta(seconds=90))
    assert [(e.seq, e.kind, e.payload) for e in window] == [(2, "daemon.stop", {"reason": "x"})]


def test_last_elapsed_by_boot_gives_each_boots_last_reading(
    journal: Journal, clock: VirtualClock
) -> None:
    """last_elapsed_by_boot maps every boot id to the last elapsed reading journaled in it."""
    journal.record_daemon_start("0.1.0", "d")
    clock.advance(100)
    journal.record_daemon_stop("reboot")
    clock.reboot()
    journal.record_daemon_start("0.1.0", "d")
    assert journal.last_elapsed_by_boot() == {"boot-a": 600.0, clock.boot_id: 5.0}


def test_head_one_behind_after_a_crash_is_accepted(tmp_path: Path, clock: VirtualClock) -> None:
    """SR-19: a crash between commit and head publication leaves an older head, which is fine."""
    path = tmp_path / "journal.db"
    with Journal(path, clock) as j:
        j.record_daemon_start("0.1.0", "d")
        older = j.head
        j.record_intent(slot("s1"))
    assert older is not None
    write_head(path, older)  # as if killed right after the second COMMIT
    result = verify(path)
    assert result.ok and result.records == 2 and result.warnings == ()
    with Journal(path, clock) as j:
        assert j.record_daemon_stop("restart").seq == 3
    assert read_head(path) == verify(path).head


def test_a_pulse_start_is_one_commit_of_decision_intent_and_run(journal: Journal) -> None:
    """SR-08 SR-19 SR-20: the armed pulse's allow, intent and RUN record land in one commit,
    chained as three records; the head file catches up when the caller publishes it (after
    RUN), and a crash before that leaves one commit after the head, which log verify and
    start-up accept; a payload that cannot be journaled writes none of them."""
    journal.record_daemon_start("0.1.0", "d")
    allow = Decision(reasons=())
    journal.record_pulse_start(slot("s5"), pump_settings={"VOL": "10"}, decision=allow)
    kinds = [row[1] for row in raw_rows(journal.path)]
    assert kinds == ["daemon.start", "gate.decision", "pulse.intent", "pulse.run"]
    assert [r.slot_id for r in journal.pending_pulses()] == ["s5"]
    published = read_head(journal.path)
    assert published is not None and published.seq == 1  # durable, not yet published
    assert verify(journal.path).ok
    with Journal(journal.path, VirtualClock()) as reopened:
        assert reopened.head == journal.head
    journal.publish_head()
    assert read_head(journal.path) == journal.head
    with pytest.raises(ValueError, match=r"payload of pulse\.intent"):
        journal.record_pulse_start(slot("s6"), pump_settings={"VOL": object()}, decision=allow)
    assert len(raw_rows(journal.path)) == 4 and journal.head is not None and journal.head.seq == 4


def test_more_than_one_commit_after_the_head_is_refused(journal: Journal) -> None:
    """SR-20 SR-28: two records after the published head that are not one pulse start (here two
    alarms) are more than a crash can leave: log verify and start-up both refuse."""
    journal.record_daemon_start("0.1.0", "d")
    journal.append_many(
        [
            (EventKind.ALARM_RAISED, {"alarm_id": "a", "code": "x", "priority": "high"}),
            (EventKind.ALARM_RAISED, {"alarm_id": "b", "code": "y", "priority": "high"}),
        ],
        publish=False,
    )
    result = verify(journal.path)
    assert not result.ok and result.problem is not None
    assert "at most one commit is expected" in result.problem.message
    with pytest.raises(JournalError, match="at most one commit"):
        Journal(journal.path, VirtualClock())
