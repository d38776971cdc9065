"""The NE-1000 family driver (NE-1000, NE-500, NE-300): the ``PumpDriver`` contract on the wire.

After ``connect`` the pump runs in safe mode (framed packets with CRC, a communications watchdog
that stops the pump when the daemon goes quiet: SR-14) with power-failure restart off (PF0).
Exchanges, alarm acknowledgement and link-fault rules live in :mod:`.ne1000_link`; numbers and
units in :mod:`.ne1000_units`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from pumpctl.drivers.base import (
    Capabilities,
    DispensedTotals,
    PumpState,
    PumpStatus,
    SelfTestReport,
    SimulatorInfo,
)
from pumpctl.drivers.ne1000_codec import Reply
from pumpctl.drivers.ne1000_link import Kind, Ne1000Link, alarm_name
from pumpctl.drivers.ne1000_units import (
    MAX_NUMBER,
    VOLUME_RESOLUTION_UL,
    format_number,
    parse_dispensed,
    parse_number,
    rate_command,
    rate_limits_ul_per_min,
)
from pumpctl.drivers.transport import Transport, open_serial_transport
from pumpctl.errors import ConfigError, ProtocolError, PumpAlarmError, PumpStateError

log = structlog.get_logger()

#: Firmware identities of the supported family: model, then ``V`` and the version.
_IDENTITY_RE = re.compile(r"(?P<model>NE1000|NE500|NE300)[A-Z]*V(?P<version>[0-9][0-9.]*)")
_SIMULATOR_RE = re.compile(r"PUMPSIM SCALE=(?P<scale>[0-9.eE+-]+) NOW=(?P<now>[0-9]+(\.[0-9]+)?)")
_STATES = {
    "I": PumpState.INFUSING,
    "W": PumpState.WITHDRAWING,
    "S": PumpState.STOPPED,
    "P": PumpState.PAUSED,
    "T": PumpState.TIMED_PAUSE,
    "U": PumpState.WAITING_TRIGGER,
    "X": PumpState.PURGING,
}
_ERROR_NAMES = {
    "?": "unrecognised command",
    "?NA": "not applicable now",
    "?OOR": "out of range",
    "?COM": "invalid packet",
    "?IGN": "ignored",
}
_STOP_ATTEMPTS = 3  # STP pauses, a second STP stops; one more for a reply lost in between


class Ne1000Driver:
    """A pump of the NE-1000 family at ``address`` on the link ``url`` (pyserial URL)."""

    def __init__(
        self,
        url: str,
        *,
        baud: int = 19200,
        address: int = 0,
        safe_mode_timeout_s: int = 10,
        timeout_s: float = 0.5,
        transport: Transport | None = None,
    ) -> None:
        if not 0 <= address <= 99:
            raise ConfigError(f"address={address} is out of range; allowed 0..99")
        if not 1 <= safe_mode_timeout_s <= 255:
            # SAF 0 would switch the watchdog off: the pump must stop by itself if we die (SR-14).
            raise ConfigError(f"safe_mode_timeout_s={safe_mode_timeout_s}; allowed 1..255")
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s={timeout_s} must be > 0")
        self.url = url
        self.baud = baud
        self.address = address
        self.safe_mode_timeout_s = safe_mode_timeout_s
        self.timeout_s = timeout_s
        self._given_transport = transport
        self._link: Ne1000Link | None = None
        self._capabilities: Capabilities | None = None

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> None:
        transport = self._given_transport or open_serial_transport(
            self.url, self.baud, self.timeout_s, self.timeout_s
        )
        transport.reset_input_buffer()
        link = Ne1000Link(transport, address=self.address, timeout_s=self.timeout_s)
        self._link = link
        # Framed even in basic mode: the pump accepts a safe packet in either mode, so this
        # works whatever mode the pump kept from before (safe mode survives power cycles).
        self._expect_ok(link.transact(f"SAF{self.safe_mode_timeout_s}", Kind.SETUP, framed=True))
        link.set_safe(True)
        self._expect_ok(link.transact("PF0", Kind.SETUP))
        log.info(
            "pump.connected", url=self.url, address=self.address, alarms=list(link.alarms_seen)
        )

    def close(self) -> None:
        # Safe mode stays on: if anything still moves, the pump's watchdog stops it.
        link, self._link = self._link, None
        # A transport handed in by the caller stays open: its owner closes it, and the daemon's
        # link recovery (close, then connect) must find it usable again.
        if link is not None and self._given_transport is None:
            link.transport.close()

    def __enter__(self) -> Ne1000Driver:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- self-test ----------------------------------------------------------------------------

    def self_test(self, *, syringe_diameter_mm: Decimal) -> SelfTestReport:
        """SR-13/SR-14: identity, diameter read back, PF0, watchdog armed, stopped, alarm-free."""
        link = self._require_link()
        alarms_before = link.take_alarms()
        checks: list[str] = []
        dia_text = format_number(syringe_diameter_mm, field="syringe_diameter_mm")

        firmware = self._query("VER").data
        identity = _IDENTITY_RE.fullmatch(firmware)
        if identity is None:
            raise PumpStateError(
                f"pump identity {firmware!r} is not NE-1000 family firmware "
                "(expected NE1000, NE500 or NE300 followed by V<version>)"
            )
        checks.append(f"identity {firmware}")

        state = self._state_of(self._query(""))
        if state is not PumpState.STOPPED:
            self.stop()
            raise PumpStateError(
                f"pump was {state.value} at self-test; it must be stopped (it has been stopped now)"
            )
        checks.append("stopped")

        self._expect_ok(self._link_transact(f"DIA{dia_text}", Kind.SETUP))
        read_back = parse_number(self._query("DIA").data, what="DIA")
        if read_back != syringe_diameter_mm:
            raise PumpStateError(
                f"syringe diameter read back as {read_back} mm; set {syringe_diameter_mm} mm"
            )
        checks.append(f"diameter {read_back} mm read back")

        self._expect_ok(self._link_transact("PF0", Kind.SETUP))
        pf = self._query("PF").data
        if pf != "0":
            raise PumpStateError(f"power-failure mode reads PF{pf}; PF0 is required")
        checks.append("PF0")

        saf = self._query("SAF").data
        if saf != str(self.safe_mode_timeout_s):
            raise PumpStateError(
                f"safe-mode watchdog reads SAF{saf}; SAF{self.safe_mode_timeout_s} is required"
            )
        checks.append(f"safe-mode watchdog {saf} s")

        final = self._query("")
        alarms = link.take_alarms()
        if alarms:
            code = alarms[-1]
            raise PumpAlarmError(
                code,
                f"alarm {code} ({alarm_name(code)}) during self-test; clear its cause first",
                command="self-test",
                executed=False,
            )
        final_state = self._state_of(final)
        if final_state is not PumpState.STOPPED:
            raise PumpStateError(f"pump was {final_state.value} at the end of self-test")
        checks.append("alarm-free")

        low, high = rate_limits_ul_per_min(syringe_diameter_mm)
        self._capabilities = Capabilities(
            syringe_diameter_mm=syringe_diameter_mm,
            min_rate_ul_per_min=low,
            max_rate_ul_per_min=high,
            max_volume_ul=MAX_NUMBER,
            volume_resolution_ul=VOLUME_RESOLUTION_UL,
        )
        if alarms_before:
            checks.append("acknowledged at connect: " + ", ".join(alarms_before))
        report = SelfTestReport(
            firmware=firmware,
            model=identity["model"],
            syringe_diameter_mm=read_back,
            safe_mode_timeout_s=self.safe_mode_timeout_s,
            power_failure_restart=False,
            state=final_state,
            checks=tuple(checks),
        )
        log.info("pump.self_test_passed", checks=list(checks))
        return report

    @property
    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            raise PumpStateError("capabilities are unknown until self_test has set the syringe")
        return self._capabilities

    # -- delivery -----------------------------------------------------------------------------

    def status(self) -> PumpStatus:
        reply = self._query("")
        return self._status_from(reply)

    def heartbeat(self) -> PumpStatus:
        # Any valid packet restarts the pump's watchdog; a status poll is the cheapest one.
        return self.status()

    def program_bolus(self, volume_ul: Decimal, rate_ul_per_min: Decimal) -> None:
        """Program DIR INF, VOL in uL and RAT; refuses anything that is not a bounded bolus.

        Invariant (SR-01): the volume sent is > 0 and finite; VOL 0 (continuous) is never sent.
        """
        if not volume_ul.is_finite() or volume_ul <= 0:
            raise ConfigError(
                f"volume_ul={volume_ul} refused: a bolus needs a volume > 0 "
                "(VOL 0 means continuous infusion on the NE-1000; SR-01)"
            )
        caps = self.capabilities
        if volume_ul > caps.max_volume_ul:
            raise ConfigError(f"volume_ul={volume_ul} exceeds the pump's {caps.max_volume_ul} uL")
        if not caps.min_rate_ul_per_min <= rate_ul_per_min <= caps.max_rate_ul_per_min:
            raise ConfigError(
                f"rate_ul_per_min={rate_ul_per_min} is outside {caps.min_rate_ul_per_min:.4f}.."
                f"{caps.max_rate_ul_per_min:.1f} for a {caps.syringe_diameter_mm} mm syringe"
            )
        volume_text = format_number(volume_ul, field="volume_ul")
        rate_text = rate_command(rate_ul_per_min)
        link = self._require_link()
        if link.alarms_seen:
            # Unreported alarms stay for status(); a bolus waits until someone has looked (SR-12).
            code = link.alarms_seen[-1]
            raise PumpAlarmError(
                code,
                f"alarm {code} ({alarm_name(code)}) not yet reported by status(); "
                "bolus not programmed",
                command="program_bolus",
                executed=False,
            )
        for command in ("DIRINF", "VOLUL", f"VOL{volume_text}", f"RAT{rate_text}"):
            reply = self._link_transact(command, Kind.SETUP)
            self._expect_idle(reply, command)  # before the error: ?NA is how motion shows here
            self._expect_ok(reply)
        alarms = link.alarms_seen
        if alarms:
            code = alarms[-1]
            raise PumpAlarmError(
                code,
                f"alarm {code} ({alarm_name(code)}) while programming the bolus; it was "
                "programmed but must not be started before the alarm's cause is known",
                command="program_bolus",
                executed=True,
            )
        log.info("pump.bolus_programmed", volume_ul=str(volume_ul), rate=rate_text)

    def run(self) -> PumpStatus:
        """Send RUN once. Invariant (SR-16): never re-sent, whatever its answer."""
        link = self._require_link()
        if link.alarms_seen:
            code = link.alarms_seen[-1]
            raise PumpAlarmError(
                code,
                f"RUN not sent: alarm {code} ({alarm_name(code)}) not yet reported by status()",
                command="RUN",
                executed=False,
            )
        reply = link.transact("RUN", Kind.MOTION)
        if reply.error is not None:
            raise PumpStateError(
                f"pump refused RUN with {reply.error} ({_ERROR_NAMES[reply.error]}); not started"
            )
        status = self._status_from(reply)
        log.info("pump.run", state=status.state.value)
        return status

    def stop(self) -> PumpStatus:
        """STP until the pump reports stopped (the first STP of a running pump only pauses)."""
        for _ in range(_STOP_ATTEMPTS):
            reply = self._link_transact("STP", Kind.STOP)
            if reply.error is not None:
                # The NE-1000 answers ?NA to STP when there is nothing to stop; trust a poll.
                reply = self._query("")
            state = self._state_of(reply)
            if state is PumpState.STOPPED:
                log.info("pump.stopped")
                return self._status_from(reply)
        raise PumpStateError(f"pump still {state.value} after {_STOP_ATTEMPTS} STP")

    def dispensed(self) -> DispensedTotals:
        reply = self._query("DIS")
        infused_ul, withdrawn_ul = parse_dispensed(reply.data)
        return DispensedTotals(infused_ul=infused_ul, withdrawn_ul=withdrawn_ul)

    def clear_dispensed(self) -> None:
        for command in ("CLDINF", "CLDWDR"):
            self._expect_ok(self._link_transact(command, Kind.SETUP))

    def simulator_handshake(self) -> SimulatorInfo | None:
        """Ask the vendor-extension ``XSIM``; a real pump answers ``?`` and this returns None."""
        reply = self._link_transact("XSIM", Kind.QUERY)
        if reply.error == "?":
            return None
        match = _SIMULATOR_RE.fullmatch(reply.data)
        if reply.error is not None or match is None:
            raise ProtocolError(
                f"XSIM answered {reply.error or reply.data!r}; expected '?' from a pump or "
                "'PUMPSIM SCALE=<float> NOW=<unix seconds>' from pumpsim"
            )
        scale = float(match["scale"])
        if not scale > 0:
            raise ProtocolError(f"pumpsim reports time scale {scale}; it must be > 0")
        now = datetime.fromtimestamp(float(match["now"]), tz=UTC)
        return SimulatorInfo(time_scale=scale, now=now)

    # -- helpers ------------------------------------------------------------------------------

    def _require_link(self) -> Ne1000Link:
        if self._link is None:
            raise PumpStateError(f"pump at {self.url} is not connected; call connect() first")
        return self._link

    def _link_transact(self, command: str, kind: Kind) -> Reply:
        return self._require_link().transact(command, kind)

    def _query(self, command: str) -> Reply:
        reply = self._link_transact(command, Kind.QUERY)
        if reply.error is not None:
            name = command or "status poll"
            raise PumpStateError(
                f"pump answered {name} with {reply.error} ({_ERROR_NAMES[reply.error]})"
            )
        return reply

    @staticmethod
    def _expect_ok(reply: Reply) -> Reply:
        if reply.error is not None:
            raise PumpStateError(
                f"pump refused the setting with {reply.error} ({_ERROR_NAMES[reply.error]})"
            )
        return reply

    def _expect_idle(self, reply: Reply, command: str) -> None:
        state = self._state_of(reply)
        if state.moving:
            # SR-06: the pump moves although nothing was started; stop it before anything else.
            log.error("pump.unexpected_motion", state=state.value, command=command)
            self.stop()
            raise PumpStateError(
                f"pump reported {state.value} while being programmed ({command}); it was "
                "stopped: unintended flow"
            )

    @staticmethod
    def _state_of(reply: Reply) -> PumpState:
        return _STATES[reply.status]

    def _status_from(self, reply: Reply) -> PumpStatus:
        alarms = tuple(self._require_link().take_alarms())
        return PumpStatus(
            state=self._state_of(reply), alarm=alarms[-1] if alarms else None, alarms=alarms
        )
