"""Command round trips: pumpctl's drivers against their bytes' wire time, and against nesp-lib.

Starts one ``pumpsim serve --pty`` at 19200 baud (it emulates the wire time of every reply), then
times, for each client in turn on the same pty:

* a status query (``0`` -> ``00S``), and
* a full bolus program (DIR INF, VOL UL, VOL 50, RAT 500 UM: the same four commands for both).

pumpctl always runs in safe mode (framed, CRC); nesp-lib is measured in basic mode (its default)
and in safe mode. Then a second pumpsim plays a Pump 11 Elite (``--model elite11``) and the
``harvard11`` driver is timed on a status poll and its bolus program (ivolume check, irate and
tvolume set, then irate, tvolume and diameter read back). For pumpctl's drivers the bytes each
operation puts on the wire are counted, so every median stands next to the time those bytes need
at the baud rate. Run on demand: ``python benchmarks/bench_driver.py [--iterations N]``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import nesp_lib
import structlog
from _bench import figure

from pumpctl.drivers.harvard11 import Harvard11Driver
from pumpctl.drivers.ne1000 import Ne1000Driver
from pumpctl.drivers.transport import SerialTransport, open_serial_transport

DIA_MM = 4.699


class CountingTransport:
    """A serial transport that counts the bytes crossing it (both directions)."""

    def __init__(self, inner: SerialTransport) -> None:
        self.inner = inner
        self.count = 0

    @property
    def timeout(self) -> float | None:
        return self.inner.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.inner.timeout = value

    def write(self, data: bytes) -> None:
        self.count += len(data)
        self.inner.write(data)

    def read(self, size: int = 1) -> bytes:
        data = self.inner.read(size)
        self.count += len(data)
        return data

    def reset_input_buffer(self) -> None:
        self.inner.reset_input_buffer()

    def close(self) -> None:
        self.inner.close()


def start_pumpsim(
    workdir: Path, baud: int, model: str = "ne1000"
) -> tuple[subprocess.Popen[bytes], Path]:
    link = workdir / f"pump-{model}"
    out = workdir / f"pumpsim-{model}.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pumpctl.simulator.cli", "serve", "--model", model, "--pty",
             "--link", str(link), "--baud", str(baud), "--syringe-ul", "1000000"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 15
    while not link.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"pumpsim did not start: {out.read_text()}")
        time.sleep(0.02)
    return proc, link


def measure(action: Callable[[], object], iterations: int) -> list[float]:
    """Milliseconds per call, after two warm-up calls."""
    for _ in range(2):
        action()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


#: Wire time of the bytes of one call of each operation, per client, in ms (filled as measured).
WIRE_MS: dict[str, dict[str, float]] = {}


def measure_wire(
    wire: CountingTransport, action: Callable[[], object], baud: int, iterations: int
) -> tuple[list[float], float]:
    """Round-trip samples (ms) and the wire time (ms) of one call's bytes at ``baud``."""
    before = wire.count
    action()
    wire_ms = (wire.count - before) * 10 / baud * 1000.0
    return measure(action, iterations), wire_ms


def bench_pumpctl(link: Path, baud: int, iterations: int) -> dict[str, list[float]]:
    wire = CountingTransport(open_serial_transport(str(link), baud))
    driver = Ne1000Driver(str(link), baud=baud, safe_mode_timeout_s=255, transport=wire)
    driver.connect()
    try:
        driver.self_test(syringe_diameter_mm=Decimal(str(DIA_MM)))
        status, status_wire = measure_wire(wire, driver.status, baud, iterations)
        program, program_wire = measure_wire(
            wire, lambda: driver.program_bolus(Decimal(50), Decimal(500)), baud, iterations
        )
        WIRE_MS["pumpctl ne1000"] = {"status query": status_wire, "bolus program": program_wire}
        return {"status query": status, "bolus program": program}
    finally:
        driver.close()
        wire.close()


