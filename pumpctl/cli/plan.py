"""``pumpctl plan -c FILE [--hours N]``: the coming slots and the gate's verdict on each."""

from __future__ import annotations

import argparse
from typing import Any

from pumpctl.cli.args import Subparsers, add_command, config_option, json_option, positive_float
from pumpctl.errors import EXIT_FAILURE, EXIT_OK


def plan(args: argparse.Namespace) -> int:
    # Imported here so that other commands do not pay for pydantic and the exposure model.
    from pumpctl.config import load_config  # noqa: PLC0415
    from pumpctl.core.clock import SystemClock  # noqa: PLC0415
    from pumpctl.core.gate import resolve_threshold  # noqa: PLC0415
    from pumpctl.core.preview import preview  # noqa: PLC0415

    config = load_config(args.config)
    p = config.prescription
    now = SystemClock().now()
    start = max(now, p.anchor)
    rows = preview(p, config.limits, start, args.hours)
    threshold = resolve_threshold(config.limits)
    denied = sum(not row.decision.allowed for row in rows)
    if args.json:
        from pumpctl.cli.args import print_json  # noqa: PLC0415

        slots: list[dict[str, Any]] = [
            {
                "slot_id": row.slot.slot_id,
                "scheduled_utc": row.slot.scheduled,
                "scheduled_local": row.slot.scheduled.astimezone(p.zone),
                "dose_ug": row.slot.dose_ug,
                "volume_ul": row.slot.volume_ul,
                "rate_ul_per_min": row.slot.rate_ul_per_min,
                "pre_pulse_level_fraction": row.decision.predicted_level_fraction,
                "allowed": row.decision.allowed,
                "reasons": [str(reason) for reason in row.decision.reasons],
            }
            for row in rows
        ]
        print_json(
            {
                "start_utc": start,
                "hours": args.hours,
                "timezone": p.timezone,
                "exposure_threshold_fraction": threshold,
                "slots": slots,
                "allowed": len(rows) - denied,
                "denied": denied,
            }
        )
        return EXIT_OK if denied == 0 else EXIT_FAILURE
    print(f"plan for {args.hours:g} h from {start:%Y-%m-%d %H:%M} UTC ({p.timezone})")
    print(
        f"dose {p.dose_ug} ug = {p.volume_ul} uL at {p.rate_ul_per_min} uL/min; "
        f"exposure threshold {threshold:.2f} of a pulse's peak"
    )
    header = (
        f"{'slot (UTC)':<17} {'local':<17} {'dose ug':>7} {'vol uL':>7} {'uL/min':>8}"
        f" {'pre-pulse':>9}  verdict"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        slot, decision = row.slot, row.decision
        level = decision.predicted_level_fraction or 0.0
        verdict = "allowed" if decision.allowed else "DENIED " + ",".join(decision.reasons)
        local = slot.scheduled.astimezone(p.zone)
        print(
            f"{slot.scheduled:%Y-%m-%d %H:%M}  {local:%Y-%m-%d %H:%M}"
            f" {slot.dose_ug:>7} {slot.volume_ul:>7} {slot.rate_ul_per_min:>8}"
            f" {level:>9.2f}  {verdict}"
        )
    print(f"{len(rows)} slots, {len(rows) - denied} allowed, {denied} denied")
    return EXIT_OK if denied == 0 else EXIT_FAILURE


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "plan",
        help="show the coming slots with doses and the gate's verdicts",
        description=(
            "Show the slots the prescription produces, each judged by the safety gate as if "
            "every earlier allowed slot were delivered. Exit 1 if any slot would be denied."
        ),
        examples=[
            "pumpctl plan -c /etc/pumpctl/pumpctl.toml",
            "pumpctl plan -c config/demo.toml --hours 48 --json | jq '.slots[].scheduled_utc'",
        ],
    )
    config_option(parser, required=True, help="configuration file")
    parser.add_argument(
        "--hours", type=positive_float, default=24.0, help="how far ahead (default 24)"
    )
    json_option(parser, "the slots")
    parser.set_defaults(func=plan)
