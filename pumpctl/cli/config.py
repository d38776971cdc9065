"""``pumpctl config check [-c] FILE``: validate a configuration and show what it will do."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pumpctl.cli.args import Subparsers, add_command, add_group, config_option, json_option
from pumpctl.errors import EXIT_OK, JournalError, UsageError

if TYPE_CHECKING:
    from pumpctl.config import Config


def _config_file(args: argparse.Namespace) -> Path:
    positional: Path | None = args.file
    option: Path | None = args.config
    if positional is not None and option is not None and positional != option:
        raise UsageError(f"two configuration files given ({positional} and -c {option}); give one")
    chosen = option or positional
    if chosen is None:
        raise UsageError("give the configuration file (-c FILE or FILE)")
    return chosen


def check(args: argparse.Namespace) -> int:
    """Print the effective prescription and limits; errors go through the CLI's error path."""
    # pydantic and the journal reader only for this command
    from dataclasses import replace  # noqa: PLC0415

    from pumpctl.cadence import read_journal, resolve  # noqa: PLC0415
    from pumpctl.config import load_config  # noqa: PLC0415
    from pumpctl.core.clock import SystemClock  # noqa: PLC0415

    config = load_config(_config_file(args))
    # The slots a daemon using this file would follow: a journal's anchor may already be in force.
    try:
        view = read_journal(config.journal.path, SystemClock())
    except JournalError as err:
        print(f"warning: {err}; slots shown as this file places them", file=sys.stderr)
        view = None
    cadence = resolve(config, view.prescription if view else None)
    shown = replace(config, prescription=cadence.prescription)
    if args.json:
        from pumpctl.cli.args import print_json  # noqa: PLC0415

        data = config_dict(shown)
        data["prescription"]["anchor_from_journal"] = cadence.from_journal
        print_json(data)
        return EXIT_OK
    for line in shown.summary_lines(anchor_from_journal=cadence.from_journal):
        print(line)
    print("configuration OK")
    return EXIT_OK


def config_dict(config: Config) -> dict[str, Any]:
    """The effective configuration with typed fields (numbers as numbers, units in names)."""
    from dataclasses import fields  # noqa: PLC0415 - only this command needs it

    p, pump = config.prescription, config.pump
    limits = {item.name: getattr(config.limits, item.name) for item in fields(config.limits)}
    data: dict[str, Any] = {
        "ok": True,
        "source": None if config.source_path is None else str(config.source_path),
        "sha256": config.digest,
        "prescription": {
            "dose_ug": p.dose_ug,
            "concentration_ug_per_ml": p.concentration_ug_per_ml,
            "volume_ul": p.volume_ul,
            "rate_ul_per_min": p.rate_ul_per_min,
            "pulse_duration_s": p.pulse_duration_s,
            "effective_duration_s": p.effective_duration_s,
            "interval_min": p.interval_min,
            "anchor_utc": p.anchor,
            "anchor_time_of_day": config.anchor_time_of_day,
            "timezone": p.timezone,
            "profile": [
                {"start": w.start, "end": w.end, "interval_min": w.interval_min} for w in p.profile
            ],
            "max_pulses_per_24h": p.max_pulses_per_24h,
            "max_daily_dose_ug": p.max_daily_dose_ug,
        },
        "limits": limits,
        "limits_default": sorted(set(limits) - set(config.limits_set)),
        "pump": pump.model_dump(),
        "journal": {
            "state_dir": str(config.journal.state_dir),
            "path": str(config.journal.path),
        },
        "control": {
            "socket_path": str(config.control.socket_path),
            "group": config.control.group,
            "mode": f"{config.control.mode:04o}",
        },
        "logging": {"format": config.logging.format, "level": config.logging.level},
        "subject": config.subject.model_dump(),
        "env_overrides": list(config.env_overrides),
    }
    for name in ("notify", "metrics"):
        section = getattr(config, name, None)
        if section is not None:
            data[name] = section.to_dict()
    return data


def register(subparsers: Subparsers) -> None:
    actions = add_group(
        subparsers,
        "config",
        help="check a configuration file",
        description="Check a configuration file before the daemon uses it.",
        dest="config_command",
    )
    checker = add_command(
        actions,
        "check",
        help="validate FILE and print the effective prescription and limits",
        description=(
            "Validate FILE and print the effective prescription, derived pump settings and "
            "limits. Exit 0 when valid, 78 with one line per problem otherwise."
        ),
        examples=[
            "pumpctl config check -c /etc/pumpctl/pumpctl.toml",
            "pumpctl config check config/demo.toml --json | jq .prescription.volume_ul",
        ],
    )
    checker.add_argument("file", metavar="FILE", type=Path, nargs="?", help="configuration file")
    config_option(checker, help="configuration file (same as FILE)")
    json_option(checker, "the effective configuration")
    checker.set_defaults(func=check)
