"""The daemon against the over-delivery paths a pump can open: unexplained flow, settings changed
behind its back, and a reload that changes the pump (SR-26, SR-27), on one virtual clock."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from pumpctl.core.model import Reason
from pumpctl.daemon.runner import reload_loader
from pumpctl.drivers.ne1000_codec import Command, encode_reply
from pumpctl.drivers.testing import SpyTransport
from pumpctl.simulator.loopback import LoopbackTransport
from tests.daemon.harness import CONFIG, START, make_bench

SLOT_1 = START + timedelta(minutes=5)  # 08:00
SLOT_2 = SLOT_1 + timedelta(minutes=90)
SLOT_3 = SLOT_2 + timedelta(minutes=90)


def motions(bench) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return [e for e in bench.ledger.entries if e["event"] == "motion.end"]


def rogue_bolus(bench) -> None:  # type: ignore[no-untyped-def]
    """10 uL at 900 uL/min (0.67 s) run by someone else half a second after a reading."""
    after_s = bench.daemon.flow_watch.seconds_until_due() + 0.5
    bench.sim.inject(f"rogue@t={after_s},send=RAT900UM")
    bench.sim.inject(f"rogue@t={after_s},send=RUN")


def test_a_spontaneous_start_is_caught_within_the_watch_whatever_the_safe_mode_period(
    tmp_path: Path,
) -> None:
    """SR-26: with a 255 s safe-mode period (85 s heartbeats) a pump that starts on its own
    between pulses is still read, stopped and journaled within 5 s of simulated time."""
    bench = make_bench(tmp_path, safe_mode_timeout_s=255, heartbeat_s=85.0, wire_time=True)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=37, seconds=13))
    bench.sim.inject("spontaneous-start")
    bench.run_for(120)
    rogue = [e for e in bench.ledger.entries if e.get("cause") == "spontaneous-start"]
    end = motions(bench)[-1]
    assert len(rogue) == 1 and end["cause"] == "stop-command"
    assert end["elapsed_end_s"] - rogue[0]["elapsed_s"] <= 5.1  # one reading and its wire time
    (flow,) = bench.journal.events(kinds=("flow.unexplained",))
    assert flow.payload["where"] == "between pulses" and flow.payload["moving"] is True
    # The pump prints its totals in 0.01 uL steps around 10 uL.
    assert abs(Decimal(flow.payload["volume_ul"]) - Decimal(str(end["volume_ul"]))) <= Decimal(
        "0.01"
    )
    assert "unexplained-flow" in bench.daemon.safety_suspended
    assert bench.daemon.alarms.get("unexplained-flow").priority == "high"


def test_a_rogue_bolus_finished_between_two_readings_is_still_counted(tmp_path: Path) -> None:
    """SR-26: 10 uL run fast by someone else and stopped before the next reading shows in the
    totals: journaled with its volume and the time the totals were last known, alarmed,
    suspended, and counted by the gate like a pulse at the time it was found."""
    bench = make_bench(tmp_path, wire_time=True)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    rogue_bolus(bench)
    bench.run_for(30)
    (flow,) = bench.journal.events(kinds=("flow.unexplained",))
    assert flow.payload["volume_ul"] == "10.00" and flow.payload["moving"] is False
    assert flow.payload["since_utc"] is not None
    assert bench.daemon.reservoir.remaining_ul == Decimal(1000) - 20  # the pulse and the flow
    bench.ack("unexplained-flow", "someone ran the pump from the keypad; clamped")
    bench.run_until(SLOT_2 - timedelta(seconds=1))
    decision = bench.daemon.decide(bench.daemon.planner.next_after(bench.clock.now()))
    # Found at 08:30, the flow keeps the 09:30 slot inside the minimum interval.
    assert Reason.MIN_INTERVAL in decision.reasons


def test_unexplained_flow_survives_a_restart_in_the_gate(tmp_path: Path) -> None:
    """SR-26: a journaled flow still counts for the gate after the daemon restarts."""
    bench = make_bench(tmp_path, wire_time=True)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    rogue_bolus(bench)
    bench.run_for(30)
    bench.daemon.shutdown("test restart")
    again = make_bench(tmp_path, sim=bench.sim, ledger=bench.ledger, clock=bench.clock)
    again.daemon.start()
    assert len(again.daemon.flow_watch.records) == 1
    decision = again.daemon.decide(again.daemon.planner.next_after(again.clock.now()))
    assert Reason.MIN_INTERVAL in decision.reasons


def test_a_diameter_changed_behind_the_daemons_back_stops_the_next_pulse(tmp_path: Path) -> None:
    """SR-27: a raw DIA sent to the pump between pulses shows in the read-back while arming:
    no intent, no RUN, the slot missed with the mismatch named, a high settings-mismatch alarm,
    delivery suspended; once it is acknowledged the pump is self-tested again from the
    configuration and therapy resumes."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    bench.sim.inject("rogue,send=DIA20")
    bench.run_until(SLOT_2 + timedelta(minutes=5))
    assert len(bench.starts()) == 1
    missed = bench.journal.events(kinds=("slot.missed",))[-1].payload
    assert missed["slot_id"].endswith("T093000Z")
    assert "syringe diameter reads 20.00, expected 4.78" in missed["detail"]
    intents = [e.payload["slot_id"] for e in bench.journal.events(kinds=("pulse.intent",))]
    runs = [e.payload["slot_id"] for e in bench.journal.events(kinds=("pulse.run",))]
    assert intents == runs == [missed["slot_id"].replace("T0930", "T0800")]
    assert [e.payload["slot_id"] for e in bench.journal.events(kinds=("pulse.armed",))] == runs
    alarm = bench.daemon.alarms.get("settings-mismatch")
    assert alarm.priority == "high" and "syringe diameter" in alarm.detail
    assert "settings-mismatch" in bench.daemon.safety_suspended
    bench.ack("settings-mismatch", "syringe checked: BD 1 mL as configured")
    bench.run_until(SLOT_3 + timedelta(minutes=5))
    assert bench.sim.pump.diameter_mm == 4.78
    assert len(bench.starts()) == 2


