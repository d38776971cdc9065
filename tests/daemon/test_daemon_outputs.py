"""What an assembled daemon tells the world beyond its journal: the typed status snapshot, and
the notifications and metrics its configuration asks for, on the in-process simulator."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from pumpctl.config.settings import MetricsSettings, NotifyCommand, NotifySettings
from pumpctl.daemon.control_wire import encode_reply
from pumpctl.daemon.metrics import TextfileWriter
from pumpctl.daemon.outputs import DaemonOutputs
from pumpctl.journal import EventKind
from pumpctl.simulation import Simulation, SimulationOptions, default_config
from tests.daemon.harness import START, make_bench

SLOT_1 = START + timedelta(minutes=5)
SLOT_2 = SLOT_1 + timedelta(minutes=90)


def _metrics(path: Path) -> dict[str, float]:
    """Samples by name and labels, ``name{label=value,...}`` with the pump label left out."""
    found = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "pump")
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_status_snapshot_is_typed(tmp_path: Path) -> None:
    """Status carries numbers, UTC times and objects (next slot, journal head, last pulse) that
    survive the control socket's JSON, and nothing from outputs that are not configured."""
    bench = make_bench(tmp_path)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))
    snap = json.loads(encode_reply(bench.daemon.snapshot()))
    head = bench.journal.head
    assert head is not None
    assert snap["state"] == "ready" and snap["pump_ready"] is True
    assert snap["reservoir_ul"] == 990
    assert snap["journal_head"] == {"seq": head.seq, "hash": head.hash}
    assert snap["next_slot"] == {
        "slot_id": "S20260302T093000Z",
        "scheduled_utc": SLOT_2.isoformat(),
    }
    # Built at the end of the last tick, before the loop slept.
    assert bench.clock.now() - timedelta(seconds=10) <= datetime.fromisoformat(snap["now_utc"])
    assert datetime.fromisoformat(snap["now_utc"]) <= bench.clock.now()
    last = snap["last_pulse"]
    assert (last["slot_id"], last["outcome"], last["delivered_volume_ul"]) == (
        "S20260302T080000Z",
        "DELIVERED",
        10,
    )
    assert snap["last_delivered_utc"] == last["started_utc"]
    assert SLOT_1 <= datetime.fromisoformat(last["started_utc"]) < SLOT_1 + timedelta(minutes=1)
    assert "notify" not in snap
    # Times stay UTC for scripts; the zone they are read in by a person comes with them.
    assert snap["timezone"] == bench.daemon.prescription.timezone
    alarms = bench.daemon.submit({"cmd": "alarms"}, None)
    assert alarms["timezone"] == bench.daemon.prescription.timezone


def test_last_delivered_is_read_back_after_a_restart(tmp_path: Path) -> None:
    """A restarted daemon knows when the last pulse that delivered fluid was given."""
    first = make_bench(tmp_path)
    first.daemon.start()
    first.run_until(SLOT_1 + timedelta(minutes=5))
    given = datetime.fromisoformat(first.daemon.snapshot()["last_delivered_utc"])
    first.daemon.shutdown("restart")
    first.journal.close()
    again = make_bench(tmp_path, clock=first.clock, sim=first.sim, ledger=first.ledger)
    again.daemon.start()
    restored = datetime.fromisoformat(again.daemon.snapshot()["last_delivered_utc"])
    # After a restart it is the journaled intent, written a moment before the pump started.
    assert timedelta(0) <= given - restored < timedelta(seconds=5)
    assert again.daemon.snapshot()["last_pulse"] is None


def test_configured_metrics_are_written_by_an_assembled_daemon(tmp_path: Path) -> None:
    """With [metrics], the daemon writes its textfile from the first tick and once more on
    shutdown; what it says matches the journal."""
    prom = tmp_path / "prom"
    prom.mkdir()
    bench = make_bench(
        tmp_path,
        extra_config=f'\n[metrics]\ntextfile_dir = "{prom}"\n[subject]\npump_label = "bench1"\n',
    )
    textfile = prom / "pumpctl-bench1.prom"
    bench.daemon.start()
    bench.run_for(1)
    assert textfile.exists()
    bench.run_until(SLOT_2 + timedelta(minutes=5))
    bench.daemon.shutdown("done")
    metrics = _metrics(textfile)
    assert metrics["pumpctl_pulses{outcome=DELIVERED}"] == 2
    assert metrics["pumpctl_reservoir_microlitres{}"] == 980
    head = bench.journal.head
    assert head is not None
    # Written before the daemon.stop record, with the head as it was then.
    assert metrics["pumpctl_journal_head_seq{}"] == head.seq - 1
    assert metrics["pumpctl_metrics_timestamp_seconds{}"] == bench.clock.now().timestamp()


