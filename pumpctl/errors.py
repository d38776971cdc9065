"""The one exception hierarchy of pumpctl; the CLI maps each class to an exit code.

Each error also inherits the builtin it refines, so callers that only know Python's own
exceptions (``ValueError``, ``TimeoutError``, ``OSError``) still catch it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pumpctl.drivers.base import PumpAlarm


class PumpctlError(Exception):
    """Root of every error pumpctl raises on purpose."""


class ConfigError(PumpctlError, ValueError):
    """The configuration is missing, unreadable or invalid.

    ``problems`` holds one human-readable line per problem (field path, value, what is allowed).
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class TransportError(PumpctlError, OSError):
    """The serial link to the pump failed (port missing, unplugged, write failed)."""


class TransportTimeoutError(TransportError, TimeoutError):
    """The pump did not answer within the read or write timeout."""


class ProtocolError(PumpctlError):
    """Bytes from the pump could not be understood (garbled, truncated, bad CRC)."""


class PumpAlarmError(PumpctlError):
    """The pump answered with an alarm instead of carrying out a command.

    ``alarm`` is the vendor-neutral :class:`~pumpctl.drivers.base.PumpAlarm`; ``vendor_code`` is
    what the pump itself said, for messages and logs only. ``executed`` says whether the command
    that drew the alarm was carried out afterwards (it never is for motion commands: SR-16).
    """

    def __init__(
        self,
        alarm: PumpAlarm,
        message: str,
        *,
        command: str = "",
        executed: bool = False,
        vendor_code: str = "",
    ) -> None:
        self.alarm = alarm
        self.vendor_code = vendor_code
        self.command = command
        self.executed = executed
        super().__init__(message)


class PumpStateError(PumpctlError):
    """The pump is in a state that forbids what was asked (wrong identity, running, not ready)."""


class UnsendableError(PumpctlError):
    """A value the pump cannot be told exactly (too many digits, no unit for it, out of its
    range): refused, never rounded. At run time this is its own failure, not a configuration
    error (the file was valid when loaded) and not a link fault (the cable is fine)."""


class SettingsMismatchError(PumpStateError):
    """The pump's settings, read back before RUN, are not the ones it was just given (SR-27):
    someone changed them, or a different syringe is set. RUN is not sent."""


class JournalError(PumpctlError):
    """The journal cannot be opened, read or written; delivery must not go on without it."""


class JournalTamperedError(JournalError):
    """The journal's hash chain does not verify: a record was edited, removed, inserted or cut."""


class ControlError(PumpctlError):
    """A request to the running daemon over its control socket failed or was refused."""


class UsageError(PumpctlError, ValueError):
    """The command line asks for something impossible: a missing or conflicting argument, or a
    period that cannot be simulated."""


EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_TAMPERED = 3
EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h


def exit_code_for(error: BaseException) -> int:
    """The process exit code the CLI uses for ``error``."""
    if isinstance(error, ConfigError):
        return EXIT_CONFIG
    if isinstance(error, JournalTamperedError):
        return EXIT_TAMPERED
    if isinstance(error, UsageError):
        return EXIT_USAGE
    return EXIT_FAILURE
