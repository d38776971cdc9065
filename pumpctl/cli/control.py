"""Operator subcommands that talk to the running daemon over its control socket (SR-23).

``pumpctl status``, ``suspend``, ``resume``, ``alarms``, ``ack``, ``silence`` and
``reservoir fill``. Requests are checked against the same schema the daemon enforces before
they are sent, so a typo is a usage error here rather than a round trip. ``--json`` prints the
daemon's reply object as one line, for scripts.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pumpctl.cli import style
from pumpctl.cli.args import Subparsers, add_command, config_option
from pumpctl.core.alarm_kinds import DEFAULT_SILENCE_MIN, MAX_SILENCE_MIN
from pumpctl.core.timefmt import local_text
from pumpctl.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ControlError
from pumpctl.text import printable_tree

#: Where sockets of daemons installed with the packaged units live: the units' RuntimeDirectory
#: (one daemon, or one per pumpctl@NAME instance), then the configuration's default inside the
#: state directory. Used when neither --socket nor -c is given, and only if exactly one matches.
DEFAULT_SOCKET_GLOBS = (
    "/run/pumpctl/*.sock",
    "/run/pumpctl/*/*.sock",
    "/var/lib/pumpctl/control.sock",
    "/var/lib/pumpctl/*/control.sock",
)

Render = Callable[[dict[str, Any]], str]
Build = Callable[[argparse.Namespace], dict[str, Any]]

_CONNECTION_EXAMPLES = "-c /etc/pumpctl/bench1.toml"


def register(subparsers: Subparsers) -> None:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("daemon connection")
    config_option(where)  # type: ignore[arg-type]
    where.add_argument("--socket", type=Path, help="control socket path (overrides -c)")
    where.add_argument("--timeout-s", type=float, default=10.0, help="reply timeout (seconds)")
    where.add_argument(
        "--json", action="store_true", help="print the reply as one JSON line with typed fields"
    )

    def add(  # noqa: PLR0917 - a table of commands reads best as positional rows
        parent: Subparsers,
        name: str,
        help_text: str,
        build: Build,
        render: Render,
        examples: list[str],
        description: str = "",
    ) -> argparse.ArgumentParser:
        parser = add_command(
            parent,
            name,
            help=help_text,
            description=(description or help_text[0].upper() + help_text[1:] + ".")
            + " Talks to the running daemon over its local control socket.",
            examples=examples,
            parents=[common],
        )
        parser.set_defaults(func=_runner(build, render))
        return parser

    add(subparsers, "status", "show the daemon's state, pulses, alarms and reservoir",
        _build_status, render_status,
        ["pumpctl status", f"pumpctl status {_CONNECTION_EXAMPLES}",
         "pumpctl status --json | jq .reservoir_ul"])  # fmt: skip

    p = add(subparsers, "suspend", "suspend delivery until resumed (journaled with your identity)",
            _build_suspend, _render_message("Delivery suspended."),
            ['pumpctl suspend --reason "line change"'])  # fmt: skip
    p.add_argument("--reason", required=True, help="why (journaled)")

    p = add(subparsers, "resume", "resume delivery after a suspension",
            _build_resume, _render_message("Delivery resumed."),
            ['pumpctl resume --reason "new line primed"'])  # fmt: skip
    p.add_argument("--reason", help="why (journaled)")

    add(subparsers, "alarms", "list active alarms with what to do about each",
        _build_alarms, render_alarms,
        ["pumpctl alarms", "pumpctl alarms --json | jq -r '.alarms[].id'"])  # fmt: skip

    p = add(subparsers, "ack", "acknowledge an alarm",
            _build_ack, _render_message("Alarm acknowledged."),
            ['pumpctl ack pump-alarm-stall --reason "kinked line straightened"'])  # fmt: skip
    p.add_argument("alarm", metavar="ALARM", help="alarm id as shown by `pumpctl alarms`")
    p.add_argument("--reason", required=True, help="what was found or done (journaled)")

    p = add(subparsers, "silence", "silence an alarm's signal for a while (it stays active)",
            _build_silence, _render_message("Alarm silenced."),
            ["pumpctl silence missed-pulse --minutes 30"])  # fmt: skip
    p.add_argument("alarm", metavar="ALARM", help="alarm id as shown by `pumpctl alarms`")
    p.add_argument("--minutes", type=int, default=DEFAULT_SILENCE_MIN,
                   help=f"1 to {MAX_SILENCE_MIN} (default {DEFAULT_SILENCE_MIN})")  # fmt: skip

    reservoir = subparsers.add_parser(
        "reservoir",
        help="record reservoir (syringe) changes",
        description="Record reservoir (syringe) changes with the running daemon.",
    )
    actions = reservoir.add_subparsers(dest="reservoir_action", metavar="ACTION", required=True)
    p = add(actions, "fill", "record a new or refilled syringe",
            _build_fill, _render_message("Reservoir fill recorded."),
            ['pumpctl reservoir fill --volume-ul 2500 --reason "lot 24-117"'])  # fmt: skip
    p.add_argument("--volume-ul", required=True, type=_decimal, help="volume now in the syringe")
    p.add_argument("--reason", help="note for the journal (e.g. the lot number)")


def _build_status(_: argparse.Namespace) -> dict[str, Any]:
    return {"cmd": "status"}


def _build_alarms(_: argparse.Namespace) -> dict[str, Any]:
    return {"cmd": "alarms"}


def _build_suspend(args: argparse.Namespace) -> dict[str, Any]:
    return {"cmd": "suspend", "reason": args.reason}


def _build_resume(args: argparse.Namespace) -> dict[str, Any]:
    return _without_none({"cmd": "resume", "reason": args.reason})


def _build_ack(args: argparse.Namespace) -> dict[str, Any]:
    return {"cmd": "ack", "alarm_id": args.alarm, "reason": args.reason}


def _build_silence(args: argparse.Namespace) -> dict[str, Any]:
    return {"cmd": "silence", "alarm_id": args.alarm, "minutes": args.minutes}


def _build_fill(args: argparse.Namespace) -> dict[str, Any]:
    return _without_none(
        {"cmd": "reservoir_fill", "volume_ul": args.volume_ul, "reason": args.reason}
    )


#: Requests without arguments need no check before they are sent.
_READ_ONLY = frozenset({"status", "alarms"})


def _runner(build: Build, render: Render) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from pumpctl.daemon.control_client import (  # noqa: PLC0415 - only the one command's needs
            ControlClient,
            ControlRefusedError,
        )

        request = build(args)
        if request["cmd"] not in _READ_ONLY:
            from pumpctl.daemon.control_protocol import (  # noqa: PLC0415 - pydantic schema
                RequestError,
                parse_request,
            )

            try:
                # The daemon validates again; checking here turns a typo into a usage error.
                parse_request(json.dumps(request, default=str))
            except RequestError as err:
                print(f"pumpctl: error: {err}", file=sys.stderr)
                return EXIT_USAGE
        path = resolve_socket_path(args.socket, args.config)
        reply = ControlClient(path, args.timeout_s).request_raw(request)
        if args.json:
            print(json.dumps(reply, default=str))
            return EXIT_OK if reply.get("ok") is True else EXIT_FAILURE
        # Text from the daemon (reasons, notes, alarm details) never drives the terminal.
        reply = printable_tree(reply)
        if reply.get("ok") is not True:
            raise ControlRefusedError(request["cmd"], reply)
        print(render(reply))
        return EXIT_OK

    return run


def resolve_socket_path(socket_path: Path | None, config_path: Path | None) -> Path:
    """``--socket`` wins; else the configuration's ``control.socket_path``; else a default."""
    if socket_path is not None:
        return socket_path
    if config_path is not None:
        import importlib  # noqa: PLC0415

        # Loaded only here: the configuration's validation (pydantic) is slow to import.
        config_module: Any = importlib.import_module("pumpctl.config")
        return Path(config_module.load_config(config_path).control.socket_path)
    return discover_socket()