def test_metrics_are_paced_by_the_host_clock_not_the_daemon_clock(tmp_path: Path) -> None:
    """Hours of virtual time rewrite the metrics file only when real seconds have passed."""
    bench = make_bench(tmp_path)
    host_s = [100.0]
    outputs = DaemonOutputs(
        metrics=TextfileWriter(tmp_path, "paced", interval_s=15), monotonic=lambda: host_s[0]
    )
    outputs.attach(bench.daemon)
    bench.daemon.start()
    textfile = tmp_path / "pumpctl-paced.prom"
    written = bench.clock.now()
    bench.run_for(3 * 3600)
    assert _metrics(textfile)["pumpctl_metrics_timestamp_seconds{}"] == written.timestamp()
    host_s[0] += 15
    written = bench.clock.now()
    bench.run_for(1)
    assert _metrics(textfile)["pumpctl_metrics_timestamp_seconds{}"] == written.timestamp()


def test_configured_notifications_reach_the_command_and_are_journaled(tmp_path: Path) -> None:
    """With [notify], a stall's alarm reaches the configured command off the loop; the loop
    journals the attempt, status counts it, and a due notification is settled before the
    daemon's stop is journaled."""
    out = tmp_path / "notified.jsonl"
    extra = (
        "\n[notify]\ntimeout_s = 5\nretries = 0\n"
        '[[notify.command]]\nname = "file"\n'
        f'argv = ["/bin/sh", "-c", "cat >> {out}; echo >> {out}"]\nstdin = "json"\n'
    )
    bench = make_bench(tmp_path, faults=("stall@0.5",), extra_config=extra)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=5))

    def bodies() -> list[dict[str, str]]:
        """The notifications written so far; a line still being written is not one yet."""
        text = out.read_text() if out.exists() else ""
        return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]

    _wait(lambda: any(b["alarm"] == "pump-alarm-stall" for b in bodies()), "the stall notice")
    stall = next(b for b in bodies() if b["alarm"] == "pump-alarm-stall")
    assert (stall["event"], stall["priority"], stall["slot"]) == (
        "raised",
        "high",
        "S20260302T080000Z",
    )
    assert "(simulated)" not in stall["pump"]
    bench.run_for(1)
    bench.ack("pump-alarm-stall")
    bench.daemon.shutdown("done")
    kinds = bench.kinds()
    attempts = bench.journal.events(kinds=(EventKind.NOTIFY_ATTEMPT,))
    by_alarm = {(a.payload["alarm_id"], a.payload["event"]): a.payload for a in attempts}
    assert by_alarm[("pump-alarm-stall", "raised")]["outcome"] == "sent"
    assert by_alarm[("pump-alarm-stall", "acknowledged")]["outcome"] == "sent"
    assert kinds[-1] == "daemon.stop"
    assert bench.daemon.snapshot()["notify"]["sent"] >= 1
    assert "notify-failed" not in {a["id"] for a in bench.daemon.snapshot()["alarms"]}


def test_a_failing_hook_is_logged_and_delivery_goes_on(tmp_path: Path) -> None:
    """An output that raises on every tick does not stop the loop: the pulses are still given."""
    bench = make_bench(tmp_path)

    def broken() -> None:
        raise RuntimeError("metrics bug")

    bench.daemon.after_tick.append(broken)
    bench.daemon.start()
    bench.run_until(SLOT_2 + timedelta(minutes=5))
    assert len(bench.starts()) == 2


def test_a_simulation_labels_its_configured_outputs_as_simulated(tmp_path: Path) -> None:
    """pumpctl simulate with [metrics] and [notify] writes its own metrics file and says
    "(simulated)" in its notifications, so neither is taken for the real pump's."""
    prom = tmp_path / "prom"
    prom.mkdir()
    out = tmp_path / "notified.jsonl"
    command = NotifyCommand("file", ("/bin/sh", "-c", f"cat >> {out}; echo >> {out}"), "json")
    config = dataclasses.replace(
        default_config(),
        metrics=MetricsSettings(textfile_dir=prom, interval_s=15),
        notify=NotifySettings(commands=(command,), timeout_s=5, retries=0),
    )
    options = SimulationOptions(days=0.5, faults=["stall@run:1:0.5"])
    summary = Simulation(config, tmp_path / "sim.sqlite3", options).run()
    (textfile,) = prom.iterdir()
    assert textfile.name.endswith("-simulated.prom")
    metrics = _metrics(textfile)
    assert metrics["pumpctl_pulses{outcome=DELIVERED}"] == summary.outcomes["DELIVERED"] > 0
    # The simulation's shutdown gives due notifications their grace before it returns.
    bodies = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    stall = [b for b in bodies if b["alarm"] == "pump-alarm-stall"]
    assert stall and all(b["pump"].endswith("(simulated)") for b in bodies)
