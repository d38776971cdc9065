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
    Direction,
    DispensedTotals,
    Progress,
    PumpSettings,
    PumpState,
    PumpStatus,
    PumpVocabulary,
    SelfTestReport,
    SimulatorInfo,
    Stated,
)
from pumpctl.drivers.ne1000_codec import Reply
from pumpctl.drivers.ne1000_link import Kind, Ne1000Link, alarm_error, alarm_name, pump_alarm
from pumpctl.drivers.ne1000_selftest import STATES, run_self_test
from pumpctl.drivers.ne1000_units import (
    RATE_UNITS,
    parse_dispensed,
    parse_number,
    parse_stated,
    stated_text,
    vocabulary,
)
from pumpctl.drivers.transport import Transport, open_serial_transport
from pumpctl.errors import (
    ConfigError,
    ProtocolError,
    PumpAlarmError,
    PumpctlError,
    PumpStateError,
    TransportTimeoutError,
    UnsendableError,
)

log = structlog.get_logger()

_SIMULATOR_RE = re.compile(r"PUMPSIM SCALE=(?P<scale>[0-9.eE+-]+) NOW=(?P<now>[0-9]+(\.[0-9]+)?)")
_ERROR_NAMES = {
    "?": "unrecognised command",
    "?NA": "not applicable now",
    "?OOR": "out of range",
    "?COM": "invalid packet",
    "?IGN": "ignored",
}
_STOP_ATTEMPTS = 3  # STP pauses, a second STP stops; one more for a reply lost in between
_DIRECTIONS = {"INF": Direction.INFUSE, "WDR": Direction.WITHDRAW}


