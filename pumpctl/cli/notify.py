"""``pumpctl notify test -c FILE``: send a test notification through every configured command."""

from __future__ import annotations

import argparse
import sys

from pumpctl.cli.args import (
    Subparsers,
    add_command,
    add_group,
    config_option,
    json_option,
    print_json,
)
from pumpctl.errors import EXIT_FAILURE, EXIT_OK, ConfigError


def _test(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime  # noqa: PLC0415

    from pumpctl.config import load_config  # noqa: PLC0415 - pydantic only for this command
    from pumpctl.daemon.notifier import Notification, run_command  # noqa: PLC0415

    config = load_config(args.config)
    settings = config.notify
    if settings is None:
        raise ConfigError(f"{config.source_path}: no [notify] section; nothing to test")
    now = datetime.now(UTC)
    notification = Notification(
        notification_id=f"test/{now.isoformat()}",
        event="test",
        alarm_id="test",
        kind="test",
        priority=args.priority,
        text=(
            "A test notification from pumpctl notify test. If you read this, alarms from this "
            "pump reach you."
        ),
        at=now,
        pump=config.subject.pump_label or config.pump.url,
        subject=config.subject.id,
        timezone=config.prescription.timezone,
    )
    results = [
        run_command(command, notification, float(settings.timeout_s))
        for command in settings.commands
    ]
    if args.json:
        print_json(
            {
                "ok": all(r.outcome == "sent" for r in results),
                "notification_id": notification.notification_id,
                "commands": [
                    {
                        "command": r.command,
                        "outcome": r.outcome,
                        "exit_code": r.exit_code,
                        "duration_s": r.duration_s,
                        "error": r.error,
                    }
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            line = f"{r.command}: {r.outcome} in {r.duration_s:.2f} s"
            if r.error:
                line += f": {r.error}"
            print(line, file=sys.stdout if r.outcome == "sent" else sys.stderr)
    return EXIT_OK if all(r.outcome == "sent" for r in results) else EXIT_FAILURE


def register(subparsers: Subparsers) -> None:
    actions = add_group(
        subparsers,
        "notify",
        help="test alarm notifications ([notify] in the configuration)",
        description="Alarm notifications: the commands of the configuration's [notify] section.",
        dest="notify_command",
    )
    p = add_command(
        actions,
        "test",
        help="send a test notification through every configured command",
        description=(
            "Run each [[notify.command]] of FILE once with a test notification (event test), "
            "as the daemon would, within the section's timeout_s, and say what came of it. "
            "Nothing is journaled. Exit 0 when every command succeeded, 1 otherwise."
        ),
        examples=[
            "pumpctl notify test -c /etc/pumpctl/pumpctl.toml",
            "sudo -u pumpctl pumpctl notify test -c /etc/pumpctl/pumpctl.toml --priority high",
        ],
    )
    config_option(p, required=True, help="configuration file with a [notify] section")
    p.add_argument(
        "--priority",
        choices=("low", "medium", "high"),
        default="high",
        help="priority the test notification carries (default high)",
    )
    json_option(p, "each command's result")
    p.set_defaults(func=_test)
