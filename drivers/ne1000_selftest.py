"""The NE-1000 start-up self-test (SR-13, SR-14): every check the daemon needs before therapy.

Kept apart from the driver so the list of checks reads in one place. It talks to the pump only
through the three callables the driver hands in, so it follows the same link rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import structlog

from pumpctl.drivers.base import Capabilities, PumpState, SelfTestReport
from pumpctl.drivers.ne1000_codec import Reply
from pumpctl.drivers.ne1000_link import Ne1000Link, alarm_error, alarm_name, pump_alarm
from pumpctl.drivers.ne1000_units import (
    format_number,
    parse_number,
    rate_limits_ul_per_min,
    vocabulary,
)
from pumpctl.errors import PumpStateError, UnsendableError

log = structlog.get_logger()

#: Firmware identities of the supported family: model, then ``V`` and the version.
IDENTITY_RE = re.compile(r"(?P<model>NE1000|NE500|NE300)[A-Z]*V(?P<version>[0-9][0-9.]*)")
STATES = {
    "I": PumpState.INFUSING,
    "W": PumpState.WITHDRAWING,
    "S": PumpState.STOPPED,
    "P": PumpState.PAUSED,
    "T": PumpState.TIMED_PAUSE,
    "U": PumpState.WAITING_TRIGGER,
    "X": PumpState.PURGING,
}

Command = Callable[[str], Reply]


def run_self_test(
    link: Ne1000Link,
    *,
    query: Command,
    setup: Command,
    halt: Callable[[], Reply],
    syringe_diameter_mm: Decimal,
    safe_mode_timeout_s: int,
) -> tuple[SelfTestReport, Capabilities]:
    """Run every check; raise ``PumpStateError``/``PumpAlarmError`` naming the first that fails.

    Alarms seen before the test are evidence for reconciliation: left for ``status()`` if the
    test fails, handed over in the report if it passes.
    """
    known_before = len(link.alarms_seen)
    checks: list[str] = []
    words = vocabulary(syringe_diameter_mm)
    why = words.syringe_diameter_mm.problem(syringe_diameter_mm)
    if why is not None:
        raise UnsendableError(f"syringe_diameter_mm={syringe_diameter_mm} {why}")
    dia_text = format_number(syringe_diameter_mm, field="syringe_diameter_mm")

    firmware = query("VER").data
    identity = IDENTITY_RE.fullmatch(firmware)
    if identity is None:
        raise PumpStateError(
            f"pump identity {firmware!r} is not NE-1000 family firmware "
            "(expected NE1000, NE500 or NE300 followed by V<version>)"
        )
    checks.append(f"identity {firmware}")

    state = STATES[query("").status]
    if state is not PumpState.STOPPED:
        halt()  # SR-06: a pump moving before therapy is stopped at once
        raise PumpStateError(
            f"pump was {state.value} at self-test; it must be stopped (it has been stopped now)"
        )
    checks.append("stopped")

    setup(f"DIA{dia_text}")
    read_back = parse_number(query("DIA").data, what="DIA")
    if read_back != syringe_diameter_mm:
        raise PumpStateError(
            f"syringe diameter read back as {read_back} mm; set {syringe_diameter_mm} mm"
        )
    checks.append(f"diameter {read_back} mm read back")

    setup("PF0")
    pf = query("PF").data
    if pf != "0":
        raise PumpStateError(f"power-failure mode reads PF{pf}; PF0 is required")
    checks.append("PF0")

    saf = query("SAF").data
    if saf != str(safe_mode_timeout_s):
        raise PumpStateError(
            f"safe-mode watchdog reads SAF{saf}; SAF{safe_mode_timeout_s} is required"
        )
    checks.append(f"safe-mode watchdog {saf} s")

    final_state = STATES[query("").status]
    during = link.alarms_seen[known_before:]
    if during:
        code = during[-1]
        raise alarm_error(
            code,
            f"alarm {code} ({alarm_name(code)}) during self-test; clear its cause first",
            command="self-test",
            executed=False,
        )
    if final_state is not PumpState.STOPPED:
        raise PumpStateError(f"pump was {final_state.value} at the end of self-test")
    checks.append("alarm-free")

    alarms_before = link.take_alarms()
    if alarms_before:
        checks.append("acknowledged at connect: " + ", ".join(alarms_before))
    low, high = rate_limits_ul_per_min(syringe_diameter_mm)
    capabilities = Capabilities(
        syringe_diameter_mm=syringe_diameter_mm,
        min_rate_ul_per_min=low,
        max_rate_ul_per_min=high,
        max_volume_ul=words.volume_ul.maximum,
        volume_resolution_ul=words.volume_ul.minimum,
    )
    report = SelfTestReport(
        firmware=firmware,
        model=identity["model"],
        syringe_diameter_mm=read_back,
        safe_mode_timeout_s=safe_mode_timeout_s,
        power_failure_restart=False,
        state=final_state,
        checks=tuple(checks),
        alarms_at_connect=tuple(pump_alarm(code) for code in alarms_before),
    )
    log.info("pump.self_test_passed", checks=checks)
    return report, capabilities