class Ne1000Driver:
    """A pump of the NE-1000 family at ``address`` on the link ``url`` (pyserial URL)."""

    #: Safe mode's communications watchdog stops the pump when pumpctl goes quiet (SR-14).
    has_watchdog = True

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
        # SR-06 bookkeeping: what this driver set in motion, to tell it from what it did not.
        self._programmed_ul: Decimal | None = None
        self._commanded_ul: Decimal | None = None  # since the last clear_dispensed()
        self._motion_expected = False
        self._over_logged_ul: Decimal | None = None

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> None:
        transport = self._given_transport or open_serial_transport(
            self.url, self.baud, self.timeout_s, self.timeout_s
        )
        link = Ne1000Link(transport, address=self.address, timeout_s=self.timeout_s)
        self._link = link
        self._capabilities = None  # a new connection needs a new self-test (SR-13)
        self._programmed_ul = None
        self._commanded_ul = None
        self._motion_expected = False  # whatever moves now was not started by this connection
        try:
            transport.reset_input_buffer()
            # Framed even in basic mode: the pump accepts a safe packet in either mode, so this
            # works whatever mode the pump kept from before (safe mode survives power cycles).
            try:
                saf = link.transact(f"SAF{self.safe_mode_timeout_s}", Kind.SETUP, framed=True)
            except TransportTimeoutError as err:
                raise TransportTimeoutError(
                    f"no pump answers at address {self.address} on {self.url} at {self.baud} "
                    f"baud ({err}); check the cable, the baud rate and the pump's address"
                ) from err
            self._expect_ok(saf)
            link.set_safe(True)
            self._expect_ok(link.transact("PF0", Kind.SETUP))
        except BaseException:
            self.close()
            raise
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
        report, self._capabilities = run_self_test(
            self._require_link(),
            query=self._query,
            setup=lambda command: self._expect_ok(self._link_transact(command, Kind.SETUP)),
            halt=self._halt,
            syringe_diameter_mm=syringe_diameter_mm,
            safe_mode_timeout_s=self.safe_mode_timeout_s,
        )
        return report

    @property
    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            raise PumpStateError("capabilities are unknown until self_test has set the syringe")
        return self._capabilities

    @classmethod
    def vocabulary(cls, syringe_diameter_mm: Decimal) -> PumpVocabulary:
        return vocabulary(syringe_diameter_mm)

    # -- delivery -----------------------------------------------------------------------------

    def status(self) -> PumpStatus:
        reply = self._query("")
        return self._status_from(reply)

    def heartbeat(self) -> PumpStatus:
        # Any valid packet restarts the pump's watchdog; a status poll is the cheapest one.
        return self.status()

    def program_bolus(self, volume_ul: Decimal, rate_ul_per_min: Decimal) -> None:
        """Program DIR INF, the volume unit, VOL and RAT; refuses anything but a bounded bolus.

        Invariant (SR-01): the volume sent is > 0 and finite; VOL 0 (continuous) is never sent.
        Invariant (SR-04 at the wire): what the pump cannot be told exactly is refused with
        :class:`UnsendableError`, never rounded.
        """
        if not volume_ul.is_finite() or volume_ul <= 0:
            raise UnsendableError(
                f"volume_ul={volume_ul} refused: a bolus needs a volume > 0 "
                "(VOL 0 means continuous infusion on the NE-1000; SR-01)"
            )
        caps = self.capabilities
        words = vocabulary(caps.syringe_diameter_mm)
        for quantity, value in (
            (words.volume_ul, volume_ul),
            (words.rate_ul_per_min, rate_ul_per_min),
        ):
            why = quantity.problem(value)
            if why is not None:
                raise UnsendableError(
                    f"{quantity.name}={value} {why} for a {caps.syringe_diameter_mm} mm syringe"
                )
        volume = words.volume_ul.stated(volume_ul)
        rate = words.rate_ul_per_min.stated(rate_ul_per_min)
        assert volume is not None and rate is not None  # noqa: S101 - problem() said stateable
        link = self._require_link()
        if link.alarms_seen:
            # Unreported alarms stay for status(); a bolus waits until someone has looked (SR-12).
            code = link.alarms_seen[-1]
            raise alarm_error(
                code,
                f"alarm {code} ({alarm_name(code)}) not yet reported by status(); "
                "bolus not programmed",
                command="program_bolus",
                executed=False,
            )
        self._programmed_ul = None  # until every setting below is confirmed
        commands = (
            "DIRINF",
            f"VOL{volume.unit}",
            f"VOL{stated_text(Stated(volume.number), field='volume_ul')}",
            f"RAT{stated_text(rate, field='rate_ul_per_min')}",
        )
        for command in commands:
            reply = self._link_transact(command, Kind.SETUP)
            self._expect_idle(reply, command)  # before the error: ?NA is how motion shows here
            self._expect_ok(reply)
        alarms = link.alarms_seen
        if alarms:
            code = alarms[-1]
            raise alarm_error(
                code,
                f"alarm {code} ({alarm_name(code)}) while programming the bolus; it was "
                "programmed but must not be started before the alarm's cause is known",
                command="program_bolus",
                executed=True,
            )
        self._programmed_ul = volume_ul
        log.info("pump.bolus_programmed", volume=str(volume), rate=str(rate))

    def read_settings(self) -> PumpSettings:
        """SR-27: DIA, DIR, VOL and RAT as the pump now states them, units included."""
        diameter = parse_number(self._query("DIA").data, what="DIA")
        direction_text = self._query("DIR").data
        direction = _DIRECTIONS.get(direction_text)
        if direction is None:
            raise ProtocolError(f"DIR reply {direction_text!r} is not INF or WDR")
        volume = parse_stated(self._query("VOL").data, what="VOL", units=("UL", "ML"))
        rate = parse_stated(
            self._query("RAT").data, what="RAT", units=tuple(u.word for u in RATE_UNITS)
        )
        return PumpSettings(Stated(diameter), direction, volume, rate)

    def check_armed(self) -> None:
        """Raise unless the bolus programmed on this connection may still be started.

        Sends nothing: reads what the pump sent on its own (safe mode sends alarms unprompted)
        and refuses after any alarm since the programming, or when no bolus is armed.
        """
        link = self._require_link()
        link.read_unprompted()
        if link.alarms_seen:
            code = link.alarms_seen[-1]
            self._programmed_ul = None
            raise alarm_error(
                code,
                f"alarm {code} ({alarm_name(code)}) since the bolus was programmed; disarmed",
                command="check_armed",
                executed=False,
            )
        if self._programmed_ul is None:
            raise PumpStateError("no bolus armed on this connection since the last RUN")

    def disarm(self) -> None:
        """Forget the programmed bolus: ``run`` refuses until ``program_bolus`` again. Sends
        nothing; the pump keeps its settings, which nothing starts without a new programming."""
        if self._programmed_ul is not None:
            log.info("pump.disarmed")
        self._programmed_ul = None

    def run(self) -> PumpStatus:
        """Send RUN once for the bolus programmed (armed) on this connection.

        Invariant (SR-16): never re-sent, whatever its answer. Invariant (SR-01): RUN follows a
        successful ``program_bolus`` each time, with no alarm, stop or ``disarm`` since, so it
        never starts anything but that bolus.
        """
        link = self._require_link()
        if self._programmed_ul is None:
            raise PumpStateError("RUN not sent: no bolus programmed since the last RUN")
        if link.alarms_seen:
            code = link.alarms_seen[-1]
            raise alarm_error(
                code,
                f"RUN not sent: alarm {code} ({alarm_name(code)}) not yet reported by status()",
                command="RUN",
                executed=False,
            )
        try:
            reply = link.transact("RUN", Kind.MOTION)
        except (ProtocolError, TransportTimeoutError):
            self._started()  # RUN went out and its answer was lost: the bolus may be running
            raise
        if reply.error is not None:
            raise PumpStateError(
                f"pump refused RUN with {reply.error} ({_ERROR_NAMES[reply.error]}); not started"
            )
        self._started()
        status = self._status_from(reply)
        log.info("pump.run", state=status.state.value)
        return status

    def _started(self) -> None:
        self._motion_expected = True
        if self._commanded_ul is not None and self._programmed_ul is not None:
            self._commanded_ul += self._programmed_ul
        self._programmed_ul = None

    def stop(self) -> PumpStatus:
        """STP until the pump reports stopped (the first STP of a running pump only pauses)."""
        return self._status_from(self._halt())

    def _halt(self) -> Reply:
        """STP until stopped; returns the stopped reply and leaves alarms for the next status."""
        self._programmed_ul = None  # a stop ends whatever was armed
        failure: PumpctlError = PumpStateError(f"pump not stopped after {_STOP_ATTEMPTS} STP")
        for _ in range(_STOP_ATTEMPTS):
            try:
                reply = self._link_transact("STP", Kind.STOP)
                if reply.error is not None:
                    # The NE-1000 answers ?NA to STP when there is nothing to stop; trust a poll.
                    reply = self._query("")
            except (PumpAlarmError, ProtocolError, TransportTimeoutError) as err:
                # Stopping is the safe direction: keep trying rather than give up at once.
                failure = err
                continue
            state = self._state_of(reply)
            if state is PumpState.STOPPED:
                log.info("pump.stopped")
                return reply
            failure = PumpStateError(f"pump still {state.value} after {_STOP_ATTEMPTS} STP")
        log.error("pump.stop_failed", error=str(failure))
        raise failure

    def dispensed(self) -> DispensedTotals:
        return self._totals_from(self._query("DIS"))

    def _totals_from(self, reply: Reply) -> DispensedTotals:
        infused_ul, withdrawn_ul, resolution_ul = parse_dispensed(reply.data)
        totals = DispensedTotals(
            infused_ul=infused_ul,
            withdrawn_ul=withdrawn_ul,
            commanded_ul=self._commanded_ul,
            resolution_ul=resolution_ul,
        )
        if totals.over_delivered and infused_ul != self._over_logged_ul:
            # Once per new total: the daemon reads the totals every few seconds.
            self._over_logged_ul = infused_ul
            log.error(
                "pump.over_delivery",
                infused_ul=str(infused_ul),
                commanded_ul=str(self._commanded_ul),
            )
        return totals

    def progress(self) -> Progress:
        """One ``DIS`` exchange: its reply's status character and totals belong together."""
        reply = self._query("DIS")
        totals = self._totals_from(reply)
        return Progress(status=self._status_from(reply), totals=totals)

    def clear_dispensed(self) -> None:
        self._commanded_ul = None  # unknown until both accumulators are confirmed cleared
        for command in ("CLDINF", "CLDWDR"):
            self._expect_ok(self._link_transact(command, Kind.SETUP))
        self._commanded_ul = Decimal(0)

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
            self._halt()
            raise PumpStateError(
                f"pump reported {state.value} while being programmed ({command}); it was "
                "stopped: unintended flow"
            )

    @staticmethod
    def _state_of(reply: Reply) -> PumpState:
        return STATES[reply.status]

    def _status_from(self, reply: Reply) -> PumpStatus:
        alarms = tuple(pump_alarm(code) for code in self._require_link().take_alarms())
        if alarms and self._programmed_ul is not None:
            # An armed bolus survives only a quiet pump: after any alarm it is programmed anew.
            log.info("pump.disarmed", alarms=[a.value for a in alarms])
            self._programmed_ul = None
        state = self._state_of(reply)
        unexpected = state.moving and not self._motion_expected
        if unexpected:
            log.error("pump.unexpected_motion", state=state.value)
        if not state.moving:
            self._motion_expected = False  # a bolus ends when the pump stands still
        return PumpStatus(
            state=state,
            alarm=alarms[-1] if alarms else None,
            alarms=alarms,
            unexpected_motion=unexpected,
        )
