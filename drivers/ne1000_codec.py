"""Pure byte codec for the NE-1000 family serial protocol, shared by the driver and ``pumpsim``.

Frames (``ne1000-protocol.md``; golden vectors in the tests pin every byte)::

    basic command   [addr]<COMMAND>[args] CR                 e.g. b"0RAT500UM\\r"
    basic reply     STX <aa><status>[data] ETX               e.g. 02 "00S" 03
    safe (both)     STX <len> <data> <crc_hi> <crc_lo> ETX   len = len(data) + 4,
                                                             crc = CRC-16/XMODEM(data)

Resynchronisation rules of :class:`ReplyDecoder` (client side):

* Bytes before an STX are garbage: reported as :class:`~pumpctl.errors.ProtocolError` and dropped.
* Once the link's mode is known (``expect_safe``), every frame is read in that mode. Before that
  (only while connecting), the byte after STX tells the framing apart: an ASCII digit (the first
  address digit) starts a basic frame, anything else is a safe-mode length byte; this guess is
  right for every safe reply shorter than 44 payload bytes, which all replies to setup commands
  are.
* A basic frame ends at ETX; an STX inside it means the frame was cut short: error, resync there.
* A safe frame is read by its length (its CRC bytes may be 0x02/0x03); a missing ETX or a wrong CRC
  is an error and the search for the next STX restarts one byte after the bad frame's STX.

Rules of :class:`CommandDecoder` (pump side): a basic command ends at CR, spaces and control
characters are stripped and letters upper-cased; an STX starts a safe packet in either mode (any
partial basic line is dropped); a gap of more than 0.5 s inside a safe packet discards it; a safe
packet with a bad length, missing ETX or bad CRC yields :class:`BadPacket` (the pump answers ?COM).
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from pumpctl.errors import ProtocolError

STX = 0x02
ETX = 0x03
CR = 0x0D

#: Status characters after the address (``A`` stands for an ``A?x`` alarm).
STATUSES = frozenset("IWSPTUX")
#: Alarm letters after ``A?``: reset, stall, safe-mode timeout, program error, phase out of range.
ALARMS = frozenset("RSTEO")
#: Error texts in the data field.
ERRORS = frozenset({"?", "?NA", "?OOR", "?COM", "?IGN"})

#: Longest reply payload (address + status + data) accepted.
MAX_REPLY_DATA = 96
#: Longest command text accepted in a safe packet (the length byte is one byte).
MAX_COMMAND_DATA = 251
#: A gap longer than this inside a safe packet discards the packet (manual, section 10).
PACKET_GAP_S = 0.5
#: Bytes of a basic command line beyond this many are ignored (bounds the pump side's memory).
MAX_BASIC_LINE = 256

_SAFE_OVERHEAD = 4  # len byte, two CRC bytes, ETX
_MIN_REPLY_PAYLOAD = 3  # two address digits and a status character
_PAYLOAD_RE = re.compile(
    r"(?P<addr>[0-9]{2})(?P<status>[IWSPTUX]|A\?(?P<alarm>.))(?P<data>.*)", re.S
)
_MIN_SAFE_LENGTH = _SAFE_OVERHEAD + _MIN_REPLY_PAYLOAD
_MIN_BASIC_FRAME = _MIN_REPLY_PAYLOAD + 2
_MAX_SAFE_LENGTH = _SAFE_OVERHEAD + MAX_REPLY_DATA


def _printable(data: bytes | bytearray) -> bool:
    """Whether every byte is printable ASCII, 0x20..0x7E (what ``str.isprintable`` means for
    an ASCII string; an empty one is printable)."""
    return data.isascii() and data.decode("ascii").isprintable()


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM (CCITT polynomial, init 0) of ``data``, as the pump computes it."""
    return binascii.crc_hqx(data, 0)


def _safe_frame(data: bytes) -> bytes:
    crc = crc16(data)
    return bytes([STX, len(data) + _SAFE_OVERHEAD]) + data + bytes([crc >> 8, crc & 0xFF, ETX])


def _check_address(address: int) -> None:
    if not 0 <= address <= 99:
        raise ValueError(f"address={address!r} is out of range; allowed 0..99")


def encode_command(address: int | None, command: str, *, safe: bool) -> bytes:
    """Frame ``command`` for the pump at ``address`` (``None``: no address, as ``0`` takes it)."""
    if address is not None:
        _check_address(address)
    # str.isprintable() of an ASCII string: every character in 0x20..0x7E (no CR, no controls).
    if not command.isascii() or not command.isprintable():
        raise ValueError(f"command={command!r} must be printable ASCII without CR")
    text = ("" if address is None else str(address)) + command
    data = text.encode("ascii")
    if safe:
        if len(data) > MAX_COMMAND_DATA:
            raise ValueError(
                f"command={command!r} is {len(data)} bytes; at most {MAX_COMMAND_DATA}"
            )
        return _safe_frame(data)
    return data + b"\r"


