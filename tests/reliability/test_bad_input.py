"""Bad input: random configurations, pump-side byte streams, control requests, corrupted journals.

Every case must end in a clear error (a PumpctlError naming the problem, an error reply, or one
line on stderr with the documented exit code), never a traceback, never a dead daemon, and never
a lost or wrong record (SR-24).
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpctl.config import parse_config_text
from pumpctl.core.model import HardCeiling
from pumpctl.daemon.control import ControlServer
from pumpctl.errors import ConfigError, PumpctlError
from pumpctl.journal.chain import head_path
from pumpctl.journal.verify import verify
from pumpctl.simulation import Simulation, SimulationOptions, default_config
from tests.reliability import campaign_numbers
from tests.reliability.ground_truth import check_records, journal_slots, motions

DEMO = files("pumpctl.examples").joinpath("demo.toml").read_text(encoding="utf-8")
DEMO_LINES = DEMO.splitlines()
JUNK_VALUES = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12).map(json.dumps),
    st.sampled_from(['"08:00"', '"25:61"', "true", "[]", "{}", '""', "nan", "inf", "-0", "1e400"]),
)


# -- configurations ------------------------------------------------------------------------------


@st.composite
def mutated_configs(draw: st.DrawFn) -> str:
    """demo.toml with values replaced by junk, lines dropped, duplicated or garbled."""
    lines = list(DEMO_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["value", "drop", "dup", "garble"]))
        key, sep, _ = lines[i].partition(" = ")
        if action == "value" and sep:
            lines[i] = f"{key} = {draw(JUNK_VALUES)}"
        elif action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        else:
            lines[i] = draw(st.text(max_size=30))
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_random_configurations_load_or_fail_clearly(text: str) -> None:
    """SR-24 SR-03: a mutated configuration loads within the hard ceilings or is one ConfigError."""
    campaign_numbers.add("bad_inputs")
    try:
        config = parse_config_text(text, source="<mutated>")
    except ConfigError as err:
        assert str(err).strip()
        return
    limits = config.limits
    assert limits.min_interval_min >= HardCeiling.MIN_INTERVAL_MIN
    assert limits.max_pulses_24h <= HardCeiling.MAX_PULSES_24H
    assert limits.max_dose_24h_ug <= HardCeiling.MAX_DOSE_24H_UG
    assert config.prescription.dose_ug <= limits.max_dose_per_pulse_ug


# -- pump-side byte streams ----------------------------------------------------------------------


class LinkTime:
    """The pump links' clock in a test whose pump answers at once or never (an in-process one):
    it moves only while a read waits out its timeout, as a real port blocks when it has nothing
    more to give. The links decide exactly as on the real clock, without spinning on it until
    each timeout, and the same way on a busy host."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        from pumpctl.drivers import harvard11_link, ne1000_link  # noqa: PLC0415

        with (
            mock.patch.object(ne1000_link, "time", self),
            mock.patch.object(harvard11_link, "time", self),
        ):
            yield


class MutatingTransport:
    """Between the driver and the loopback simulator: corrupts what the pump sends back."""

    def __init__(self, inner: object, rng: random.Random, rate: float, clock: LinkTime) -> None:
        self.inner = inner
        self.rng = rng
        self.rate = rate
        self.mutations = 0
        self.clock = clock

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def read(self, size: int = 1) -> bytes:
        data = bytearray(self.inner.read(size))  # type: ignore[attr-defined]
        if not data:
            timeout = self.timeout  # the link's (set here), else the loopback's own
            self.clock.sleep(float(timeout) if isinstance(timeout, int | float) else 0.0)
        if data and self.rng.random() < self.rate:
            self.mutations += 1
            how = self.rng.randrange(4)
            pos = self.rng.randrange(len(data))
            if how == 0:
                data[pos] ^= 1 << self.rng.randrange(8)
            elif how == 1:
                data[pos:pos] = self.rng.randbytes(self.rng.randint(1, 8))
            elif how == 2:
                del data[pos:]
            else:
                data = bytearray(self.rng.randbytes(len(data)))
        return bytes(data)


