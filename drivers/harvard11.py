"""The Harvard Apparatus Protocol 11 driver (Pump 11 Elite, PHD Ultra): ``PumpDriver`` on the wire.

What this family lacks, and how the driver makes up for it:

* **No pump-side watchdog** (there is no NE-1000 safe mode): if pumpctl dies mid-bolus the pump
  runs on. Every bolus is therefore bounded by the pump itself: the target volume (``tvolume``)
  is set and read back before ``irun``, against an infused counter read back as zero, so the
  pump stops at the volume whatever happens to the host (SR-01). An open-ended run is never
  started: ``run`` refuses unless that target was confirmed since the last run.
* **No power-reset alarm**: a power loss clears the pump's counters and target without a word on
  the wire. The driver reports ``PumpAlarm.POWER_RESET`` when the infused counter falls below
  what it last read without a clear, or when the target it confirmed for the bolus is gone. A
  power loss while pumpctl was not connected cannot be seen (``alarms_at_connect`` is empty).
* **No alarm acknowledgement**: a stall shows as the ``*`` prompt and the ``S`` status flag
  until ``stop`` or the next run; the driver reports it once as ``PumpAlarm.STALL``.

Exchanges and link-fault rules live in :mod:`.harvard11_link`, numbers in
:mod:`.harvard11_units`, the self-test in :mod:`.harvard11_selftest`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from pumpctl.drivers.base import (
    Capabilities,
    Direction,
    DispensedTotals,
    Progress,
    PumpAlarm,
    PumpSettings,
    PumpState,
    PumpStatus,
    PumpVocabulary,
    SelfTestReport,
    SimulatorInfo,
    Stated,
)
from pumpctl.drivers.harvard11_codec import Reply
from pumpctl.drivers.harvard11_link import Harvard11Link, Kind
from pumpctl.drivers.harvard11_selftest import run_self_test
from pumpctl.drivers.harvard11_units import (
    exact_text,
    parse_diameter,
    parse_rate,
    parse_volume,
    step,
    vocabulary,
)
from pumpctl.drivers.transport import Transport, open_serial_transport
from pumpctl.errors import (
    ConfigError,
    ProtocolError,
    PumpAlarmError,
    PumpctlError,
    PumpStateError,
    SettingsMismatchError,
    TransportTimeoutError,
)

log = structlog.get_logger()

#: Baud rates the pumps offer (Pump 11 Elite and PHD Ultra manuals).
BAUD_RATES = (9600, 19200, 38400, 57600, 115200)
STATES = {">": PumpState.INFUSING, "<": PumpState.WITHDRAWING}
_SIMULATOR_RE = re.compile(r"PUMPSIM SCALE=(?P<scale>[0-9.eE+-]+) NOW=(?P<now>[0-9]+(\.[0-9]+)?)")
_STATUS_RE = re.compile(r"(?P<rate>[0-9]+) (?P<time>[0-9]+) (?P<volume>[0-9]+) (?P<flags>\S{6})")
_STOP_ATTEMPTS = 3
#: How the pump answers a command it does not know (the simulator handshake on a real pump).
_UNKNOWN = ("Unknown command", "Command error")
_FL_PER_UL = Decimal(10) ** 9


class Harvard11Driver:
    """A Protocol 11 pump at ``address`` on the link ``url`` (pyserial URL).

    ``safe_mode_timeout_s`` is accepted for a uniform constructor and only reported: this pump
    family has no communications watchdog.
    """

    #: No communications watchdog on this family: the daemon says so and relies on the target.
    has_watchdog = False

    def __init__(
        self,
        url: str,
        *,
        baud: int = 9600,
        address: int = 0,
        safe_mode_timeout_s: int = 0,
        timeout_s: float = 0.5,
        quiet_s: float = 0.05,
        transport: Transport | None = None,
    ) -> None:
        if not 0 <= address <= 99:
            raise ConfigError(f"address={address} is out of range; allowed 0..99")
        if baud not in BAUD_RATES:
            raise ConfigError(f"baud={baud} is not one of {', '.join(map(str, BAUD_RATES))}")
        if timeout_s <= 0 or quiet_s <= 0:
            raise ConfigError(f"timeout_s={timeout_s} and quiet_s={quiet_s} must be > 0")
        self.url = url
        self.baud = baud
        self.address = address
        self.safe_mode_timeout_s = safe_mode_timeout_s
        self.timeout_s = timeout_s
        self.quiet_s = quiet_s
        self._given_transport = transport
        self._link: Harvard11Link | None = None
        self._capabilities: Capabilities | None = None
        self._alarms: list[PumpAlarm] = []
        # What this connection set and confirmed, to tell its own doing from anything else.
        self._programmed_ul: Decimal | None = None
        self._commanded_ul: Decimal | None = None  # since the last clear_dispensed()
        self._target_ul: Decimal | None = None  # the confirmed tvolume, until a run ends
        self._last_infused_fl: int | None = None
        self._stall_reported = False
        self._motion_expected = False

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> None:
        transport = self._given_transport or open_serial_transport(
            self.url, self.baud, self.timeout_s, self.timeout_s
        )
        link = Harvard11Link(
            transport, address=self.address, timeout_s=self.timeout_s, quiet_s=self.quiet_s
        )
        self._link = link
        self._capabilities = None  # a new connection needs a new self-test (SR-13)
        self._programmed_ul = self._commanded_ul = self._target_ul = None
        self._last_infused_fl = None
        self._stall_reported = False
        self._motion_expected = False
        self._alarms = []
        try:
            transport.reset_input_buffer()
            try:
                link.transact("", Kind.QUERY)
            except TransportTimeoutError as err:
                raise TransportTimeoutError(
                    f"no pump answers at address {self.address} on {self.url} at {self.baud} "
                    f"baud ({err}); check the cable, the baud rate and the pump's address"
                ) from err
            # Echoed input would be taken for replies; pumps without the setting say so, harmless.
            link.transact("echo off", Kind.SETUP)
            self._check_target_at_connect()
        except BaseException:
            self.close()
            raise
        log.info("pump.connected", url=self.url, address=self.address, family="harvard11")

    def _check_target_at_connect(self) -> None:
        """No target at connect: the pump may have lost power since pumpctl last programmed it.

        pumpctl never clears a target it set, and a power loss does; so a missing target is the
        only trace a power loss leaves, and zero totals must not be trusted after it (SR-09).
        A pump never programmed (first start) says the same; that only matters with a pulse
        pending, where doubt is the safe reading.
        """
        reply = self._transact("tvolume", Kind.QUERY, lines=1)
        if reply.lines and reply.lines[0].startswith("Target volume not set"):
            self._alarm(PumpAlarm.POWER_RESET, "no target volume at connect")

    def close(self) -> None:
        # No watchdog: a pump left running stops at its target volume, which run() guarantees.
        link, self._link = self._link, None
        if link is not None and self._given_transport is None:
            link.transport.close()

    def __enter__(self) -> Harvard11Driver:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- self-test ----------------------------------------------------------------------------

    def self_test(self, *, syringe_diameter_mm: Decimal) -> SelfTestReport:
        """SR-13: identity, diameter read back, rate limits, stopped, no stall."""
        report, self._capabilities = run_self_test(
            query=self._query,
            setup=self._setup,
            status=self.status,
            halt=self._halt,
            syringe_diameter_mm=syringe_diameter_mm,
        )
        return report

    @classmethod
    def vocabulary(cls, syringe_diameter_mm: Decimal) -> PumpVocabulary:
        """What this pump family can be told exactly with that syringe (no pump needed)."""
        return vocabulary(syringe_diameter_mm)

    @property
    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            raise PumpStateError("capabilities are unknown until self_test has set the syringe")
        return self._capabilities

    # -- delivery -----------------------------------------------------------------------------

    def status(self) -> PumpStatus:
        reply = self._transact("status", Kind.QUERY, lines=1)
        if self._target_ul is not None:
            self._check_target()
        return self._status_from(reply)

    def _check_target(self) -> None:
        """A confirmed target that is gone means the pump lost power (nothing else clears it)."""
        text = self._transact("tvolume", Kind.QUERY, lines=1).lines
        if text and text[0].startswith("Target volume not set"):
            self._target_ul = None
            self._alarm(PumpAlarm.POWER_RESET, "the confirmed target volume is gone")

    def heartbeat(self) -> PumpStatus:
        # Nothing on the pump listens for it; the poll still shows stalls and power losses.
        return self.status()

    def program_bolus(self, volume_ul: Decimal, rate_ul_per_min: Decimal) -> None:
        """Set irate and tvolume, read them and the diameter back, with the infused counter at 0.

        Invariant (SR-01): the pump holds a confirmed finite target before ``run`` may start it.
        """
        if not volume_ul.is_finite() or volume_ul <= 0:
            raise ConfigError(f"volume_ul={volume_ul} refused: a bolus needs a volume > 0 (SR-01)")
        caps = self.capabilities
        if volume_ul > caps.max_volume_ul:
            raise ConfigError(f"volume_ul={volume_ul} exceeds the pump's {caps.max_volume_ul} uL")
        if not caps.min_rate_ul_per_min <= rate_ul_per_min <= caps.max_rate_ul_per_min:
            raise ConfigError(
                f"rate_ul_per_min={rate_ul_per_min} is outside {caps.min_rate_ul_per_min}.."
                f"{caps.max_rate_ul_per_min} for a {caps.syringe_diameter_mm} mm syringe"
            )
        volume_text = exact_text(volume_ul, field="volume_ul")
        rate_text = exact_text(rate_ul_per_min, field="rate_ul_per_min")
        if self._alarms:
            alarm = self._alarms[-1]
            raise PumpAlarmError(
                alarm,
                f"alarm {alarm} not yet reported by status(); bolus not programmed",
                command="program_bolus",
                executed=False,
            )
        self._programmed_ul = self._target_ul = None  # until every setting is confirmed
        status = self.status()
        if status.moving:
            self._halt()
            raise PumpStateError(
                f"pump reported {status.state.value} while being programmed; it was stopped: "
                "unintended flow"
            )
        if status.alarm is not None:
            raise PumpAlarmError(
                status.alarm,
                f"alarm {status.alarm} while programming the bolus; not programmed",
                command="program_bolus",
                executed=False,
            )
        infused, _ = parse_volume(self._query("ivolume").lines[0], what="ivolume")
        if infused != 0:
            # The target counts against this counter: a non-zero one would shorten the bolus
            # (or end it at once), and only a clear the caller asked for may zero it.
            raise PumpStateError(
                f"infused counter reads {infused} uL, not 0: clear_dispensed() before a bolus"
            )
        self._setup(f"irate {rate_text} ul/min")
        self._setup(f"tvolume {volume_text} ul")
        read_rate = self._query("irate").lines[0]
        read_target, _ = parse_volume(self._query("tvolume").lines[0], what="tvolume")
        read_diameter = parse_diameter(self._query("diameter").lines[0])
        if (
            read_rate != f"{rate_text} ul/min"
            or read_target != volume_ul
            or read_diameter != caps.syringe_diameter_mm
        ):
            raise SettingsMismatchError(
                f"read-back differs (SR-27): irate {read_rate!r} for {rate_text} ul/min, "
                f"tvolume {read_target} uL for {volume_ul} uL, diameter {read_diameter} mm for "
                f"{caps.syringe_diameter_mm} mm; bolus not programmed"
            )
        self._programmed_ul = self._target_ul = volume_ul
        log.info("pump.bolus_programmed", volume_ul=volume_text, rate=rate_text)

    def read_settings(self) -> PumpSettings:
        """SR-27: diameter, infusion rate and target volume as the pump now states them, in uL
        and uL/min whatever unit it prints them in (so another unit set behind the daemon's back
        shows as another number). The direction is ``irun``'s own: this family has no stored
        direction to read, and pumpctl only ever sends ``irun``."""
        diameter = parse_diameter(self._query("diameter").lines[0])
        rate = parse_rate(self._query("irate").lines[0], what="irate")
        target_text = self._query("tvolume").lines[0]
        if target_text.startswith("Target volume not set"):
            volume = Stated(Decimal(0), "ul")
        else:
            volume = Stated(parse_volume(target_text, what="tvolume")[0].normalize(), "ul")
        return PumpSettings(
            Stated(diameter.normalize()),
            Direction.INFUSE,
            volume,
            Stated(rate.normalize(), "ul/min"),
        )

    def progress(self) -> Progress:
        """One ``status`` exchange: the state and the infused counter (in fL) belong together.

        While the pump is set to withdraw, ``status`` shows the withdrawn counter instead, so the
        infused total is then read with ``ivolume`` (pumpctl never withdraws).
        """
        reply = self._transact("status", Kind.QUERY, lines=1)
        if self._target_ul is not None:
            self._check_target()
        status = self._status_from(reply)
        infused = self._infused_from(reply)
        if infused is None:
            return Progress(status, self.dispensed())
        totals = DispensedTotals(
            infused_ul=infused,
            withdrawn_ul=None,
            commanded_ul=self._commanded_ul,
            resolution_ul=step(infused),
        )
        return Progress(status, totals)

    @staticmethod
    def _infused_from(reply: Reply) -> Decimal | None:
        """The infused counter of a ``status`` reply (exact, in fL), or None when the pump is
        set to withdraw (the reply then shows the withdrawn counter)."""
        match = _STATUS_RE.fullmatch(reply.lines[0]) if len(reply.lines) == 1 else None
        if match is None or match["flags"][0] not in "iI":
            return None
        return Decimal(int(match["volume"])) / _FL_PER_UL

    def check_armed(self) -> None:
        """Raise unless the bolus confirmed on this connection may still be started.

        Sends nothing: this family says nothing unasked but ``T*``, so what is checked is what
        the driver saw since the programming (an alarm, a stop, a lost target, a new link).
        """
        if self._alarms:
            alarm = self._alarms[-1]
            self._programmed_ul = None
            raise PumpAlarmError(
                alarm,
                f"alarm {alarm} since the bolus was programmed; disarmed",
                command="check_armed",
                executed=False,
            )
        if self._programmed_ul is None:
            raise PumpStateError("no bolus armed on this connection since the last run")

    def disarm(self) -> None:
        """Forget the confirmed bolus: ``run`` refuses until ``program_bolus`` again. Sends
        nothing; the target stays on the pump, which nothing starts without a new programming."""
        if self._programmed_ul is not None:
            log.info("pump.disarmed")
        self._programmed_ul = None

    def run(self) -> PumpStatus:
        """``irun``, sent exactly once, and only for the bolus confirmed (armed) on this
        connection with no alarm, stop or ``disarm`` since."""
        if self._programmed_ul is None:
            raise PumpStateError(
                "run() refused: no confirmed bolus since the last run; call program_bolus() "
                "first (SR-01)"
            )
        if self._alarms:
            alarm = self._alarms[-1]
            raise PumpAlarmError(
                alarm, f"irun not sent: alarm {alarm} unreported", command="irun", executed=False
            )
        try:
            reply = self._transact("irun", Kind.MOTION)
        except (ProtocolError, TransportTimeoutError):
            self._started()  # irun went out and its answer was lost: the bolus may be running
            raise
        if reply.error is not None:
            self._programmed_ul = None
            raise PumpStateError(f"pump refused irun with {reply.error!r}; not started")
        self._started()
        if reply.prompt not in (">", "T*"):
            raise PumpStateError(f"pump answered irun with prompt {reply.prompt!r}: not infusing")
        status = self._status_from_prompt(reply.prompt)
        log.info("pump.run", state=status.state.value)
        return status

    def _started(self) -> None:
        self._motion_expected = True
        if self._commanded_ul is not None and self._programmed_ul is not None:
            self._commanded_ul += self._programmed_ul
        self._programmed_ul = None

    def stop(self) -> PumpStatus:
        """``stop`` until the pump reports stopped (it also clears a stall indication)."""
        self._halt()
        return self.status()

    def _halt(self) -> Reply:
        self._programmed_ul = None  # a stop ends whatever was armed
        failure: PumpctlError = PumpStateError(f"pump not stopped after {_STOP_ATTEMPTS} stop")
        for _ in range(_STOP_ATTEMPTS):
            try:
                reply = self._transact("stop", Kind.STOP)
            except (ProtocolError, TransportTimeoutError) as err:
                failure = err  # stopping is the safe direction: keep trying
                continue
            if reply.prompt not in STATES:
                log.info("pump.stopped")
                return reply
            failure = PumpStateError(f"pump still {reply.prompt!r} after stop")
        log.error("pump.stop_failed", error=str(failure))
        raise failure

    def dispensed(self) -> DispensedTotals:
        """The counters. The infused one comes from ``status`` (exact, in fL) so that it reads
        the same as every progress reading (SR-26 compares them); ``ivolume`` prints it with six
        significant digits and is read only while the pump is set to withdraw. The resolution
        is that six-digit step: the precision the pump's own target has."""
        infused = self._infused_from(self._transact("status", Kind.QUERY, lines=1))
        if infused is None:
            infused, _ = parse_volume(self._query("ivolume").lines[0], what="ivolume")
        withdrawn, _ = parse_volume(self._query("wvolume").lines[0], what="wvolume")
        totals = DispensedTotals(
            infused_ul=infused,
            withdrawn_ul=withdrawn,
            commanded_ul=self._commanded_ul,
            resolution_ul=step(infused),
        )
        if totals.over_delivered:
            log.error(
                "pump.over_delivery", infused_ul=str(infused), commanded_ul=str(self._commanded_ul)
            )
        return totals

    def clear_dispensed(self) -> None:
        self._commanded_ul = None  # unknown until both counters are confirmed cleared
        for command in ("civolume", "cwvolume"):
            self._setup(command)
        self._last_infused_fl = 0
        self._commanded_ul = Decimal(0)

    def simulator_handshake(self) -> SimulatorInfo | None:
        """Ask pumpsim's ``xsim``; a real pump answers it as an unknown command: None."""
        reply = self._transact("xsim", Kind.QUERY, lines=1)
        text = reply.lines[0] if reply.lines else ""
        if text.startswith(_UNKNOWN):
            return None
        match = _SIMULATOR_RE.fullmatch(text)
        if match is None:
            raise ProtocolError(
                f"xsim answered {text!r}; expected 'Unknown command' from a pump or "
                "'PUMPSIM SCALE=<float> NOW=<unix seconds>' from pumpsim"
            )
        scale = float(match["scale"])
        if not scale > 0:
            raise ProtocolError(f"pumpsim reports time scale {scale}; it must be > 0")
        return SimulatorInfo(time_scale=scale, now=datetime.fromtimestamp(float(match["now"]), UTC))

    # -- helpers ------------------------------------------------------------------------------

    def _require_link(self) -> Harvard11Link:
        if self._link is None:
            raise PumpStateError(f"pump at {self.url} is not connected; call connect() first")
        return self._link

    def _transact(self, command: str, kind: Kind, *, lines: int = 0) -> Reply:
        link = self._require_link()
        reply = link.transact(command, kind, lines=lines)
        if link.take_unprompted():
            self._note_target_reached()
        return reply

    def _query(self, command: str) -> Reply:
        reply = self._transact(command, Kind.QUERY, lines=1)
        if reply.error is not None or not reply.lines:
            raise PumpStateError(f"pump answered {command!r} with {list(reply.lines)!r}")
        return reply

    def _setup(self, command: str) -> Reply:
        reply = self._transact(command, Kind.SETUP)
        if reply.error is not None:
            raise PumpStateError(f"pump refused {command!r}: {reply.error}")
        return reply

    def _note_target_reached(self) -> None:
        log.info("pump.target_reached", target_ul=str(self._target_ul))

    def _alarm(self, alarm: PumpAlarm, why: str) -> None:
        log.warning("pump.alarm", alarm=alarm.value, reason=why)
        self._alarms.append(alarm)
        # An armed bolus survives only a quiet pump: after any alarm it is programmed anew.
        self._programmed_ul = None

    def _status_from(self, reply: Reply) -> PumpStatus:
        match = _STATUS_RE.fullmatch(reply.lines[0]) if len(reply.lines) == 1 else None
        if match is None:
            raise ProtocolError(
                f"status reply {list(reply.lines)!r} is not 'rate time volume flags'"
            )
        flags = match["flags"]
        stalled = flags[2] == "S" or reply.prompt == "*"
        if stalled and not self._stall_reported:
            # The indication lasts until stop or the next run: one stall is one alarm, as an
            # NE-1000 reports it once.
            self._alarm(PumpAlarm.STALL, "prompt '*' / status flag S")
        self._stall_reported = stalled
        if flags[0] in "iI":
            volume = int(match["volume"])
            last = self._last_infused_fl
            if last is not None and volume < last:
                # Counters never fall by themselves; only a clear (which resets ``last``) or a
                # power loss does.
                self._alarm(
                    PumpAlarm.POWER_RESET, f"infused counter fell from {last} fL to {volume} fL"
                )
            self._last_infused_fl = volume
        return self._status_from_prompt(reply.prompt)

    def _status_from_prompt(self, prompt: str) -> PumpStatus:
        state = STATES.get(prompt, PumpState.STOPPED)
        unexpected = state.moving and not self._motion_expected
        if unexpected:
            log.error("pump.unexpected_motion", state=state.value)
        if not state.moving:
            self._motion_expected = False  # a bolus ends when the pump stands still
        alarms, self._alarms = tuple(self._alarms), []
        return PumpStatus(
            state=state,
            alarm=alarms[-1] if alarms else None,
            alarms=alarms,
            unexpected_motion=unexpected,
        )