def discover_socket(patterns: tuple[str, ...] = DEFAULT_SOCKET_GLOBS) -> Path:
    """The one control socket on this host, or an error saying how to pick one."""
    found = sorted(
        {path for pattern in patterns for path in map(Path, glob.glob(pattern)) if path.is_socket()}
    )
    if len(found) == 1:
        return found[0]
    if not found:
        raise ControlError(
            f"no control socket found (looked for {', '.join(patterns)}): is the pumpctl daemon "
            "running? Pass --socket PATH or -c CONFIG"
        )
    raise ControlError(
        f"several pumpctl daemons run here ({', '.join(map(str, found))}); "
        "choose one with --socket PATH or -c CONFIG"
    )


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as err:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _without_none(request: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in request.items() if value is not None}


# -- rendering -------------------------------------------------------------------------------


def _render_message(default: str) -> Render:
    def render(reply: dict[str, Any]) -> str:
        return str(reply.get("message") or default)

    return render


def _last_pulse(value: Any) -> str:
    if not isinstance(value, dict):
        return str(value)
    volume = value.get("delivered_volume_ul")
    text = f"{value.get('slot_id')} {value.get('outcome')}"
    if volume is not None:
        text += f" {volume} uL"
    if value.get("started_utc"):
        text += f" at {value['started_utc']}"
    return text


def _delivering(value: Any) -> str:
    if not isinstance(value, dict):
        return _inline(value)
    return (
        f"{value.get('slot_id')} {value.get('volume_ul')} uL over {value.get('duration_s')} s, "
        f"started {value.get('started_utc')}"
    )