@pytest.mark.parametrize("seed", range(2))
def test_corrupted_pump_replies_never_crash_or_falsify(
    tmp_path: Path, seed: int, driver: str
) -> None:
    """SR-24 SR-16 SR-08: a day of corrupted pump replies: no crash, every motion journaled."""
    options = SimulationOptions(days=1, seed=seed, driver=driver)
    sim = Simulation(default_config(), tmp_path / "j.sqlite3", options)
    link_time = LinkTime()
    transport = MutatingTransport(
        sim.daemon.driver._given_transport,
        random.Random(seed),  # noqa: S311 - reproducible corruption, not secrets
        0.03,
        link_time,
    )
    sim.daemon.driver._given_transport = transport
    # A pump that garbles its self-test is refused at start (SR-13, tested elsewhere); here the
    # corruption starts once the daemon runs.
    start = sim.daemon.start

    def start_then_corrupt() -> None:
        start()
        transport.rate = 0.03

    transport.rate = 0.0
    sim.daemon.start = start_then_corrupt  # type: ignore[method-assign]
    with link_time.patched():
        summary = sim.run()
    campaign_numbers.add("bad_inputs", transport.mutations)
    assert transport.mutations > 20
    assert summary.violations == []
    assert summary.chain_ok
    problems, _ = check_records(motions(sim.ledger.entries), journal_slots(tmp_path / "j.sqlite3"))
    assert problems == []


@functools.cache
def driver_class(name: str) -> type:
    """The registered driver class, looked up once (the registry reads every installed
    package's entry points, most of an example's time when done 200 times)."""
    from pumpctl.drivers.registry import get_driver_class  # noqa: PLC0415

    cls: type = get_driver_class(name)
    return cls


@pytest.mark.parametrize("driver_name", ["ne1000", "harvard11"])
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_pump_bytes_are_link_faults(driver_name: str, noise: bytes) -> None:
    """SR-24 SR-16: whatever bytes a pump sends, the driver raises a PumpctlError or parses them."""
    clock = LinkTime()

    class Noise:
        timeout: float | None = 0.05

        def __init__(self) -> None:
            self.rx = bytearray(noise)

        def write(self, data: bytes) -> None:
            self.rx += noise

        def read(self, size: int = 1) -> bytes:
            chunk = bytes(self.rx[:size])
            del self.rx[:size]
            if not chunk:
                clock.sleep(self.timeout or 0.0)  # a real port blocks this long, then says b""
            return chunk

        def reset_input_buffer(self) -> None:
            self.rx.clear()

        def close(self) -> None:
            pass

    campaign_numbers.add("bad_inputs")
    driver = driver_class(driver_name)("loop://", transport=Noise(), timeout_s=0.05)
    with clock.patched():
        for call in (driver.connect, driver.status, driver.dispensed):
            try:
                call()
            except PumpctlError as err:
                assert str(err).strip()


# -- control socket ------------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def bad_requests(rng: random.Random) -> list[bytes]:
    """Malformed, hostile, out-of-range and random request lines (each ends in a newline)."""
    lines = [
        b"{",
        b"[]",
        b"null",
        b'"status"',
        b'{"cmd": 5}',
        b'{"cmd": "launch"}',
        b'{"cmd": "suspend"}',
        b'{"cmd": "suspend", "reason": ""}',
        b'{"cmd": "status", "extra": 1}',
        b'{"cmd": "ack", "alarm_id": "no-such-alarm", "reason": "x"}',
        b'{"cmd": "resume", "reason": "not suspended"}',
        b'{"cmd": "silence", "alarm_id": "x", "minutes": -1}',
        b'{"cmd": "reservoir_fill", "volume_ul": "-5"}',
        b'{"cmd": "reservoir_fill", "volume_ul": "1e999"}',
        b'{"cmd": "reservoir_fill", "volume_ul": "NaN"}',
        b'{"cmd": "reservoir_fill", "volume_ul": 0.0001}',
        b'{"cmd": "reservoir_fill", "volume_ul": 99999999999}',
        b'{"cmd": "status"' + b" " * 1000 + b"",
        _nested(100_000)[:60_000],
        rb'{"cmd": "suspend", "reason": "\u0000\ud800"}',
        b"\xff\xfe\x00garbage",
    ]
    lines += [rng.randbytes(rng.randint(1, 200)).replace(b"\n", b"") for _ in range(60)]
    return [line + b"\n" for line in lines if line]


@pytest.fixture
def live_daemon(tmp_path: Path) -> Iterator[tuple[Simulation, Path, threading.Thread]]:
    """A running daemon loop (virtual clock, one simulated second per turn) behind its socket."""
    sim = Simulation(default_config(), tmp_path / "j.sqlite3", SimulationOptions(days=30))
    sim.daemon.start()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            sim.daemon.waker.sleep(sim.daemon.tick() and 1.0)
            time.sleep(0.002)

    thread = threading.Thread(target=loop, name="daemon-loop", daemon=True)
    thread.start()
    # Unix socket paths are short: keep this one out of pytest's deep tmp_path.
    with tempfile.TemporaryDirectory(prefix="pumpctl-") as sock_dir:
        sock = Path(sock_dir) / "control.sock"
        with ControlServer(sock, sim.daemon.submit, mode=0o600):
            yield sim, sock, thread
        stop.set()
        thread.join(timeout=10)
    sim.finish("test complete")