def lying_pump(bench, answers: dict[str, str]):  # type: ignore[no-untyped-def]
    """Route the bench's wire through a spy that, once switched on, answers these queries with
    the given data (a pump reprogrammed between the daemon's commands, or one that lies)."""
    lie = {"on": False}

    def rewrite(command: Command, reply: bytes) -> bytes:
        if lie["on"] and command.text in answers:
            return encode_reply(0, "S", answers[command.text], safe=True)
        return reply

    transport = bench.daemon.driver._given_transport
    assert isinstance(transport, LoopbackTransport)
    spy = SpyTransport(transport, rewrite=rewrite)
    bench.daemon.driver._given_transport = spy
    return lie, spy


def test_a_volume_in_other_units_is_a_mismatch(tmp_path: Path) -> None:
    """SR-27: units are read back too: a pump stating the volume as 10.00 mL (its units
    switched behind the daemon's back) is not started."""
    bench = make_bench(tmp_path)
    lie, spy = lying_pump(bench, {"VOL": "10.00ML"})
    bench.daemon.start()
    lie["on"] = True
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert bench.starts() == [] and "RUN" not in spy.texts()
    assert bench.journal.events(kinds=("pulse.intent",)) == []
    detail = bench.journal.events(kinds=("slot.missed",))[-1].payload["detail"]
    assert "volume reads 10.00ML, expected 10UL" in detail


def test_a_pump_that_reports_another_rate_is_not_started(tmp_path: Path) -> None:
    """SR-27: a rate read back different from the one programmed (a lying or reprogrammed
    pump) means no RUN and the settings-mismatch alarm."""
    bench = make_bench(tmp_path)
    lie, spy = lying_pump(bench, {"RAT": "900.0UM"})
    bench.daemon.start()
    lie["on"] = True
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert bench.starts() == [] and "RUN" not in spy.texts()
    assert bench.journal.events(kinds=("pulse.intent",)) == []
    detail = bench.journal.events(kinds=("slot.missed",))[-1].payload["detail"]
    assert "rate reads 900.0UM, expected 10UM" in detail
    assert bench.daemon.alarms.get("settings-mismatch").priority == "high"


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_a_reload_that_changes_the_pump_is_refused_whole_and_holds_pulses(tmp_path: Path) -> None:
    """SR-27: SIGHUP with a changed [pump] applies nothing (not even a changed dose), raises a
    high alarm naming the keys, and holds every pulse until restart or until [pump] is back."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    path = write_config(tmp_path / "pumpctl.toml", CONFIG)
    changed = CONFIG.replace("syringe_diameter_mm = 4.78", "syringe_diameter_mm = 8.66")
    write_config(path, changed.replace("dose_ug = 10", "dose_ug = 12"))
    bench.daemon.reload_requested = reload_loader(bench.daemon, path)
    bench.run_until(SLOT_1 + timedelta(minutes=15))
    assert bench.starts() == []
    alarm = bench.daemon.alarms.get("pump-config-changed")
    assert alarm.priority == "high" and "pump.syringe_diameter_mm" in alarm.detail
    assert bench.daemon.prescription.dose_ug == Decimal(10)  # nothing half-applied
    assert "prescription.change" not in [e.kind for e in bench.journal.events()][2:]
    missed = bench.journal.events(kinds=("slot.missed",))[-1].payload
    assert Reason.ALARM_ACTIVE.value in missed["reasons"]
    write_config(path, CONFIG)
    bench.daemon.reload_requested = reload_loader(bench.daemon, path)
    bench.ack("pump-config-changed", "syringe change postponed; file restored")
    bench.run_until(SLOT_2 + timedelta(minutes=5))
    assert bench.daemon.held_for_restart is None
    assert len(bench.starts()) == 1


def test_a_reload_with_the_same_pump_applies_the_prescription(tmp_path: Path) -> None:
    """SR-27, SR-21: SIGHUP with [pump] unchanged applies the new prescription, journaled, with
    no pump alarm and no hold."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    path = write_config(tmp_path / "pumpctl.toml", CONFIG.replace("dose_ug = 10", "dose_ug = 12"))
    bench.daemon.reload_requested = reload_loader(bench.daemon, path)
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    assert bench.daemon.prescription.dose_ug == Decimal(12)
    assert bench.daemon.held_for_restart is None
    assert "pump-config-changed" not in [a.alarm_id for a in bench.daemon.alarms.active()]
    change = bench.journal.events(kinds=("prescription.change",))[-1].payload
    assert (change["old"]["dose_ug"], change["new"]["dose_ug"]) == ("10", "12")
    assert [m["volume_ul"] for m in motions(bench)] == [12.0]
