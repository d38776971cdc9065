"""``pumpsim``: serve a virtual syringe pump on a pty and/or TCP, and talk to its control socket.

Two personalities share one physical pump: ``--model ne1000`` (New Era NE-1000 family, the
default) and ``--model elite11`` (Harvard Apparatus Pump 11 Elite, Protocol 11).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

from pumpctl import __version__
from pumpctl.core.clock import ScaledClock
from pumpctl.errors import ConfigError, PumpctlError, exit_code_for

from .faults import FaultSpec, check_identity, load_scenario, parse_fault
from .ledger import Ledger
from .personality import MODELS, make_simulator
from .server import Endpoint, PtyEndpoint, PumpServer, TcpEndpoint


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"--tcp {text!r}: expected HOST:PORT with PORT 0..65535")
    return host or "127.0.0.1", int(port)


def _start(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--start {text!r} is not an ISO 8601 time") from err
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pumpsim", description="A virtual syringe pump (NE-1000 or Pump 11 Elite)."
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"pumpsim {__version__} (models {', '.join(sorted(MODELS))})",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the simulator on a pty and/or TCP")
    serve.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal")
    serve.add_argument("--link", help="stable symlink to the pty device (with --pty)")
    serve.add_argument("--tcp", type=_host_port, metavar="HOST:PORT", help="serve on TCP")
    serve.add_argument(
        "--model",
        choices=sorted(MODELS),
        default="ne1000",
        help="pump family and wire protocol (default ne1000)",
    )
    serve.add_argument("--address", type=int, default=0, help="pump network address 0..99")
    serve.add_argument(
        "--baud", type=int, help="emulated line speed (default 19200 ne1000, 9600 elite11)"
    )
    serve.add_argument("--syringe-ul", type=float, default=1000.0, help="fluid in the syringe")
    serve.add_argument("--time-scale", type=float, default=1.0, help="N x faster than real time")
    serve.add_argument("--start", type=_start, help="simulated wall time at start (ISO 8601)")
    serve.add_argument("--seed", type=int, help="seed for reproducible fault noise")
    serve.add_argument("--firmware", help="identity the version query reports")
    serve.add_argument("--ledger", help="append the ground-truth plunger ledger (JSON lines)")
    serve.add_argument(
        "--fault", action="append", default=[], metavar="KIND[@WHEN]", help="inject a fault"
    )
    serve.add_argument("--scenario", help="TOML or JSON file with faults = [...]")
    serve.add_argument("--control", help="unix socket for run-time control (fault, state)")
    ctl = sub.add_parser("control", help="send one request to a running pumpsim's control socket")
    ctl.add_argument("socket", help="the path given to serve --control")
    ctl.add_argument("request", nargs="+", help="'fault KIND[@WHEN]' or 'state'")
    return parser


def control(args: argparse.Namespace) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5.0)
        conn.connect(args.socket)
        conn.sendall((" ".join(args.request) + "\n").encode("utf-8"))
        answer = conn.recv(65536).decode("utf-8", "replace").strip()
    print(answer)
    return 1 if answer.startswith("error") else 0


def _faults(args: argparse.Namespace) -> list[FaultSpec]:
    faults = [parse_fault(text) for text in args.fault]
    if args.scenario:
        faults.extend(load_scenario(args.scenario))
    return faults


def serve(args: argparse.Namespace) -> int:
    if not args.pty and args.tcp is None:
        raise ConfigError("pumpsim serve needs --pty and/or --tcp HOST:PORT")
    if not 0 <= args.address <= 99:
        raise ConfigError(f"--address {args.address} is out of range; allowed 0..99")
    _, default_firmware, default_baud = MODELS[args.model]
    baud = default_baud if args.baud is None else args.baud
    if baud <= 0 or args.time_scale <= 0 or args.syringe_ul <= 0:
        raise ConfigError("--baud, --time-scale and --syringe-ul must be > 0")
    firmware = check_identity(args.firmware or default_firmware, "--firmware")
    clock = ScaledClock(args.time_scale, origin=args.start)
    sim = make_simulator(
        args.model,
        clock,
        address=args.address,
        baud=baud,
        syringe_ul=args.syringe_ul,
        seed=args.seed,
        faults=_faults(args),
        ledger=Ledger(args.ledger) if args.ledger else None,
        time_scale=args.time_scale,
        firmware=firmware,
    )
    endpoints: list[Endpoint] = []
    if args.pty:
        pty = PtyEndpoint(args.link, baud=baud)
        endpoints.append(pty)
        print(f"pumpsim: pty {pty.device}" + (f" (link {args.link})" if args.link else ""))
    if args.tcp is not None:
        tcp = TcpEndpoint(*args.tcp)
        endpoints.append(tcp)
        print(f"pumpsim: tcp {tcp.address[0]}:{tcp.address[1]}")
    server = PumpServer(sim, endpoints, control_path=args.control)
    if args.control:
        print(f"pumpsim: control {args.control}")
    sys.stdout.flush()

    def _stop(signum: int, frame: FrameType | None) -> None:
        server.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.serve_forever()
    sim.pump.ledger.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return control(args) if args.command == "control" else serve(args)
    except PumpctlError as err:
        print(f"pumpsim: {err}", file=sys.stderr)
        return exit_code_for(err)
    except OSError as err:
        print(f"pumpsim: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
