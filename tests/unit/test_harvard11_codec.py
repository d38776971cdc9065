"""Byte-level tests of the Protocol 11 codec shared by the driver and pumpsim."""

from __future__ import annotations

import pytest

from pumpctl.drivers.harvard11_codec import (
    CommandDecoder,
    ReplyDecoder,
    encode_command,
    encode_reply,
    parse_command_line,
)
from pumpctl.errors import ProtocolError


@pytest.mark.parametrize(
    ("line", "address", "word", "args"),
    [
        ("irun", None, "irun", ()),
        ("0irun ", 0, "irun", ()),
        ("00status", 0, "status", ()),
        ("12:irat 3.2 ul/min", 12, "irat", ("3.2", "ul/min")),
        ("0IRATE 0.5000000000 m/m", 0, "irate", ("0.5000000000", "m/m")),
        ("0  ", 0, "", ()),
        ("", None, "", ()),
    ],
)
def test_command_lines_split_into_address_word_and_arguments(
    line: str, address: int | None, word: str, args: tuple[str, ...]
) -> None:
    """An optional 1-2 digit address (with or without ':'), a case-blind word, its arguments."""
    command = parse_command_line(line)
    assert (command.address, command.word, command.args) == (address, word, args)


def test_cr_ends_a_command_and_lf_is_ignored() -> None:
    """CR or CR LF both end a line; the LF of CR LF does not start an empty command."""
    decoder = CommandDecoder()
    lines = decoder.feed(b"0ver\r\n0ivol")
    assert [c.word for c in lines] == ["ver"]
    assert [c.word for c in decoder.feed(b"ume\r")] == ["ivolume"]


def test_reply_framing_matches_the_manuals_syntax() -> None:
    """Data lines are LF text CR; the prompt is LF, the address if any, the prompt, no end."""
    assert encode_reply(None, ["4.6990 mm"], ":") == b"\n4.6990 mm\r\n:"
    assert encode_reply(0, ["50 ul"], ">") == b"\n00:50 ul\r\n00>"
    assert encode_reply(7, [], "T*") == b"\n07T*"
    assert encode_command(0, "irate 500 ul/min") == b"0irate 500 ul/min\r"


def test_an_unambiguous_prompt_completes_the_reply_at_once() -> None:
    """'>' after the expected lines ends the reply without waiting."""
    decoder = ReplyDecoder(address=0)
    decoder.feed(b"\n00:50 ul\r\n00>")
    reply = decoder.reply(1)
    assert reply is not None
    assert (reply.lines, reply.prompt) == (("50 ul",), ">")


def test_an_addressed_idle_prompt_waits_for_the_line_to_stay_quiet() -> None:
    """'LF 00:' may begin a data line: a setting's reply is complete only once confirmed."""
    decoder = ReplyDecoder(address=0)
    decoder.feed(b"\n00:")
    assert decoder.reply(0) is None
    assert decoder.pending_prompt()
    decoder.feed(b"Out of range\r\n00:")
    assert decoder.reply(0) is None  # an error may run over several lines
    assert decoder.pending_prompt()
    reply = decoder.take_idle_prompt()
    assert (reply.error, reply.prompt) == ("Out of range", ":")


def test_a_following_reply_terminates_the_prompt_and_stays_buffered() -> None:
    """A duplicated reply is split at the second LF; the copy waits for the next read."""
    decoder = ReplyDecoder(address=0)
    decoder.feed(b"\n00:50 ul\r\n00:\n00:50 ul\r\n00:")
    first = decoder.reply(1)
    second = decoder.reply(1)
    assert first is not None and second is not None
    assert first.lines == second.lines == ("50 ul",)
    assert decoder.pending_bytes == 0


def test_the_target_reached_prompt_needs_its_star() -> None:
    """'T' alone is not yet a prompt; 'T*' is."""
    decoder = ReplyDecoder()
    decoder.feed(b"\nT")
    assert decoder.reply() is None
    decoder.feed(b"*")
    reply = decoder.reply()
    assert reply is not None and reply.prompt == "T*"


def test_a_reply_from_another_address_is_a_protocol_error() -> None:
    """Address 03 answering for 00 is refused, not taken."""
    decoder = ReplyDecoder(address=0)
    decoder.feed(b"\n03>")
    with pytest.raises(ProtocolError, match="address 3"):
        decoder.reply()


def test_non_ascii_bytes_are_a_protocol_error() -> None:
    """A garbled reply (bytes >= 0x80) is never decoded into a plausible value."""
    decoder = ReplyDecoder(address=0)
    decoder.feed(b"\n00:5\xf30 ul\r\n00:")
    with pytest.raises(ProtocolError, match="non-ASCII"):
        decoder.reply(1)


def test_bytes_before_the_first_lf_are_junk() -> None:
    """An echo or line noise before a reply is set aside and reported, not parsed."""
    decoder = ReplyDecoder()
    decoder.feed(b"ver\r\n11 ELITE I/W Single 3.0.4\r\n:")
    reply = decoder.reply(1)
    assert reply is not None and reply.lines == ("11 ELITE I/W Single 3.0.4",)
    assert decoder.junk == [b"ver\r"]


def test_a_reply_arriving_byte_by_byte_decodes_the_same() -> None:
    """Split anywhere (a TCP segment, a USB packet), the reply decodes to the same lines."""
    data = b"\n00:50 ul\r\n00>"
    decoder = ReplyDecoder(address=0)
    replies = []
    for byte in data:
        decoder.feed(bytes([byte]))
        reply = decoder.reply(1)
        if reply is not None:
            replies.append(reply)
    assert [(r.lines, r.prompt) for r in replies] == [(("50 ul",), ">")]