def bench_harvard11(link: Path, baud: int, iterations: int) -> dict[str, list[float]]:
    wire = CountingTransport(open_serial_transport(str(link), baud))
    driver = Harvard11Driver(str(link), baud=baud, transport=wire)
    driver.connect()
    try:
        driver.self_test(syringe_diameter_mm=Decimal(str(DIA_MM)))
        driver.clear_dispensed()
        status, status_wire = measure_wire(wire, driver.status, baud, iterations)
        program, program_wire = measure_wire(
            wire, lambda: driver.program_bolus(Decimal(50), Decimal(500)), baud, iterations
        )
        WIRE_MS["pumpctl harvard11"] = {"status query": status_wire, "bolus program": program_wire}
        return {"status query": status, "bolus program": program}
    finally:
        driver.close()
        wire.close()


def bench_nesp(link: Path, baud: int, iterations: int, safe_s: int) -> dict[str, list[float]]:
    port = nesp_lib.Port(str(link), baud)
    try:
        pump = nesp_lib.Pump(port, safe_mode_timeout_s=safe_s)
        pump.syringe_diameter_mm = DIA_MM

        def program() -> None:
            pump.pumping_direction = nesp_lib.PumpingDirection.INFUSE
            pump.pumping_volume_ml = 0.05
            pump.pumping_rate_ml_per_min = 0.5

        results = {
            "status query": measure(lambda: pump.status, iterations),
            "bolus program": measure(program, iterations),
        }
        if safe_s:
            pump.safe_mode_timeout_s = 0  # stop nesp-lib's heartbeat thread before closing
        return results
    finally:
        port.close()


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def wire_figures(rows: dict[str, dict[str, list[float]]]) -> None:
    """Each pumpctl median next to the wire time of its bytes (both directions, 10 bits/byte)."""
    pairs = (("pumpctl (safe mode)", "pumpctl ne1000"), ("pumpctl harvard11", "pumpctl harvard11"))
    for client, key in pairs:
        for operation, wire_ms in WIRE_MS.get(key, {}).items():
            median = statistics.median(rows[client][operation])
            figure(
                f"{key} {operation} median ms vs wire time of its bytes",
                f"{median:.2f} vs {wire_ms:.2f}",
                "reported",
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--baud", type=int, default=19200)
    parser.add_argument("--elite-baud", type=int, default=19200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    # Only warnings and worse: the table is the output, and nesp-lib logs nothing either.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        proc, link = start_pumpsim(Path(tmp), args.baud)
        elite, elite_link = start_pumpsim(Path(tmp), args.elite_baud, "elite11")
        clients: dict[str, Callable[[], dict[str, list[float]]]] = {
            "pumpctl (safe mode)": lambda: bench_pumpctl(link, args.baud, args.iterations),
            "pumpctl harvard11": lambda: bench_harvard11(
                elite_link, args.elite_baud, args.iterations
            ),
            "nesp-lib (basic mode)": lambda: bench_nesp(link, args.baud, args.iterations, 0),
            "nesp-lib (safe mode)": lambda: bench_nesp(link, args.baud, args.iterations, 255),
        }
        rows: dict[str, dict[str, list[float]]] = {name: {} for name in clients}
        try:
            # Clients take turns over several rounds, so none profits from running later.
            for _ in range(args.rounds):
                for name, run in clients.items():
                    for operation, samples in run().items():
                        rows[name].setdefault(operation, []).extend(samples)
        finally:
            for sim in (proc, elite):
                sim.terminate()
                sim.wait(timeout=10)
    calls = args.iterations * args.rounds
    print(
        f"pumpsim over a pty at {args.baud} baud (elite11 at {args.elite_baud}), "
        f"{calls} calls each, in turns (ms)"
    )
    print(f"{'client':24} {'operation':14} {'median':>8} {'p95':>8} {'min':>8}")
    for client, results in rows.items():
        for operation, samples in results.items():
            print(
                f"{client:24} {operation:14} {statistics.median(samples):8.2f} "
                f"{p95(samples):8.2f} {min(samples):8.2f}"
            )
    wire_figures(rows)
    ours = rows["pumpctl (safe mode)"]
    for name, results in rows.items():
        if not name.startswith("nesp-lib"):
            continue
        for operation, samples in results.items():
            if operation not in ours:
                continue
            mine, theirs = statistics.median(ours[operation]), statistics.median(samples)
            figure(
                f"driver {operation} median ms (vs {name})",
                f"{mine:.2f} vs {theirs:.2f}",
                "ours no slower",
                mine <= theirs * 1.05,  # within 5 %: the medians share one noisy host
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