def encode_reply(address: int, status: str, data: str = "", *, safe: bool) -> bytes:
    """Frame a pump reply: ``status`` is one of ``IWSPTUX`` or an alarm ``A?R`` .. ``A?O``."""
    _check_address(address)
    if not (
        status in STATUSES or (len(status) == 3 and status[:2] == "A?" and status[2] in ALARMS)
    ):
        raise ValueError(f"status={status!r} is not a status (I W S P T U X) or alarm (A?R..A?O)")
    if not data.isascii() or not data.isprintable():
        raise ValueError(f"data={data!r} must be printable ASCII")
    payload = f"{address:02d}{status}{data}".encode("ascii")
    if len(payload) > MAX_REPLY_DATA:
        raise ValueError(f"reply payload {payload!r} exceeds {MAX_REPLY_DATA} bytes")
    if safe:
        return _safe_frame(payload)
    return bytes([STX]) + payload + bytes([ETX])


@dataclass(frozen=True)
class Reply:
    """One decoded pump reply."""

    address: int
    status: str  # 'I','W','S','P','T','U','X', or 'A' when the reply is an alarm
    alarm: str | None  # 'R','S','T','E','O' when status == 'A'
    error: str | None  # '?','?NA','?OOR','?COM','?IGN'
    data: str  # value text after the status (and after an error, if any)

    @property
    def is_alarm(self) -> bool:
        return self.alarm is not None


def parse_reply_payload(payload: bytes) -> Reply:
    """Decode the bytes between STX and ETX (basic) or the data of a safe frame."""
    if not _printable(payload):
        raise ProtocolError(f"reply payload {payload!r} holds non-printable bytes")
    text = payload.decode("ascii")
    match = _PAYLOAD_RE.fullmatch(text)
    if match is None:
        raise ProtocolError(
            f"reply payload {text!r} is not <2-digit address><status I W S P T U X or A?x>[data]"
        )
    alarm = match["alarm"]
    if alarm is not None and alarm not in ALARMS:
        raise ProtocolError(f"reply {text!r} carries alarm {alarm!r}; known alarms are R S T E O")
    data = match["data"]
    error: str | None = None
    if data.startswith("?"):
        if data not in ERRORS:
            raise ProtocolError(f"reply {text!r} carries unknown error {data!r}")
        error, data = data, ""
    status = "A" if alarm is not None else match["status"]
    return Reply(address=int(match["addr"]), status=status, alarm=alarm, error=error, data=data)


class ReplyDecoder:
    """Client-side stream decoder: bytes in, :class:`Reply` objects out (see module docstring).

    ``feed`` raises :class:`ProtocolError` at the first bad frame; replies decoded before it in
    the same call are kept and returned by the next ``feed`` (``feed(b"")`` drains them).

    ``expect_safe`` pins the framing once the link's mode is known (``None`` guesses per frame):
    a safe frame that lost its length byte looks like a basic frame with the CRC as data, so in
    safe mode every frame must pass the length and CRC checks.
    """

    #: Longest basic payload before a missing ETX counts as garbage.
    MAX_BASIC_PAYLOAD = MAX_REPLY_DATA

    def __init__(self, *, expect_safe: bool | None = None) -> None:
        self.expect_safe = expect_safe
        self._buf = bytearray()
        self._ready: list[Reply] = []

    def reset(self) -> None:
        """Forget buffered bytes and undelivered replies (after a link fault)."""
        self._buf.clear()
        self._ready.clear()

    @property
    def pending_bytes(self) -> int:
        """How many bytes wait for the rest of their frame."""
        return len(self._buf)

    def bytes_wanted(self) -> int:
        """How many bytes surely belong to the frame in progress (1 when unknown)."""
        buf = self._buf
        if not buf:
            # Every frame is at least STX + length (safe) or STX "00S" ETX (basic).
            return _MIN_BASIC_FRAME if self.expect_safe is False else 2
        if len(buf) >= 2 and buf[0] == STX:
            digit = 0x30 <= buf[1] <= 0x39
            if self.expect_safe or (self.expect_safe is None and not digit):
                return max(1, buf[1] + 1 - len(buf))
        return 1

    def feed(self, data: bytes) -> list[Reply]:
        self._buf.extend(data)
        while self._buf and self._step():
            pass
        out, self._ready = self._ready, []
        return out

    def _step(self) -> bool:
        """Decode one frame from the buffer's head; False when it needs more bytes."""
        buf = self._buf
        start = buf.find(STX)
        if start != 0:
            junk = bytes(buf if start < 0 else buf[:start])
            del buf[: len(buf) if start < 0 else start]
            raise ProtocolError(f"{len(junk)} byte(s) outside a frame: {junk[:16].hex(' ')}")
        if len(buf) < 2:
            return False
        digit = 0x30 <= buf[1] <= 0x39
        if self.expect_safe is None:
            return self._step_basic() if digit else self._step_safe()
        if self.expect_safe:
            return self._step_safe()
        if not digit:
            del buf[:1]
            raise ProtocolError(f"basic-mode reply starts with {bytes(buf[:1])!r}, not an address")
        return self._step_basic()

    def _step_basic(self) -> bool:
        buf = self._buf
        end = buf.find(ETX)
        restart = buf.find(STX, 1)
        if restart != -1 and (end == -1 or restart < end):
            cut = bytes(buf[:restart])
            del buf[:restart]
            raise ProtocolError(f"basic reply cut short by a new frame: {cut.hex(' ')}")
        if end == -1:
            if len(buf) > self.MAX_BASIC_PAYLOAD + 1:
                junk = bytes(buf)
                buf.clear()
                raise ProtocolError(f"basic reply without ETX after {len(junk)} bytes")
            return False
        payload = bytes(buf[1:end])
        del buf[: end + 1]
        self._ready.append(parse_reply_payload(payload))
        return True

    def _step_safe(self) -> bool:
        buf = self._buf
        length = buf[1]
        if not _MIN_SAFE_LENGTH <= length <= _MAX_SAFE_LENGTH:
            del buf[:1]
            raise ProtocolError(
                f"safe reply length byte {length} is outside {_MIN_SAFE_LENGTH}..{_MAX_SAFE_LENGTH}"
            )
        if len(buf) < length + 1:
            return False
        frame = bytes(buf[: length + 1])
        if frame[-1] != ETX:
            del buf[:1]
            raise ProtocolError(
                f"safe reply of length {length} does not end with ETX: {frame.hex(' ')}"
            )
        data = frame[2:-3]
        crc = (frame[-3] << 8) | frame[-2]
        if crc16(data) != crc:
            del buf[:1]
            raise ProtocolError(
                f"safe reply CRC 0x{crc:04X} does not match 0x{crc16(data):04X} for {data!r}"
            )
        del buf[: length + 1]
        self._ready.append(parse_reply_payload(data))
        return True