def ask(sock: Path, line: bytes) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(sock))
        conn.sendall(line)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    result: dict[str, object] = json.loads(reply)
    return result


def test_garbage_on_the_control_socket_is_refused_and_the_daemon_runs_on(
    live_daemon: tuple[Simulation, Path, threading.Thread],
) -> None:
    """SR-24 SR-23: malformed, hostile and oversized requests get error replies; nothing changes."""
    sim, sock, thread = live_daemon
    reservoir_before = sim.daemon.reservoir.remaining_ul
    requests = bad_requests(random.Random(7))  # noqa: S311 - reproducible noise, not secrets
    requests.append(b"x" * (200 * 1024))  # oversized, no newline at all
    for line in requests:
        reply = ask(sock, line)
        assert reply["ok"] is False, line[:80]
        assert str(reply["error"]).strip()
        campaign_numbers.add("bad_inputs")
    assert thread.is_alive()
    status = ask(sock, b'{"cmd": "status"}\n')
    assert status["ok"] is True
    assert sim.daemon.reservoir.remaining_ul == reservoir_before
    assert sim.daemon.operator_suspended is None
    # A valid request after all that still works, and is journaled.
    assert ask(sock, b'{"cmd": "reservoir_fill", "volume_ul": "900"}\n')["ok"] is True
    assert sim.daemon.reservoir.remaining_ul == Decimal(900)
    assert verify(sim.journal_file).ok


# -- corrupted journal ---------------------------------------------------------------------------


def corruptions() -> dict[str, Callable[[Path], None]]:
    def flip_record(path: Path) -> None:
        # Inside a record's own bytes (a flip in free pages changes nothing worth detecting).
        data = bytearray(path.read_bytes())
        at = data.find(b'"slot_id":"S') + len(b'"slot_id":"S')
        data[at] = ord("9") if data[at] != ord("9") else ord("8")
        path.write_bytes(bytes(data))

    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])

    def garbage(path: Path) -> None:
        path.write_bytes(random.Random(3).randbytes(20_000))  # noqa: S311 - test noise

    def tamper(sql: str) -> Callable[[Path], None]:
        def apply(path: Path) -> None:
            # A determined editor drops the append-only triggers first.
            with sqlite3.connect(path) as conn:
                triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                for (name,) in triggers.fetchall():
                    conn.execute(f'DROP TRIGGER "{name}"')
                conn.execute(sql)

        return apply

    return {
        "flipped-bytes": flip_record,
        "truncated": truncate,
        "garbage": garbage,
        "edited-record": tamper(
            "UPDATE events SET payload = replace(payload, '10', '20') WHERE seq = 5"
        ),
        "deleted-record": tamper("DELETE FROM events WHERE seq = 7"),
    }


@pytest.fixture(scope="module")
def good_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("journal") / "journal.sqlite3"
    Simulation(default_config(), path, SimulationOptions(days=1)).run()
    assert verify(path).ok
    return path


@pytest.mark.parametrize("damage", list(corruptions()))
def test_corrupted_journal_is_a_clear_error_not_a_traceback(
    tmp_path: Path, good_journal: Path, damage: str
) -> None:
    """SR-24 SR-20: `log verify` and `run` on a damaged journal: one clear line, exit 1 or 3."""
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(good_journal.read_bytes())
    head_path(path).write_bytes(head_path(good_journal).read_bytes())  # the sidecar comes along
    corruptions()[damage](path)
    verify_run = subprocess.run(
        [sys.executable, "-m", "pumpctl", "log", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    config = tmp_path / "pumpctl.toml"
    text = DEMO.replace('state_dir = "../state/demo"', f"state_dir = {json.dumps(str(tmp_path))}")
    config.write_text(text.replace("url = ", 'url = "socket://127.0.0.1:9"\n#'), encoding="utf-8")
    config.chmod(0o600)
    run = subprocess.run(
        [sys.executable, "-m", "pumpctl", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    campaign_numbers.add("bad_inputs", 2)
    for proc in (verify_run, run):
        said = (proc.stderr + proc.stdout).strip()
        assert proc.returncode in (1, 3), said
        assert "Traceback" not in said
        assert said
        assert len(said.splitlines()) <= 3
    # The daemon refused before touching the pump: it never became ready.
    assert "daemon.ready" not in run.stdout
