"""``pumpctl plan -c FILE [--hours N]``: the coming slots and the gate's verdict on each."""

from __future__ import annotations

import argparse
from pathlib import Path

from pumpctl.config import load_config
from pumpctl.core.clock import SystemClock
from pumpctl.core.gate import resolve_threshold
from pumpctl.core.preview import preview
from pumpctl.errors import EXIT_FAILURE, EXIT_OK


def plan(args: argparse.Namespace) -> int:
    config = load_config(Path(args.config))
    p = config.prescription
    now = SystemClock().now()
    start = max(now, p.anchor)
    rows = preview(p, config.limits, start, args.hours)
    threshold = resolve_threshold(config.limits)
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
    denied = 0
    for row in rows:
        slot, decision = row.slot, row.decision
        level = decision.predicted_level_fraction or 0.0
        verdict = "allowed" if decision.allowed else "DENIED " + ",".join(decision.reasons)
        denied += not decision.allowed
        local = slot.scheduled.astimezone(p.zone)
        print(
            f"{slot.scheduled:%Y-%m-%d %H:%M}  {local:%Y-%m-%d %H:%M}"
            f" {slot.dose_ug:>7} {slot.volume_ul:>7} {slot.rate_ul_per_min:>8}"
            f" {level:>9.2f}  {verdict}"
        )
    print(f"{len(rows)} slots, {len(rows) - denied} allowed, {denied} denied")
    return EXIT_OK if denied == 0 else EXIT_FAILURE


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show the coming slots with doses and the gate's verdicts",
        description=(
            "Show the slots the prescription produces, each judged by the safety gate as if "
            "every earlier allowed slot were delivered. Exit 1 if any slot would be denied."
        ),
    )
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="configuration")
    parser.add_argument("--hours", type=float, default=24.0, help="how far ahead (default 24)")
    parser.set_defaults(func=plan)
