"""Pure byte codec for Harvard Apparatus "Protocol 11" (Pump 11 Elite, PHD Ultra), both sides.

The pump-chain syntax (``docs/driver.md`` has the sources)::

    command  [addr[:]]<word>[ <arg>...] CR        e.g. b"0irate 500 ul/min\\r"  (LF ignored)
    reply    (LF [addr:]<text> CR)*  LF [addr]<prompt>
    prompt   ":" idle   ">" infusing   "<" withdrawing   "*" stalled   "T*" target reached

Words are case-insensitive. ``addr`` in a reply is two digits; it is there when the pump's address
is not 0 or when the command carried an address. Errors are text lines (``Command error``,
``Unknown command``, ``Argument error``, ``Out of range``) followed by the prompt. The prompt has
no terminator: a reader knows a reply is complete when the prompt is unambiguous (``>``, ``<``,
``*``, ``T*``, or an unaddressed ``:``), when it has the data lines it expects, or when the line
stays quiet after ``LF addr:`` (which may also begin a data line). When the target volume is
reached the pump also sends ``LF [addr]T*`` on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pumpctl.errors import ProtocolError

CR = 0x0D
LF = 0x0A
PROMPTS = (":", ">", "<", "*", "T*")
#: Error texts a pump answers instead of data (each followed by the prompt).
ERRORS = ("Command error", "Unknown command", "Argument error", "Out of range")
#: Longest command line the pump side keeps (bounds its memory; the rest is dropped).
MAX_COMMAND_LINE = 256
#: Longest reply line accepted by the client side before it counts as garbage.
MAX_REPLY_LINE = 160

_ADDRESS_RE = re.compile(r"\s*(?P<addr>[0-9]{1,2})?:?\s*")
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")


# -- pump side -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command line as the pump received it."""

    address: int | None
    word: str  # lower case; "" for an empty line (a prompt request)
    args: tuple[str, ...]
    text: str  # the line as received, without CR

    @property
    def addressed(self) -> bool:
        return self.address is not None


def parse_command_line(text: str) -> Command:
    """Split ``[addr[:]]word args`` (no CR); a line that is not a command has word ``"?"``."""
    match = _ADDRESS_RE.match(text)
    assert match is not None  # noqa: S101 - the pattern matches the empty string
    address = int(match["addr"]) if match["addr"] is not None else None
    rest = text[match.end() :].strip()
    if not rest:
        return Command(address, "", (), text)
    word, _, arguments = rest.partition(" ")
    if _WORD_RE.fullmatch(word) is None:
        return Command(address, "?", tuple(rest.split()), text)
    return Command(address, word.lower(), tuple(arguments.split()), text)


class CommandDecoder:
    """Pump-side line assembler: bytes in, complete command lines out (CR ends a line)."""

    def __init__(self) -> None:
        self._line = bytearray()

    def reset(self) -> None:
        self._line.clear()

    def feed(self, data: bytes) -> list[Command]:
        out: list[Command] = []
        for byte in data:
            if byte == CR:
                text = self._line.decode("ascii", "replace")
                self._line.clear()
                out.append(parse_command_line(text))
            elif 0x20 <= byte < 0x7F and len(self._line) < MAX_COMMAND_LINE:
                self._line.append(byte)
            # LF, other control characters and non-ASCII bytes are not part of a command.
        return out


def encode_reply(address: int | None, lines: list[str] | tuple[str, ...], prompt: str) -> bytes:
    """Frame data ``lines`` and the ``prompt`` (``address`` None: no address prefix)."""
    if prompt not in PROMPTS:
        raise ValueError(f"prompt={prompt!r} is not one of {PROMPTS}")
    head = "" if address is None else f"{address:02d}"
    parts = []
    for line in lines:
        if not line.isascii() or not line.isprintable():
            raise ValueError(f"reply line {line!r} must be printable ASCII")
        parts.append(f"\n{head + ':' if head else ''}{line}\r")
    parts.append(f"\n{head}{prompt}")
    return "".join(parts).encode("ascii")


# -- client side ---------------------------------------------------------------------------------


def encode_command(address: int | None, command: str) -> bytes:
    """``command`` (word and arguments) as a line for the pump at ``address``."""
    if address is not None and not 0 <= address <= 99:
        raise ValueError(f"address={address!r} is out of range; allowed 0..99")
    if not command.isascii() or not command.isprintable():
        raise ValueError(f"command={command!r} must be printable ASCII without CR")
    return (("" if address is None else str(address)) + command + "\r").encode("ascii")


@dataclass(frozen=True)
class Reply:
    """One complete reply: its data lines (address removed) and its prompt."""

    address: int | None
    lines: tuple[str, ...]
    prompt: str

    @property
    def error(self) -> str | None:
        """The error text the pump answered, or None."""
        for line in self.lines:
            for error in ERRORS:
                if line.startswith(error):
                    return error
        return None


