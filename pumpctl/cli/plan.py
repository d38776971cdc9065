"""``pumpctl plan -c FILE [--hours N]``: the coming slots and the gate's verdict on each.

The slots are the daemon's: when the configured journal exists, its anchor and its pulse
history are read (read-only), exactly as a daemon starting now would read them.
"""

from __future__ import annotations

import argparse
from typing import Any

from pumpctl.cli.args import Subparsers, add_command, config_option, json_option, positive_float
from pumpctl.errors import EXIT_FAILURE, EXIT_OK

#: A plan looks at most a year ahead (a leap year's hours).
MAX_HOURS = 366 * 24


def hours_ahead(text: str) -> float:
    """How far ahead to plan: a number of hours > 0 and at most a year."""
    hours = positive_float(text)
    if not hours <= MAX_HOURS:
        raise argparse.ArgumentTypeError(f"{text!r} is more than a year ({MAX_HOURS} h)")
    return hours


def plan(args: argparse.Namespace) -> int:
    # Imported here so that other commands do not pay for pydantic and the exposure model.
    from pumpctl.cadence import read_journal, resolve  # noqa: PLC0415
    from pumpctl.config import load_config  # noqa: PLC0415
    from pumpctl.core.clock import SystemClock, VirtualClock  # noqa: PLC0415
    from pumpctl.core.gate import describe, resolve_threshold  # noqa: PLC0415
    from pumpctl.core.preview import preview  # noqa: PLC0415
    from pumpctl.core.timefmt import local_text  # noqa: PLC0415

    config = load_config(args.config)
    system = SystemClock()
    view = read_journal(config.journal.path, system)
    cadence = resolve(config, view.prescription if view else None)
    p = cadence.prescription
    now = system.now()
    start = max(now, p.anchor)
    # The look-ahead continues this boot's elapsed clock, so journaled pulses weigh as they will.
    clock = VirtualClock(now, elapsed_s=system.elapsed_s(), boot_id=system.boot_id)
    rows = preview(
        p,
        config.limits,
        start,
        args.hours,
        view.history if view else (),
        clock=clock,
        boot_last_elapsed_s=view.boot_last_elapsed_s if view else None,
    )
    threshold = resolve_threshold(config.limits)
    denied = sum(not row.decision.allowed for row in rows)
    journal_differs = (
        view is not None
        and view.prescription is not None
        and not cadence.from_journal
        and view.prescription.get("anchor") != p.anchor.isoformat()
    )
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
                # When the daemon will start it: later than scheduled when it must wait in its
                # window for the last pulse's interval to end.
                "starts_utc": row.starts,
                "reasons": [str(reason) for reason in row.decision.reasons],
            }
            for row in rows
        ]
        print_json(
            {
                "start_utc": start,
                "hours": args.hours,
                "timezone": p.timezone,
                "anchor_utc": p.anchor,
                "anchor_from_journal": cadence.from_journal,
                "journal": str(config.journal.path),
                "journal_pulses_weighed": None if view is None else len(view.history),
                "journal_prescription_differs": journal_differs,
                "exposure_threshold_fraction": threshold,
                "slots": slots,
                "allowed": len(rows) - denied,
                "denied": denied,
            }
        )
        return EXIT_OK if denied == 0 else EXIT_FAILURE
    print(f"plan for {args.hours:g} h from {local_text(start, p.zone)} ({p.timezone})")
    print(cadence.describe())
    if view is None:
        print(f"journal {config.journal.path}: none yet (no pulse history)")
    else:
        print(
            f"journal {config.journal.path}: {len(view.history)} pulse(s) of the last 26 h "
            "weighed, as the daemon's gate will"
        )
        if journal_differs:
            print(
                "note: the journal records a different prescription or anchor; a running daemon "
                "follows it until restarted or reloaded, then these slots"
            )
    print(
        f"dose {p.dose_ug} ug = {p.volume_ul} uL at {p.rate_ul_per_min} uL/min; "
        f"exposure threshold {threshold:.2f} of a pulse's peak"
    )
    local_head = f"local ({p.timezone})"
    header = (
        f"{'slot (UTC)':<17} {local_head:<23} {'dose ug':>7} {'vol uL':>7} {'uL/min':>8}"
        f" {'pre-pulse':>9}  verdict"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        slot, decision = row.slot, row.decision
        level = decision.predicted_level_fraction or 0.0
        verdict = "allowed" if decision.allowed else "DENIED " + ",".join(decision.reasons)
        if row.waits:
            verdict += (
                f", starts {describe(row.waits)} after its slot (the last interval ends then)"
            )
        print(
            f"{slot.scheduled:%Y-%m-%d %H:%M}  {local_text(slot.scheduled, p.zone):<23}"
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
            "every earlier allowed slot were delivered. When the configured journal exists, its "
            "anchor and pulse history are used, as the daemon uses them. Local times are in the "
            "prescription's time zone with their UTC offset. Exit 1 if any slot would be denied."
        ),
        examples=[
            "pumpctl plan -c /etc/pumpctl/pumpctl.toml",
            "pumpctl plan -c config/demo.toml --hours 48 --json | jq '.slots[].scheduled_utc'",
        ],
    )
    config_option(parser, required=True, help="configuration file")
    parser.add_argument(
        "--hours",
        type=hours_ahead,
        default=24.0,
        help=f"how far ahead (default 24, at most {MAX_HOURS})",
    )
    json_option(parser, "the slots")
    parser.set_defaults(func=plan)
