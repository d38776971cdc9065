"""`pumpctl log show` and `pumpctl log export` read a journal for people and for tools."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pumpctl.cli import main
from pumpctl.core.clock import VirtualClock
from pumpctl.core.model import Decision, Outcome, Reason, Slot
from pumpctl.journal import Journal
from pumpctl.journal.export import EXPORT_SCHEMA

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A day's beginning: a delivered pulse, a denied and missed slot, an alarm, a stop."""
    clock = VirtualClock(T0)
    journal_path = tmp_path / "journal.db"
    with Journal(journal_path, clock, local_tz=ZoneInfo("Europe/Paris")) as j:
        j.record_daemon_start("0.1.0", "digest")
        s1 = Slot("s1", T0, 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))
        j.record_slot_scheduled(s1)
        j.record_gate_decision("s1", Decision())
        j.record_intent(s1)
        clock.advance(60)
        j.record_outcome(
            "s1", Outcome.DELIVERED, delivered_volume_ul=Decimal(50), started=T0, ended=clock.now()
        )
        clock.advance(5340)
        s2 = Slot("s2", clock.now(), 90, Decimal(5), Decimal(50), Decimal(50), Decimal(60))
        j.record_slot_scheduled(s2)
        j.record_gate_decision("s2", Decision(reasons=(Reason.ALARM_ACTIVE,)))
        j.record_alarm("a1", "occlusion", "high", "line blocked", slot_id="s2")
        clock.advance(900)
        j.record_missed("s2", s2.scheduled, reasons=(Reason.ALARM_ACTIVE,))
        j.record_daemon_stop("SIGTERM")
    return journal_path


def test_show_lists_records_oldest_first_with_utc_and_local_time(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`log show` prints one line per record, newest last, with UTC and the local offset."""
    assert main(["log", "show", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10
    assert lines[0].split()[:4] == ["1", "2026-03-01T08:00:00Z", "(local", "09:00+01:00)"]
    assert "daemon.start" in lines[0] and "config_digest=digest" in lines[0]
    assert "daemon.stop" in lines[-1]


def test_show_gives_local_time_in_the_prescriptions_zone_not_the_hosts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-11: `log show` reads local time in the prescription's zone, whatever the host's was."""
    clock = VirtualClock(T0)
    journal_path = tmp_path / "journal.db"
    with Journal(journal_path, clock, local_tz=ZoneInfo("Europe/Paris")) as j:
        j.record_daemon_start("0.1.0", "digest")
        j.record_prescription_change("op", None, {"timezone": "America/New_York"}, "first start")
        clock.advance(3600)
        j.record_daemon_stop("SIGTERM")
    capsys.readouterr()  # the journal's own log lines
    assert main(["log", "show", str(journal_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[3] for line in lines] == ["03:00-05:00)", "03:00-05:00)", "04:00-05:00)"]


def test_show_follows_a_zone_change_in_lines_json_and_tail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-11: after a prescription moves to another zone, later records read in the new zone,
    earlier ones in the old; `-n` and `--json` say the same (JSON keeps UTC and adds ``local``)."""
    clock = VirtualClock(T0)
    journal_path = tmp_path / "journal.db"
    with Journal(journal_path, clock, local_tz=ZoneInfo("UTC")) as j:
        j.record_prescription_change("op", None, {"timezone": "America/New_York"}, "first start")
        clock.advance(3600)
        j.record_daemon_stop("SIGTERM")
        j.record_prescription_change(
            "op", {"timezone": "America/New_York"}, {"timezone": "Asia/Kathmandu"}, "moved"
        )
        clock.advance(60)
        j.record_daemon_stop("SIGTERM")
    capsys.readouterr()
    assert main(["log", "show", str(journal_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # 08:00Z and 09:00Z in New York (UTC-5); 09:00Z and 09:01Z in Kathmandu (UTC+5:45).
    assert [line.split()[3] for line in lines] == [
        "03:00-05:00)",
        "04:00-05:00)",
        "14:45+05:45)",
        "14:46+05:45)",
    ]
    assert main(["log", "show", str(journal_path), "-n", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["wall_utc"] == "2026-03-01T09:01:00+00:00"
    assert record["local"] == "2026-03-01T14:46:00+05:45"
    assert record["timezone"] == "Asia/Kathmandu"


def test_show_gives_the_local_date_when_it_is_not_the_utc_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-11: 22:30Z on 24 Oct is 00:30 on 25 Oct in Berlin; the line says which day it was."""
    clock = VirtualClock(datetime(2026, 10, 24, 22, 30, tzinfo=UTC))
    journal_path = tmp_path / "journal.db"
    with Journal(journal_path, clock, local_tz=ZoneInfo("UTC")) as j:
        j.record_prescription_change("op", None, {"timezone": "Europe/Berlin"}, "first start")
        clock.advance(3 * 3600)  # 01:30Z: 02:30 local, after the change back to +01:00
        j.record_daemon_stop("SIGTERM")
    capsys.readouterr()
    assert main(["log", "show", str(journal_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "2026-10-24T22:30:00Z (local 2026-10-25 00:30+02:00)" in lines[0]
    assert "2026-10-25T01:30:00Z (local 02:30+01:00)" in lines[1]


def test_show_filters_by_kind_and_time(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`log show --kind --since --until` keeps only the matching records."""
    args = ["log", "show", str(path), "--kind", "slot.scheduled", "--kind", "slot.missed"]
    assert main([*args, "--since", "2026-03-01T09:00", "--until", "2026-03-01T11:00+00:00"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[4] for line in lines] == ["slot.scheduled", "slot.missed"]
    assert all("slot_id=s2" in line for line in lines)


def test_show_refuses_a_malformed_time(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --since that is not a time is a usage error naming the allowed form."""
    with pytest.raises(SystemExit) as exit_info:
        main(["log", "show", str(path), "--since", "last blue moon"])
    assert exit_info.value.code == 2
    assert "allowed ISO 8601" in capsys.readouterr().err


def test_export_writes_one_versioned_row_per_slot(path: Path, tmp_path: Path) -> None:
    """`log export --format jsonl` writes one row per slot in the documented, versioned schema."""
    out = tmp_path / "slots.jsonl"
    assert main(["log", "export", str(path), "--format", "jsonl", "-o", str(out)]) == 0
    s1, s2 = (json.loads(line) for line in out.read_text().splitlines())
    assert s1["schema"] == s2["schema"] == EXPORT_SCHEMA
    assert (s1["slot_id"], s1["outcome"], s1["delivered_dose_ug"]) == ("s1", "DELIVERED", "5.000")
    assert (s1["start_utc"], s1["end_utc"]) == (
        "2026-03-01T08:00:00.000000+00:00",
        "2026-03-01T08:01:00.000000+00:00",
    )
    assert (s2["outcome"], s2["denial_reasons"]) == ("MISSED", ["alarm-active"])
    assert [a["code"] for a in s2["alarms"]] == ["occlusion"]


def test_installed_command_exports_to_stdout(path: Path) -> None:
    """The `pumpctl` entry point runs `log export` end to end and writes JSON Lines to stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "pumpctl", "log", "export", "-j", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [json.loads(line)["slot_id"] for line in done.stdout.splitlines()] == ["s1", "s2"]


def test_log_without_a_journal_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`log verify` with no journal given exits 2 with a line saying what is missing."""
    assert main(["log", "verify"]) == 2
    assert "give the journal file" in capsys.readouterr().err