@dataclass
class ReplyDecoder:
    """Client-side stream decoder for one exchange at a time.

    ``feed`` takes bytes; ``reply(expected_lines)`` returns the reply once it is certainly
    complete (see the module docstring), ``pending_prompt`` says whether the buffer ends with an
    ``LF addr:`` that only a quiet line can confirm as the prompt, and ``take_idle_prompt``
    accepts it then. Bytes before the first LF of a reply (an echo, line noise) are dropped and
    reported in ``junk``; an over-long or non-ASCII line raises :class:`ProtocolError`.
    """

    address: int | None = None
    junk: list[bytes] = field(default_factory=list)
    _buf: bytearray = field(default_factory=bytearray)

    def reset(self) -> None:
        self._buf.clear()

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf.extend(data)
        start = self._buf.find(LF)
        if start > 0:
            self.junk.append(bytes(self._buf[:start]))
            del self._buf[:start]
        elif start < 0 and len(self._buf) > MAX_REPLY_LINE:
            self.junk.append(bytes(self._buf))
            self._buf.clear()

    def _scan(self) -> tuple[list[str], str, int | None] | None:
        """Data lines, the prompt-or-partial tail, and where a terminated tail ends.

        None while the buffer holds no reply start. The tail is terminated when another LF
        follows it (the next reply, a notice or a duplicate): then it must be a prompt.
        """
        buf = bytes(self._buf)
        if not buf.startswith(b"\n"):
            return None
        if any(b >= 0x80 for b in buf):
            self._buf.clear()
            raise ProtocolError(f"reply holds non-ASCII bytes: {buf[:32].hex(' ')}")
        text = buf.decode("ascii")
        lines: list[str] = []
        pos = 1
        while True:
            end = text.find("\n", pos)
            if end < 0:
                tail = text[pos:]
                if len(tail) > MAX_REPLY_LINE:
                    self._buf.clear()
                    raise ProtocolError(f"reply line of {len(tail)} characters without an end")
                return lines, tail, None
            piece = text[pos:end]
            if not piece.endswith("\r"):
                return lines, piece, end
            lines.append(piece[:-1])
            pos = end + 1

    def _split(self, line: str, *, prompt: bool) -> tuple[int | None, str]:
        """Strip the address from a data line (``NN:``) or a prompt (``NN``)."""
        if self.address is None:
            return None, line
        head = f"{self.address:02d}"
        if line[:2].isdigit() and len(line) >= 2:
            got = int(line[:2])
            if got != self.address:
                self._buf.clear()
                raise ProtocolError(f"reply from address {got}; expected {self.address}")
            rest = line[2:]
            if not prompt:
                if not rest.startswith(":"):
                    self._buf.clear()
                    raise ProtocolError(f"data line {line!r} lacks ':' after address {head}")
                rest = rest[1:]
            return got, rest
        if line.startswith(tuple(PROMPTS)) and prompt:
            return None, line  # an unaddressed prompt: the pump at address 0 may answer so
        self._buf.clear()
        raise ProtocolError(f"reply line {line!r} lacks the address {head}")

    def reply(self, expected_lines: int = 0, *, bare: bool = False) -> Reply | None:
        """The reply, once the buffer certainly holds all of it; None while it may go on.

        ``bare``: the command can draw no data line (a prompt request), so ``NN:`` ends it.
        """
        scan = self._scan()
        if scan is None:
            return None
        lines, tail, end = scan
        if end is not None:
            address, prompt = self._split(tail, prompt=True)
            if prompt not in PROMPTS:
                self._buf.clear()
                raise ProtocolError(f"reply line {tail!r} ends without CR and is no prompt")
            return self._finish(lines, address, prompt, end)
        if not tail or (self.address is not None and len(tail) < 2 and tail.isdigit()):
            return None  # nothing yet after the LF, or half an address
        address, prompt = self._split(tail, prompt=True)
        if prompt not in PROMPTS:
            return None  # a data line still arriving, or "T" waiting for its "*"
        ambiguous = prompt == ":" and self.address is not None and not bare
        if ambiguous and (expected_lines == 0 or len(lines) < expected_lines):
            return None  # "NN:" may be the start of a data line: wait for more or for quiet
        return self._finish(lines, address, prompt, len(self._buf))

    def pending_prompt(self) -> bool:
        """Whether the buffer ends with ``LF NN:``, which a quiet line confirms as the prompt."""
        scan = self._scan()
        if scan is None or self.address is None or scan[2] is not None:
            return False
        return scan[1] == f"{self.address:02d}:"

    def take_idle_prompt(self) -> Reply:
        """Accept the pending ``LF NN:`` as the idle prompt (the line stayed quiet)."""
        scan = self._scan()
        if scan is None or not self.pending_prompt():
            raise ProtocolError("no pending idle prompt to accept")
        return self._finish(scan[0], self.address, ":", len(self._buf))

    def _finish(self, lines: list[str], address: int | None, prompt: str, end: int) -> Reply:
        try:
            data = tuple(self._split(line, prompt=False)[1] for line in lines)
        finally:
            del self._buf[:end]
        return Reply(address=address, lines=data, prompt=prompt)
