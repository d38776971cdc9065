"""The byte link to a pump: a serial-like ``Transport`` Protocol and its pyserial implementation.

One URL string is the whole link setting, as pyserial understands it: a device path
(``/dev/serial/by-id/...``), ``socket://host:port``, ``spy://`` (hex trace), ``loop://``. Every
pyserial or OS exception is translated here, at the boundary, into pumpctl's own errors so that
nothing above the driver needs to know pyserial.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import serial

from pumpctl.errors import TransportError, TransportTimeoutError


@runtime_checkable
class Transport(Protocol):
    """What a driver needs from a serial link (pyserial's ``Serial`` already fits)."""

    timeout: float | None  # read timeout in seconds; 0 = return what is there, None = block

    def write(self, data: bytes) -> None:
        """Send all of ``data`` or raise (``TransportTimeoutError`` after the write timeout)."""
        ...

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes; fewer, or ``b""``, when the read timeout expires."""
        ...

    def reset_input_buffer(self) -> None:
        """Drop whatever has been received and not read."""
        ...

    def close(self) -> None:
        """Release the link; further calls fail."""
        ...


class SerialTransport:
    """A pyserial port behind the :class:`Transport` Protocol, with translated exceptions."""

    def __init__(self, port: serial.Serial, url: str) -> None:
        self._port = port
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    @property
    def timeout(self) -> float | None:
        return self._port.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        # pyserial reconfigures the port here: an unplugged or vanished pty fails at this point.
        try:
            self._port.timeout = value
        except (serial.SerialException, OSError, ValueError) as err:
            raise TransportError(f"setting the read timeout on {self._url} failed: {err}") from err

    def write(self, data: bytes) -> None:
        try:
            written = self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException as err:
            raise TransportTimeoutError(
                f"write of {len(data)} bytes to {self._url} did not finish within "
                f"write_timeout_s={self._port.write_timeout}"
            ) from err
        except (serial.SerialException, OSError, ValueError) as err:
            raise TransportError(f"write to {self._url} failed: {err}") from err
        if written is not None and written != len(data):
            raise TransportError(f"write to {self._url} sent {written} of {len(data)} bytes")

    def read(self, size: int = 1) -> bytes:
        try:
            return bytes(self._port.read(size))
        except (serial.SerialException, OSError, ValueError) as err:
            # pyserial reports an unplugged adapter or a closed peer as SerialException.
            raise TransportError(f"read from {self._url} failed: {err}") from err

    def reset_input_buffer(self) -> None:
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError, ValueError) as err:
            raise TransportError(f"flushing input of {self._url} failed: {err}") from err

    def close(self) -> None:
        try:
            self._port.close()
        except (serial.SerialException, OSError) as err:
            raise TransportError(f"closing {self._url} failed: {err}") from err


def open_serial_transport(
    url: str,
    baud: int = 19200,
    timeout_s: float = 0.5,
    write_timeout_s: float = 0.5,
) -> SerialTransport:
    """Open ``url`` 8N1 at ``baud`` with read and write timeouts and exclusive access.

    Raises :class:`TransportError` naming the URL when it cannot be opened (missing device, port
    in use by another process, refused connection, unknown URL scheme).
    """
    if timeout_s <= 0 or write_timeout_s <= 0:
        raise ValueError(
            f"timeout_s={timeout_s} and write_timeout_s={write_timeout_s} must both be > 0: "
            "a link without timeouts can hang the daemon"
        )
    try:
        # exclusive=True takes a flock on device paths so a second daemon (or a terminal program)
        # cannot interleave bytes with ours; URL handlers without locking ignore it.
        port = serial.serial_for_url(
            url,
            baudrate=baud,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE,
            timeout=timeout_s,
            write_timeout=write_timeout_s,
            exclusive=True,
        )
    except (serial.SerialException, OSError, ValueError) as err:
        raise TransportError(f"cannot open pump link {url!r} at {baud} baud: {err}") from err
    return SerialTransport(port, url)
