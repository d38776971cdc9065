"""The Protocol 11 start-up self-test (SR-13): every check the daemon needs before therapy.

It talks to the pump only through the callables the driver hands in, so it follows the same
link rules. There is no watchdog to arm and no power-failure mode to check on this family; the
report says so (``safe_mode_timeout_s=0``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import structlog

from pumpctl.drivers.base import (
    Capabilities,
    PumpAlarm,
    PumpState,
    PumpStatus,
    SelfTestReport,
)
from pumpctl.drivers.harvard11_codec import Reply
from pumpctl.drivers.harvard11_units import (
    SIGNIFICANT_DIGITS,
    diameter_text,
    parse_diameter,
    parse_limits,
    parse_volume,
)
from pumpctl.errors import PumpAlarmError, PumpStateError

log = structlog.get_logger()

#: Firmware identities of the supported family (``ver``): Pump 11 Elite and PHD Ultra.
IDENTITY_RE = re.compile(r"(?P<model>11 ELITE|PHD ULTRA)\b.*?(?P<version>[0-9]+(\.[0-9]+)+)")
#: The smallest volume step the driver sends: six significant digits of a sub-microlitre value
#: would be finer, but 1 nL is far below any bolus and keeps the check simple.
VOLUME_RESOLUTION_UL = Decimal("0.001")

Command = Callable[[str], Reply]


def run_self_test(
    *,
    query: Command,
    setup: Command,
    status: Callable[[], PumpStatus],
    halt: Callable[[], Reply],
    syringe_diameter_mm: Decimal,
) -> tuple[SelfTestReport, Capabilities]:
    """Run every check; raise ``PumpStateError``/``PumpAlarmError`` naming the first that fails."""
    checks: list[str] = []
    dia_text = diameter_text(syringe_diameter_mm)

    firmware = query("ver").lines[0]
    identity = IDENTITY_RE.search(firmware)
    if identity is None:
        raise PumpStateError(
            f"pump identity {firmware!r} is not Protocol 11 firmware "
            "(expected '11 ELITE ...' or 'PHD ULTRA ...' with a version)"
        )
    checks.append(f"identity {firmware}")

    first = status()
    if first.moving:
        halt()  # SR-06: a pump moving before therapy is stopped at once
        raise PumpStateError(
            f"pump was {first.state.value} at self-test; it must be stopped (it has been "
            "stopped now)"
        )
    # What the pump showed at connect (a missing target, a stall) is evidence, handed over.
    alarms_before = first.alarms
    if PumpAlarm.STALL in alarms_before:
        halt()  # a stall shows until stop: clear the indication before checking the rest
    checks.append("stopped")

    setup(f"diameter {dia_text}")
    read_back = parse_diameter(query("diameter").lines[0])
    if read_back != syringe_diameter_mm:
        raise PumpStateError(
            f"syringe diameter read back as {read_back} mm; set {syringe_diameter_mm} mm"
        )
    checks.append(f"diameter {read_back} mm read back")

    low, high = parse_limits(query("irate lim").lines[0])
    checks.append(f"rate limits {low}..{high} uL/min")
    syringe_ul, _ = parse_volume(query("svolume").lines[0], what="svolume")
    checks.append(f"syringe volume {syringe_ul} uL")

    final = status()
    if final.alarm is not None:
        raise PumpAlarmError(
            final.alarm,
            f"alarm {final.alarm} during self-test; clear its cause first",
            command="self-test",
            executed=False,
        )
    if final.state is not PumpState.STOPPED:
        raise PumpStateError(f"pump was {final.state.value} at the end of self-test")
    checks.append("alarm-free")
    if alarms_before:
        checks.append("seen at connect: " + ", ".join(a.value for a in alarms_before))

    capabilities = Capabilities(
        syringe_diameter_mm=syringe_diameter_mm,
        min_rate_ul_per_min=low,
        max_rate_ul_per_min=high,
        # The pump refuses a target beyond its syringe volume; six digits bound the text.
        max_volume_ul=min(syringe_ul, Decimal(10) ** SIGNIFICANT_DIGITS - 1),
        volume_resolution_ul=VOLUME_RESOLUTION_UL,
    )
    report = SelfTestReport(
        firmware=firmware,
        model=identity["model"],
        syringe_diameter_mm=read_back,
        safe_mode_timeout_s=0,  # no communications watchdog on this family
        power_failure_restart=False,
        state=final.state,
        checks=tuple(checks),
        alarms_at_connect=alarms_before,
    )
    log.info("pump.self_test_passed", checks=checks)
    return report, capabilities