@dataclass(frozen=True)
class Command:
    """One command as the pump received it: address (None when absent) and normalised text."""

    address: int | None
    text: str
    framed: bool


@dataclass(frozen=True)
class BadPacket:
    """A safe packet the pump rejects (it answers ``?COM``)."""

    reason: str


def split_address(text: str) -> tuple[int | None, str]:
    """Split a normalised command line into its leading address (0..99) and the command."""
    digits = 0
    while digits < 2 and digits < len(text) and text[digits] in "0123456789":
        digits += 1
    return (int(text[:digits]) if digits else None), text[digits:]


#: Spaces and every byte outside printable ASCII: dropped from a command line.
_NOT_COMMAND_TEXT = bytes(b for b in range(256) if not 0x20 < b < 0x7F)


def _normalise(raw: bytes) -> str:
    return raw.translate(None, _NOT_COMMAND_TEXT).decode("ascii").upper()


class CommandDecoder:
    """Pump-side stream decoder: bytes in, :class:`Command` or :class:`BadPacket` out."""

    def __init__(self) -> None:
        self._line = bytearray()
        self._packet: bytearray | None = None
        self._last_byte_s: float | None = None

    def feed(self, data: bytes, now_s: float | None = None) -> list[Command | BadPacket]:
        """Decode ``data`` received at ``now_s`` (monotonic seconds, for the 0.5 s gap rule)."""
        if (
            self._packet is not None
            and now_s is not None
            and self._last_byte_s is not None
            and now_s - self._last_byte_s > PACKET_GAP_S
        ):
            self._packet = None  # the manual: a gap of more than 0.5 s inside a packet discards it
        if data and now_s is not None:
            self._last_byte_s = now_s
        out: list[Command | BadPacket] = []
        index, size = 0, len(data)
        while index < size:
            packet = self._packet
            if packet is not None:
                # The bytes the packet still lacks are taken at once: its length byte says how
                # many (one at a time until it has come).
                want = 1 if len(packet) < 2 else max(1, packet[1] + 1 - len(packet))
                packet += data[index : index + want]
                index += want
                item = self._packet_done(packet)
                if item is not None:
                    out.append(item)
                continue
            byte = data[index]
            index += 1
            if byte == STX:
                self._line.clear()
                self._packet = bytearray([STX])
            elif byte == CR:
                address, text = split_address(_normalise(bytes(self._line)))
                self._line.clear()
                out.append(Command(address=address, text=text, framed=False))
            elif len(self._line) < MAX_BASIC_LINE:
                self._line.append(byte)
        return out

    def _packet_done(self, packet: bytearray) -> Command | BadPacket | None:
        if len(packet) < 2:
            return None
        length = packet[1]
        if length < _SAFE_OVERHEAD:
            self._packet = None
            return BadPacket(f"length byte {length} is below the minimum {_SAFE_OVERHEAD}")
        if len(packet) < length + 1:
            return None
        self._packet = None
        return _check_packet(packet, length)


def _check_packet(packet: bytes | bytearray, length: int) -> Command | BadPacket:
    """Validate a complete safe packet of ``length`` (STX excluded) and decode its command."""
    if packet[-1] != ETX:
        return BadPacket(f"packet of length {length} does not end with ETX")
    data = bytes(packet[2:-3])
    crc = (packet[-3] << 8) | packet[-2]
    if crc16(data) != crc:
        return BadPacket(f"CRC 0x{crc:04X} does not match 0x{crc16(data):04X}")
    if not _printable(data):
        return BadPacket("packet data holds non-printable bytes")
    address, text = split_address(_normalise(data))
    return Command(address=address, text=text, framed=True)
