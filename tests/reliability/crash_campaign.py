"""The crash campaign: a pumpsim process and a daemon process that is SIGKILLed again and again.

pumpsim runs on a pty at a scaled clock with a ground-truth ledger. The daemon (``pumpctl run
--time-scale``) is started through :mod:`tests.reliability.crashing_daemon`, which plants one
SIGKILL at a chosen phase of a pulse; ``random`` lives are instead killed from outside at a
random moment. After every death the journal must verify and still hold every record the dead
daemon had acknowledged (logged ``journal.appended``); at the end the ledger and the journal are
held against each other (:mod:`tests.reliability.ground_truth`). pumpsim itself can be killed and
restarted (a power reset of the pump) while a daemon runs.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pumpctl.config import load_config
from pumpctl.core.model import START_LATENCY_BOUND
from pumpctl.daemon.control_client import ControlClient
from pumpctl.demo import demo_config_text
from pumpctl.errors import ControlError
from pumpctl.journal.chain import Head
from pumpctl.journal.verify import verify
from pumpctl.simulator.personality import model_for_driver
from tests.reliability.crashing_daemon import PHASES
from tests.reliability.ground_truth import (
    check_arming,
    check_physical_limits,
    check_records,
    journal_slots,
    motions,
    read_ledger,
)

REPO = Path(__file__).resolve().parents[2]
#: 1 simulated minute in 1/24 s: a 90 min interval passes in under 4 s of real time.
TIME_SCALE = 1440.0
#: At this scale a few real milliseconds between intent and RUN are minutes of simulated time.
INTENT_SLACK_S = 0.5 * TIME_SCALE
#: A restarted pumpsim resumes this much real time behind, so its time line never runs ahead.
RESTART_LAG_S = 0.5
LIFE_LIMIT_S = 12.0
#: The clean final life lasts this long (real seconds), and until it is ready at most...
FINAL_LIFE_S = 4.0
#: ...this long: a daemon not ready by then is stopped and its exit code reported.
FINAL_READY_LIMIT_S = 60.0
#: Joining pumpsim runs onto one time line is as exact as a control-socket round trip (a few
#: real milliseconds, so a few simulated seconds); physical gaps are judged with this slack.
CLOCK_JOIN_TOLERANCE_S = 10.0  # a life whose planted phase never comes is killed from outside
#: The latched high alarms the campaign's own kills and pump resets cause, which an operator at
#: the bench acknowledges after looking: two pulses missed in a row latch a high missed-pulse
#: alarm that blocks delivery until acknowledged and survives restarts (SR-22, SR-30), and a
#: pump reset or an expired safe-mode watchdog latches its pump alarm. ``uncertain-pulse`` is
#: never acknowledged here: acknowledging records the pulse delivered, and the campaign is about
#: the daemon resolving it from pump evidence. Any other high alarm stays latched (and shows as
#: missing motions), because acknowledging it would hide what the campaign looks for.
OPERATOR_ACKS = frozenset({"missed-pulse", "pump-alarm-reset", "pump-alarm-timeout"})
#: How often the operator looks at ``pumpctl status`` (real seconds).
OPERATOR_POLL_S = 0.2
#: The gate grants a start-latency allowance, N x longer on an N x clock (docs/design.md).
GATE_ALLOWANCE_S = START_LATENCY_BOUND.total_seconds() * TIME_SCALE


@dataclass
class CampaignResult:
    kills: Counter[str] = field(default_factory=Counter)
    pump_restarts: int = 0
    refused_starts: int = 0
    violations: list[str] = field(default_factory=list)
    tally: dict[str, int] = field(default_factory=dict)
    motions: int = 0
    acknowledged_records: int = 0
    simulated_hours: float = 0.0
    #: Acknowledgements the operator made, and when (campaign time line), by alarm id.
    acks: Counter[str] = field(default_factory=Counter)
    first_ack: datetime | None = None
    #: Motions that started after the operator's first acknowledgement.
    motions_after_first_ack: int = 0

    @property
    def kills_total(self) -> int:
        return sum(self.kills.values())


class Pumpsim:
    """The virtual pump as its own process, restartable on the same pty link and ledger."""

    def __init__(self, workdir: Path, start: datetime, model: str = "ne1000") -> None:
        self.workdir = workdir
        self.model = model
        self.link = workdir / "pump"
        self.control = workdir / "pumpsim.sock"
        self.ledger = workdir / "ledger.jsonl"
        self.origin = start
        self.mono0 = time.monotonic()
        self.shifts_s: list[float] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def campaign_now(self) -> datetime:
        """Simulated time on the campaign's one continuous time line."""
        return self.origin + timedelta(seconds=(time.monotonic() - self.mono0) * TIME_SCALE)

    def start(self) -> None:
        with self.ledger.open("a") as ledger:
            ledger.write(json.dumps({"event": "pumpsim.start"}) + "\n")
        self.control.unlink(missing_ok=True)
        # The new process starts its clock a moment after this is computed, so its time line
        # lags the campaign's (measured below; ledger and journal are corrected by it). A daemon
        # started later borrows pumpsim's time line as its elapsed clock (only in scaled mode),
        # so a restarted pumpsim must lag its predecessor: ahead, it would look like elapsed
        # time that never passed. Real hosts do not borrow the pump's clock.
        start = self.campaign_now() - timedelta(
            seconds=RESTART_LAG_S * TIME_SCALE * bool(self.shifts_s)
        )
        args = ["--pty", "--link", str(self.link), "--control", str(self.control)]
        args += ["--ledger", str(self.ledger), "--time-scale", f"{TIME_SCALE:g}"]
        args += ["--start", start.isoformat(), "--seed", "7"]
        # The demo configuration's 19200 baud, which both families offer.
        args += ["--model", self.model, "--baud", "19200"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pumpctl.simulator.cli", "serve", *args],
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "pumpsim.log").open("ab"),
        )
        deadline = time.monotonic() + 15
        while not self.control.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pumpsim did not start; see pumpsim.log")
            time.sleep(0.02)
        pump_now = datetime.fromisoformat(str(self.state()["now"]))
        self.shifts_s.append((self.campaign_now() - pump_now).total_seconds())

    def state(self) -> dict[str, object]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.control))
            conn.sendall(b"state\n")
            result: dict[str, object] = json.loads(conn.recv(65536).decode())
            return result

    def power_reset(self) -> None:
        """Kill the pump process outright and start a fresh one: all pump state is lost."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Operator:
    """A bench operator who watches ``pumpctl status`` of one daemon life over its control socket.

    Whenever the daemon reports an unacknowledged high alarm from :data:`OPERATOR_ACKS`, the
    operator acknowledges it with a reason, as ``pumpctl ack ID --reason ...`` would. A daemon
    that is starting, being killed or already dead does not answer; that is not an error here.
    """

    def __init__(self, socket_path: Path, pumpsim: Pumpsim, result: CampaignResult) -> None:
        self.client = ControlClient(socket_path, timeout_s=3.0)
        self.pumpsim = pumpsim
        self.result = result
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="campaign-operator", daemon=True)

    def __enter__(self) -> Operator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)

    def _watch(self) -> None:
        while not self.stopped.wait(OPERATOR_POLL_S):
            try:
                status = self.client.request("status")
            except ControlError:
                continue
            for alarm in status.get("alarms", []):
                if (
                    alarm.get("priority") == "high"
                    and not alarm.get("acknowledged")
                    and (alarm.get("id") in OPERATOR_ACKS or self._power_cycled_fall(alarm))
                ):
                    self._ack(str(alarm["id"]))

    def _power_cycled_fall(self, alarm: dict[str, object]) -> bool:
        """Totals that fell (no volume moved) after the campaign power-cycled the pump.

        The daemon names a reset the pump reported as the cause (``pump-alarm-reset``). A daemon
        killed while journaling that evidence leaves its successor zero totals with no reset
        to name: "cleared outside pumpctl", the conservative reading. The operator who pulled
        the plug knows why and acknowledges it; an unexplained flow with a volume is never
        acknowledged here (the ledger judges it).
        """
        return (
            alarm.get("id") == "unexplained-flow"
            and "totals fell to" in str(alarm.get("detail", ""))
            and len(self.pumpsim.shifts_s) > 1
        )

    def _ack(self, alarm_id: str) -> None:
        try:
            self.client.request(
                "ack", alarm_id=alarm_id, reason="crash campaign: pump and line checked"
            )
        except ControlError:
            return  # refused, cancelled or the daemon died: the next look tries again
        self.result.acks[alarm_id] += 1
        if self.result.first_ack is None:
            self.result.first_ack = self.pumpsim.campaign_now()


class CrashCampaign:
    """Run ``kills`` daemon lives, each ended by SIGKILL, then check everything."""

    def __init__(
        self,
        workdir: Path,
        *,
        kills: int,
        seed: int,
        pump_restarts: int = 1,
        driver: str = "ne1000",
    ) -> None:
        self.workdir = workdir
        self.kills = kills
        self.rng = random.Random(seed)  # noqa: S311 - reproducible campaign, not secrets
        self.pump_restart_lives = set(
            self.rng.sample(range(1, kills), min(pump_restarts, kills - 1))
        )
        # Every phase in turn, in a seeded order, so even a short campaign visits each one.
        self.phases = [*PHASES, "random"]
        self.rng.shuffle(self.phases)
        self.next_phase = 0
        workdir.mkdir(parents=True, exist_ok=True)
        # The configuration's time-of-day anchor is resolved against the real date: start today.
        self.start = datetime.now(UTC).replace(microsecond=0)
        self.pumpsim = Pumpsim(workdir, self.start, model_for_driver(driver))
        self.config_path = workdir / "campaign.toml"
        text = demo_config_text(self.pumpsim.link, workdir / "state", 255)
        self.config_path.write_text(
            text.replace('driver = "ne1000"', f'driver = "{driver}"'), encoding="utf-8"
        )
        os.chmod(self.config_path, 0o600)
        self.config = load_config(self.config_path)
        self.journal_path = self.config.journal.path
        self.result = CampaignResult()
        self.acknowledged: dict[int, str] = {}
        self.life_heads: list[tuple[int, int]] = []

    def _spawn(self, phase: str, nth: int, log_path: Path) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "tests.reliability.crashing_daemon", phase, str(nth)]
        cmd += ["run", "-c", str(self.config_path), "--time-scale", f"{TIME_SCALE:g}"]
        # journal.appended, which says what the daemon acknowledged, is a debug-level event.
        env = {**os.environ, "PUMPCTL_LOG_LEVEL": "debug"}
        return subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT
        )

    def life(self, index: int) -> None:
        phase = self.phases[self.next_phase % len(self.phases)]
        # Journal-append phases hit a random append of the life, others their first occurrence.
        nth = self.rng.randint(1, 12) if phase.startswith("append") else 1
        log_path = self.workdir / f"daemon-{index:03d}.log"
        proc = self._spawn("none" if phase == "random" else phase, nth, log_path)
        with self._operator():
            self._live(index, phase, proc, log_path)

    def _operator(self) -> Operator:
        return Operator(self.config.control.socket_path, self.pumpsim, self.result)

    def _live(self, index: int, phase: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        timeline = len(self.pumpsim.shifts_s) - 1
        limit_s = self.rng.uniform(1.0, 6.0) if phase == "random" else LIFE_LIMIT_S
        if index in self.pump_restart_lives:
            time.sleep(self.rng.uniform(1.5, 3.0))
            self.pumpsim.power_reset()
            self.result.pump_restarts += 1
        reached = True
        try:
            proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            # A planted phase that never came (no slot allowed in time) makes this a kill at a
            # random moment; the next life tries the same phase again.
            reached = phase == "random"
            phase = "random"
        if (
            proc.returncode == 1
            and b"pumpctl: error: cannot open pump link" in log_path.read_bytes()
        ):
            # Started while pumpsim was being power-reset (its pty gone): a clear refusal with
            # nothing delivered is the right answer (SR-13); this life was not a kill, and its
            # phase is tried again by the next one.
            self.result.refused_starts += 1
            self._after_death(index, log_path, timeline)
            return
        if reached:
            self.next_phase += 1
        if proc.returncode != -signal.SIGKILL:
            self.result.violations.append(
                f"life {index} ({phase}) ended with code {proc.returncode}, not SIGKILL; "
                f"see {log_path}"
            )
        self.result.kills[phase] += 1
        self._after_death(index, log_path, timeline)

    def _after_death(self, index: int, log_path: Path, timeline: int) -> None:
        """The chain verifies and still holds every record the dead daemon acknowledged."""
        for raw in log_path.read_bytes().splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "journal.appended":
                self.acknowledged[int(event["seq"])] = str(event["hash"])
        if not self.journal_path.exists():
            return
        head = max(self.acknowledged, default=None)
        anchor = None if head is None else Head(head, self.acknowledged[head])
        result = verify(self.journal_path, anchor)
        if not result.ok:
            self.result.violations.append(f"after life {index}: journal {result.problem}")
        if result.head is not None:
            # Records up to this head were written on the time line of this life's pumpsim.
            self.life_heads.append((result.head.seq, timeline))

    def shift_of_seq(self, seq: int) -> float:
        """Seconds that put journal record ``seq`` on the campaign's time line."""
        for head, timeline in self.life_heads:
            if seq <= head:
                return self.pumpsim.shifts_s[timeline]
        return self.pumpsim.shifts_s[-1]

    def run(self) -> CampaignResult:
        try:
            index = 0
            while self.result.kills_total < self.kills and index < 2 * self.kills:
                self.life(index)
                index += 1
            self._final_life()
        finally:
            self.pumpsim.stop()
        self._check()
        return self.result

    def _final_life(self) -> None:
        """One clean life lets the daemon reconcile whatever the last kill left pending."""
        log_path = self.workdir / "daemon-final.log"
        began = time.monotonic()
        proc = self._spawn("none", 1, log_path)
        with self._operator():
            # Reconciling happens before the daemon is ready: stopped earlier (a busy host can
            # take more than the 4 s below to get there), it dies of the SIGTERM, nothing settled.
            deadline = began + FINAL_READY_LIMIT_S
            while b'"daemon.ready"' not in log_path.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            time.sleep(max(0.0, began + FINAL_LIFE_S - time.monotonic()))
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        if proc.returncode != 0:
            self.result.violations.append(f"final life exited with {proc.returncode}")
        self._after_death(-1, log_path, len(self.pumpsim.shifts_s) - 1)

    def _check(self) -> None:
        moved = motions(read_ledger(self.pumpsim.ledger), self.pumpsim.shifts_s)
        slots = journal_slots(self.journal_path, self.shift_of_seq)
        problems, tally = check_records(moved, slots, slack_s=INTENT_SLACK_S)
        self.result.violations += problems
        self.result.violations += check_arming(self.journal_path)
        self.result.violations += check_physical_limits(
            moved, self.config.limits, tolerance_s=CLOCK_JOIN_TOLERANCE_S + GATE_ALLOWANCE_S
        )
        self.result.tally = tally
        self.result.motions = len(moved)
        first_ack = self.result.first_ack
        if first_ack is not None:
            self.result.motions_after_first_ack = sum(m.started > first_ack for m in moved)
        self.result.acknowledged_records = len(self.acknowledged)
        self.result.simulated_hours = (
            self.pumpsim.campaign_now() - self.start
        ).total_seconds() / 3600
