"""The catalogue of alarm kinds: priority, whether it tracks an ongoing condition, and guidance.

Priorities follow IEC 60601-1-8 in spirit (high: act now; medium: act soon; low: be aware).
The guidance texts are what ``pumpctl alarms`` and docs/operating.md show the operator.
"""

from __future__ import annotations

from dataclasses import dataclass

from pumpctl.core.alarm_kinds import AlarmKind, Priority

__all__ = ["CATALOGUE", "AlarmKind", "AlarmSpec", "Priority"]


@dataclass(frozen=True)
class AlarmSpec:
    """What an alarm kind means and what the operator should do about it.

    ``condition`` is true for alarms that track an ongoing state (reservoir low, link down): the
    daemon clears the cause when the state ends. Event alarms (a stall, a missed pulse) have no
    lasting cause; they stay until acknowledged.
    """

    kind: AlarmKind
    priority: Priority
    condition: bool
    meaning: str
    action: str


def _spec(
    kind: AlarmKind, priority: Priority, meaning: str, action: str, *, condition: bool = False
) -> AlarmSpec:
    return AlarmSpec(kind, priority, condition, meaning, action)


_K = AlarmKind
_P = Priority

CATALOGUE: dict[AlarmKind, AlarmSpec] = {
    spec.kind: spec
    for spec in (
        _spec(
            _K.PUMP_ALARM_RESET,
            _P.HIGH,
            "The pump reported a reset (power interruption); its state and any running pulse "
            "are unknown.",
            "Check the pump's power and the line; confirm the syringe and settings, then "
            "acknowledge. A pulse it interrupted after RUN stays uncertain (see uncertain-pulse).",
        ),
        _spec(
            _K.PUMP_ALARM_STALL,
            _P.HIGH,
            "The pump stalled: occlusion, a closed clamp, a kinked line or an empty syringe.",
            "Inspect the line and the syringe, clear the occlusion, then acknowledge. The "
            "undelivered remainder is not given later.",
        ),
        _spec(
            _K.PUMP_ALARM_TIMEOUT,
            _P.HIGH,
            "The pump's safe-mode watchdog expired: it lost contact with the daemon and stopped "
            "itself.",
            "Check the serial cable and the daemon's log (journalctl -u pumpctl), then "
            "acknowledge.",
        ),
        _spec(
            _K.PUMP_ALARM_PROGRAM,
            _P.HIGH,
            "The pump reported an error in its pumping program (a program error, or a program "
            "phase out of range): what it holds is not the bolus pumpctl programmed.",
            "Stop and inspect the pump, check its programme and settings against the "
            "prescription, then acknowledge.",
        ),
        _spec(
            _K.PUMP_ALARM_UNKNOWN,
            _P.HIGH,
            "The pump reported an alarm its driver cannot name; its state, and whether its "
            "dispensed totals still hold, are unknown.",
            "Inspect the pump and its display, note the alarm shown there, confirm the syringe "
            "against the journal, then acknowledge. A pulse it interrupted after RUN stays "
            "uncertain (see uncertain-pulse).",
        ),
        _spec(
            _K.UNINTENDED_FLOW,
            _P.HIGH,
            "The pump was seen infusing when no pulse was commanded, or after a pulse should have "
            "ended; it was stopped at once and delivery is suspended.",
            "Clamp the line and inspect the pump and its programme. Acknowledging ends the "
            "suspension, so acknowledge only once it is safe to go on.",
        ),
        _spec(
            _K.OVER_DELIVERY,
            _P.HIGH,
            "A pulse delivered more than commanded (the pump ran past its volume); it was "
            "stopped at once, its measured volume is recorded as OVER_DELIVERED and counts for "
            "every limit, and delivery is suspended.",
            "Clamp the line, inform the clinician of the measured volume, and have the pump "
            "checked (runaway motor, wrong syringe). Acknowledging ends the suspension, so "
            "acknowledge only once it is safe to go on.",
        ),
        _spec(
            _K.UNEXPLAINED_FLOW,
            _P.HIGH,
            "The pump's dispensed totals show volume no pulse commanded (it started on its own, "
            "or someone ran it outside pumpctl), or they were cleared outside pumpctl; the "
            "volume is journaled, counts for exposure and the 24 h limits, and delivery is "
            "suspended.",
            "Clamp the line, inform the clinician of the volume, and find out who or what "
            "moved the pump (keypad, another program on the serial port). Acknowledging ends "
            "the suspension, so acknowledge only once it is safe to go on.",
        ),
        _spec(
            _K.SETTINGS_MISMATCH,
            _P.HIGH,
            "Read back before RUN, the pump's syringe diameter, direction, volume or rate (or "
            "their units) differed from the configuration; the pulse was not started and "
            "delivery is suspended.",
            "Someone changed the pump (keypad or serial line) or a different syringe is "
            "fitted: check the syringe against pump.syringe_diameter_mm and the pump's display. "
            "Acknowledging ends the suspension; the pump is then set from the configuration "
            "again and self-tested before the next pulse.",
        ),
        _spec(
            _K.PULSE_UNSENDABLE,
            _P.HIGH,
            "The pump cannot be told this pulse exactly (a volume or rate with more digits than "
            "it takes, or outside its range for the syringe); no pulse was started.",
            "Run pumpctl config check on the configuration, change the dose, concentration or "
            "pulse duration to one it accepts, reload, then acknowledge.",
        ),
        _spec(
            _K.OVERSHOOT_UNBOUNDED,
            _P.HIGH,
            "The link to the pump is too slow, as measured now, to stop a runaway of this "
            "pulse within its bound (5 % or 0.5 uL); no pulse was started.",
            "Check the serial line (baud rate, adapter) and the host's load; a longer pulse "
            "duration lowers the rate. Acknowledge once the cause is fixed.",
        ),
        _spec(
            _K.PUMP_CONFIG_CHANGED,
            _P.HIGH,
            "A configuration reload changed the [pump] section (syringe, port, driver ...); "
            "pump settings are never changed on a running daemon, so the reload was refused "
            "and pulses are held until the daemon restarts or the file is put back.",
            "Restart the daemon (systemctl restart pumpctl) to apply the new [pump] settings "
            "with a new self-test, or restore the previous [pump] section and reload.",
            condition=True,
        ),
        _spec(
            _K.PARTIAL_DELIVERY,
            _P.MEDIUM,
            "A pulse delivered less than 90 % of its volume; the remainder is never re-delivered.",
            "Inspect the line for occlusion or air and acknowledge; the next pulse comes on "
            "schedule.",
        ),
        _spec(
            _K.MISSED_PULSE,
            _P.MEDIUM,
            "A pulse was not confirmed in time after its slot (limits.missed_alarm_min, 15 min "
            "by default); it is never delivered late. Two missed in a row raise it to high "
            "priority.",
            "Find out why (pump, link, reservoir, suspension; see pumpctl status) and acknowledge.",
        ),
        _spec(
            _K.RESERVOIR_LOW,
            _P.LOW,
            "The syringe holds fewer pulses than the configured warning level "
            "(limits.reservoir_low_pulses).",
            "Prepare a new syringe; after refilling, record it with pumpctl reservoir fill.",
            condition=True,
        ),
        _spec(
            _K.RESERVOIR_EMPTY,
            _P.HIGH,
            "The syringe cannot cover the next pulse; pulses are denied.",
            "Replace the syringe and record the fill with pumpctl reservoir fill, then "
            "acknowledge.",
            condition=True,
        ),
        _spec(
            _K.LINK_FAULT,
            _P.MEDIUM,
            "The serial link to the pump fails (timeouts, garbled frames, unplugged cable).",
            "Check the cable and the device name (/dev/pump-ne1000); the alarm's cause clears "
            "when the pump answers again.",
            condition=True,
        ),
        _spec(
            _K.UNCERTAIN_PULSE,
            _P.HIGH,
            "Whether a pulse was delivered is unknown (the link or the daemon failed "
            "mid-pulse); no further pulse is given until it is resolved.",
            "Leave the pump connected so the daemon can read its totals; if it cannot, compare "
            "the syringe with the journal and acknowledge with your finding: the pulse is then "
            "recorded as delivered, counting in full for every limit.",
            condition=True,
        ),
        _spec(
            _K.CLOCK_SUSPECT,
            _P.MEDIUM,
            "The wall clock jumped or disagrees with the elapsed-time clock; pulses are denied "
            "while in doubt.",
            "Check time synchronisation (timedatectl); the cause clears once the clock is "
            "consistent again.",
            condition=True,
        ),
        _spec(
            _K.JOURNAL_UNAVAILABLE,
            _P.HIGH,
            "The journal cannot be written; no pulse is delivered without a durable record.",
            "Check the disk (space, permissions, errors) under the state directory, then "
            "acknowledge.",
            condition=True,
        ),
        _spec(
            _K.CONFIG_RELOAD_REJECTED,
            _P.LOW,
            "A configuration reload (SIGHUP) was rejected as invalid; the previous configuration "
            "stays in force.",
            "Run pumpctl config check on the file, fix it, and reload again.",
        ),
        _spec(
            _K.PUMP_DEVICE_SHARED,
            _P.MEDIUM,
            "The pump's serial device can be opened by other users than the daemon's (group or "
            "world access, or another owner): anyone of them can send the pump a command, a new "
            "syringe diameter or a RUN, behind the daemon's back (SR-31). Pulses go on: the "
            "settings are read back before every RUN and the totals are watched between pulses.",
            'Install systemd/99-pumpctl.rules (OWNER="pumpctl", MODE="0600") and replug or '
            "udevadm trigger; operators belong in group pumpctl-operators, never in the device's "
            "group. The alarm clears when the daemon next connects to a device only it can open.",
            condition=True,
        ),
        _spec(
            _K.NOTIFY_FAILED,
            _P.MEDIUM,
            "An alarm notification ([notify]) could not be sent after every retry, or was "
            "dropped: nobody may have been told about an alarm.",
            "Check pumpctl alarms and the journal (pumpctl log show --kind notify.attempt), "
            "fix the command (pumpctl notify test -c FILE), then acknowledge; the cause clears "
            "when a notification is sent again.",
            condition=True,
        ),
    )
}