def _blocked_by(value: Any) -> str:
    if not isinstance(value, list):
        return _inline(value)
    if not value:
        return "nothing"
    lines = [
        f"{item.get('reason')}: {item.get('detail')}" if isinstance(item, dict) else _inline(item)
        for item in value
    ]
    return "".join(f"\n  {line}" for line in lines)


def _next_slot(value: Any) -> str:
    if not isinstance(value, dict) or "scheduled_utc" not in value:
        return _inline(value)
    return f"{value.get('slot_id')} at {value['scheduled_utc']}"


def _reservoir(value: Any) -> str:
    return "unknown (no fill recorded)" if value is None else f"{value} uL"


def _yes_no(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else _inline(value)


def _head(value: Any) -> str:
    if isinstance(value, dict) and "seq" in value:
        return f"{value['seq']}:{value.get('hash')}"
    return _inline(value)


#: Fields the status shows first, with a label and a renderer; ``always`` ones show even when
#: null (an unknown reservoir is worth saying).
_STATUS_FIELDS: tuple[tuple[str, str, Callable[[Any], str], bool], ...] = (
    ("state", "State", str, False),
    ("delivering", "Delivering", _delivering, False),
    ("blocked_by", "Blocked by", _blocked_by, False),
    ("suspended_reason", "Suspended because", str, False),
    ("last_pulse", "Last pulse", _last_pulse, False),
    ("next_slot", "Next slot", _next_slot, False),
    ("reservoir_ul", "Reservoir", _reservoir, True),
    ("last_delivered_utc", "Last delivered", str, False),
    ("pump_ready", "Pump ready", _yes_no, False),
    ("journal_head", "Journal head", _head, False),
    ("now_utc", "Daemon time", str, False),
)


#: An aware ISO 8601 time as the daemon reports it (UTC with ``+00:00``).
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d:\d\d")


def _in_zone(text: str, zone: ZoneInfo | None) -> str:
    """Every time in ``text`` as the prescription's clock shows it, with its UTC offset."""
    if zone is None:
        return text
    return _ISO_TIME.sub(
        lambda m: local_text(datetime.fromisoformat(m.group(0)), zone, seconds=True), text
    )


def _zone(reply: dict[str, Any]) -> ZoneInfo | None:
    try:
        return ZoneInfo(str(reply["timezone"])) if reply.get("timezone") else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def render_status(reply: dict[str, Any]) -> str:
    """Known fields first with labels, then anything else the daemon reports, then alarms.

    Times are shown in the prescription's time zone with their UTC offset (SR-11).
    """
    zone = _zone(reply)
    shown = {"ok", "alarms"}
    lines = []
    for key, label, show, always in _STATUS_FIELDS:
        if key in reply and (always or reply[key] is not None):
            lines.append(_line(label, _in_zone(show(reply[key]), zone)))
        shown.add(key)
    for key, value in reply.items():
        if key not in shown:
            label = key.replace("_", " ").capitalize()
            lines.append(_line(label, _in_zone(_inline(value), zone)))
    alarms = reply.get("alarms") or []
    if alarms:
        lines.append(_line("Alarms", f"{len(alarms)} active"))
        lines.extend("  " + _in_zone(_alarm_line(alarm), zone) for alarm in alarms)
    else:
        lines.append(_line("Alarms", "none"))
    return "\n".join(lines)


def _line(label: str, value: str) -> str:
    """``Label:`` padded to one column, with at least one space before the value."""
    return f"{label + ':':<18} {value}"


def render_alarms(reply: dict[str, Any]) -> str:
    """One block per alarm: priority, id, state, detail, and the catalogue's guidance."""
    alarms = reply.get("alarms") or []
    if not alarms:
        return "No active alarms."
    zone = _zone(reply)
    blocks = []
    for alarm in alarms:
        block = [_in_zone(_alarm_line(alarm), zone)]
        if alarm.get("meaning"):
            block.append(f"    means:   {alarm['meaning']}")
        if alarm.get("action"):
            block.append(f"    do:      {alarm['action']}")
        blocks.append("\n".join(block))
    return "\n".join(blocks)


def _alarm_line(alarm: dict[str, Any]) -> str:
    if alarm.get("acknowledged"):
        state = f"acknowledged by {alarm.get('acknowledged_by')}"
    elif alarm.get("silenced"):
        state = f"silenced until {alarm.get('silenced_until')}"
    else:
        state = "UNACKNOWLEDGED"
    level = str(alarm.get("priority", "?"))
    priority = style.priority(f"{level.upper():<6}", level)
    detail = f" - {alarm['detail']}" if alarm.get("detail") else ""
    return (
        f"{priority} {alarm.get('id', '?')}  since {alarm.get('raised_at', '?')}  [{state}]{detail}"
    )


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        shown = "  ".join(f"{k}={_inline(v)}" for k, v in value.items() if v is not None)
        return shown or "-"
    if isinstance(value, list):
        return ", ".join(_inline(v) for v in value) or "-"
    return str(value)
