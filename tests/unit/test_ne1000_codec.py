"""Golden byte vectors and decoding rules of the NE-1000 frame codec."""

from __future__ import annotations

import pytest

from pumpctl.drivers.ne1000_codec import (
    BadPacket,
    Command,
    CommandDecoder,
    Reply,
    ReplyDecoder,
    crc16,
    encode_command,
    encode_reply,
    parse_reply_payload,
    split_address,
)
from pumpctl.errors import ProtocolError

GOLDEN = [
    (b"SAF0", 0x5543, "02 08 53 41 46 30 55 43 03"),
    (b"0SAF0", 0x59AD, "02 09 30 53 41 46 30 59 AD 03"),
    (b"00A?S", 0x75A7, "02 09 30 30 41 3F 53 75 A7 03"),
    (b"00A?R", 0x6586, "02 09 30 30 41 3F 52 65 86 03"),
]


@pytest.mark.parametrize(("data", "crc", "packet_hex"), GOLDEN)
def test_crc_matches_manual_vectors(data: bytes, crc: int, packet_hex: str) -> None:
    """The CRC-16/XMODEM of each golden data field equals the manual's value."""
    assert crc16(data) == crc


def test_safe_command_frames_match_manual_vectors() -> None:
    """Safe-mode command packets are byte-identical to the manual's examples."""
    assert encode_command(None, "SAF0", safe=True) == bytes.fromhex(GOLDEN[0][2])
    assert encode_command(0, "SAF0", safe=True) == bytes.fromhex(GOLDEN[1][2])


def test_safe_alarm_replies_match_manual_vectors() -> None:
    """Safe-mode alarm replies for stall and reset are byte-identical to the golden vectors."""
    assert encode_reply(0, "A?S", safe=True) == bytes.fromhex(GOLDEN[2][2])
    assert encode_reply(0, "A?R", safe=True) == bytes.fromhex(GOLDEN[3][2])


def test_basic_frames_match_the_bolus_transcript() -> None:
    """Basic commands end in CR and basic replies are STX payload ETX, as in the nesp-lib trace."""
    assert encode_command(0, "RAT500UM", safe=False) == b"0RAT500UM\r"
    assert encode_command(0, "", safe=False) == b"0\r"
    assert encode_reply(0, "S", safe=False) == b"\x0200S\x03"
    assert encode_reply(0, "S", "NE1000V3.928", safe=False) == b"\x0200SNE1000V3.928\x03"
    assert encode_reply(7, "S", "I0.050W0.000ML", safe=False) == b"\x0207SI0.050W0.000ML\x03"


def test_decoder_reads_golden_stall_alarm() -> None:
    """The unprompted safe-mode stall packet decodes to an alarm reply with code S."""
    replies = ReplyDecoder().feed(bytes.fromhex(GOLDEN[2][2]))
    assert replies == [Reply(address=0, status="A", alarm="S", error=None, data="")]
    assert replies[0].is_alarm


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"00S", Reply(0, "S", None, None, "")),
        (b"00I", Reply(0, "I", None, None, "")),
        (b"12W", Reply(12, "W", None, None, "")),
        (b"00SNE1000V3.928", Reply(0, "S", None, None, "NE1000V3.928")),
        (b"00S26.59", Reply(0, "S", None, None, "26.59")),
        (b"00SI0.050W0.000ML", Reply(0, "S", None, None, "I0.050W0.000ML")),
        (b"00S?", Reply(0, "S", None, "?", "")),
        (b"00I?NA", Reply(0, "I", None, "?NA", "")),
        (b"00S?OOR", Reply(0, "S", None, "?OOR", "")),
        (b"00S?COM", Reply(0, "S", None, "?COM", "")),
        (b"00P?IGN", Reply(0, "P", None, "?IGN", "")),
        (b"00A?R", Reply(0, "A", "R", None, "")),
        (b"00A?T", Reply(0, "A", "T", None, "")),
        (b"00A?E", Reply(0, "A", "E", None, "")),
        (b"00A?O", Reply(0, "A", "O", None, "")),
    ],
)
def test_parse_reply_payload_kinds(payload: bytes, expected: Reply) -> None:
    """Every status, alarm and error form of the manual parses into its fields."""
    assert parse_reply_payload(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [b"", b"0S", b"00", b"00Q", b"0AS", b"00A?Z", b"00A?", b"00S?XYZ", b"00S\x01", b"AB S"],
)
def test_parse_reply_payload_rejects_malformed(payload: bytes) -> None:
    """Malformed payloads raise ProtocolError that quotes what was received."""
    with pytest.raises(ProtocolError, match="reply"):
        parse_reply_payload(payload)


def test_decoder_handles_split_and_back_to_back_frames() -> None:
    """Frames split across reads and several frames in one read all decode, in order."""
    stream = encode_reply(0, "I", safe=False) + encode_reply(0, "S", "4.699", safe=True)
    decoder = ReplyDecoder()
    got: list[Reply] = []
    for i in range(len(stream)):
        got.extend(decoder.feed(stream[i : i + 1]))
    assert [r.status for r in got] == ["I", "S"]
    assert got[1].data == "4.699"
    assert decoder.pending_bytes == 0


def test_decoder_reads_safe_frame_whose_crc_holds_stx_and_etx() -> None:
    """A safe frame is read by its length, so CRC bytes equal to STX or ETX do not cut it."""
    # Search a payload whose CRC contains a framing byte, so the test covers the case for sure.
    payload = next(
        f"00S{n}"
        for n in range(100000)
        if {0x02, 0x03} & set(crc16(f"00S{n}".encode()).to_bytes(2))
    )
    frame = encode_reply(0, "S", payload[3:], safe=True)
    assert ReplyDecoder().feed(frame) == [Reply(0, "S", None, None, payload[3:])]


def test_decoder_reports_garbage_then_recovers() -> None:
    """Bytes outside a frame raise ProtocolError once; the following frame still decodes."""
    decoder = ReplyDecoder()
    with pytest.raises(ProtocolError, match="outside a frame"):
        decoder.feed(b"\xff\x00junk" + encode_reply(0, "S", safe=False))
    assert decoder.feed(b"") == [Reply(0, "S", None, None, "")]


def test_decoder_rejects_bad_crc_and_resyncs() -> None:
    """A safe frame with a corrupted CRC raises ProtocolError; the next good frame decodes."""
    bad = bytearray(encode_reply(0, "S", safe=True))
    bad[-2] ^= 0x01
    decoder = ReplyDecoder()
    with pytest.raises(ProtocolError, match="CRC"):
        decoder.feed(bytes(bad))
    # The resync skips the remainder of the bad frame as garbage, then finds the good one.
    with pytest.raises(ProtocolError, match="outside a frame"):
        decoder.feed(encode_reply(0, "I", safe=True))
    assert decoder.feed(b"") == [Reply(0, "I", None, None, "")]


def test_decoder_rejects_truncated_basic_frame() -> None:
    """A basic reply cut short by the next STX raises ProtocolError and the next frame survives."""
    decoder = ReplyDecoder()
    with pytest.raises(ProtocolError, match="cut short"):
        decoder.feed(b"\x0200SNE10" + encode_reply(0, "S", safe=False))
    assert decoder.feed(b"") == [Reply(0, "S", None, None, "")]


def test_decoder_rejects_overlong_basic_frame() -> None:
    """A basic reply with no ETX within the reply size limit raises ProtocolError."""
    with pytest.raises(ProtocolError, match="without ETX"):
        ReplyDecoder().feed(b"\x0200S" + b"1" * 120)


def test_decoder_rejects_impossible_safe_length() -> None:
    """A safe length byte that no reply can have raises ProtocolError at once."""
    with pytest.raises(ProtocolError, match="length byte"):
        ReplyDecoder().feed(b"\x02\x05abc")
    with pytest.raises(ProtocolError, match="length byte"):
        ReplyDecoder().feed(b"\x02\xf0")


def test_decoder_waits_for_incomplete_frame() -> None:
    """A frame that has not fully arrived yields nothing and no error."""
    decoder = ReplyDecoder()
    frame = encode_reply(0, "S", "NE1000V3.928", safe=True)
    assert decoder.feed(frame[:-1]) == []
    assert decoder.pending_bytes == len(frame) - 1
    decoder.reset()
    assert decoder.pending_bytes == 0


def test_command_decoder_normalises_basic_lines() -> None:
    """Spaces and control characters are stripped and letters upper-cased in basic commands."""
    got = CommandDecoder().feed(b"0 rat 500\tum\r dia4.699\r12run\r*adr 3\r0\r")
    assert got == [
        Command(0, "RAT500UM", framed=False),
        Command(None, "DIA4.699", framed=False),
        Command(12, "RUN", framed=False),
        Command(None, "*ADR3", framed=False),
        Command(0, "", framed=False),
    ]


def test_command_decoder_accepts_safe_packets_in_basic_stream() -> None:
    """A framed packet is decoded wherever it arrives, and a half-typed basic line is dropped."""
    got = CommandDecoder().feed(b"0VE" + bytes.fromhex(GOLDEN[1][2]) + b"0VER\r")
    assert got == [Command(0, "SAF0", framed=True), Command(0, "VER", framed=False)]


def test_command_decoder_flags_bad_packets() -> None:
    """Bad CRC, missing ETX and a too-small length byte each yield BadPacket (the pump's ?COM)."""
    good = bytes.fromhex(GOLDEN[1][2])
    bad_crc = good[:-2] + bytes([good[-2] ^ 0xFF]) + good[-1:]
    no_etx = good[:-1] + b"\x00"
    decoder = CommandDecoder()
    for packet, reason in [(bad_crc, "CRC"), (no_etx, "ETX"), (b"\x02\x02", "length")]:
        (item,) = decoder.feed(packet)
        assert isinstance(item, BadPacket)
        assert reason in item.reason
    assert decoder.feed(good) == [Command(0, "SAF0", framed=True)]


def test_command_decoder_discards_packet_after_gap() -> None:
    """A gap of more than 0.5 s inside a safe packet discards it; a shorter gap does not."""
    packet = encode_command(0, "VER", safe=True)
    decoder = CommandDecoder()
    assert decoder.feed(packet[:4], now_s=10.0) == []
    assert decoder.feed(packet[4:], now_s=10.6) == []
    assert decoder.feed(packet[:4], now_s=20.0) == []
    assert decoder.feed(packet[4:], now_s=20.4) == [Command(0, "VER", framed=True)]


def test_split_address_takes_at_most_two_digits() -> None:
    """A command's address is its first one or two digits; the rest is the command."""
    assert split_address("0RUN") == (0, "RUN")
    assert split_address("99DIS") == (99, "DIS")
    assert split_address("DIS") == (None, "DIS")
    assert split_address("") == (None, "")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: encode_command(100, "RUN", safe=False), "address"),
        (lambda: encode_command(0, "RUN\r", safe=False), "command"),
        (lambda: encode_reply(0, "Q", safe=False), "status"),
        (lambda: encode_reply(0, "S", "x" * 100, safe=True), "exceeds"),
        (lambda: encode_reply(0, "S", "é", safe=True), "data"),
    ],
)
def test_encoders_reject_invalid_arguments(call: object, field: str) -> None:
    """Encoders refuse out-of-range addresses, non-printable text and unknown statuses by name."""
    assert callable(call)
    with pytest.raises(ValueError, match=field):
        call()


def test_decoder_pinned_to_safe_mode_never_reads_basic_frames() -> None:
    """In safe mode a safe frame that lost its length byte is never taken as a basic reply."""
    frame = encode_reply(0, "S", safe=True)
    decoder = ReplyDecoder(expect_safe=True)
    items: list[object] = []
    try:
        items.extend(decoder.feed(frame[:1] + frame[2:] + bytes(60)))
    except ProtocolError as err:
        items.append(err)
    assert items
    assert all(isinstance(item, ProtocolError) for item in items)


def test_decoder_pinned_to_safe_mode_reads_long_replies() -> None:
    """A long safe reply whose length byte is an ASCII digit still decodes in safe mode."""
    data = "PUMPSIM SCALE=1440.0 NOW=1764201600.123456"
    frame = encode_reply(0, "S", data, safe=True)
    assert 0x30 <= frame[1] <= 0x39
    assert ReplyDecoder(expect_safe=True).feed(frame) == [Reply(0, "S", None, None, data)]


def test_decoder_pinned_to_basic_mode_rejects_safe_frames() -> None:
    """In basic mode a frame whose second byte is not an address digit is an error."""
    with pytest.raises(ProtocolError, match="basic-mode"):
        ReplyDecoder(expect_safe=False).feed(encode_reply(0, "S", safe=True))


def test_bytes_wanted_announces_the_rest_of_a_safe_frame() -> None:
    """After STX and the length byte the decoder knows how many bytes complete the frame."""
    frame = encode_reply(0, "S", "NE1000V3.928", safe=True)
    decoder = ReplyDecoder(expect_safe=True)
    assert decoder.bytes_wanted() == 2
    decoder.feed(frame[:2])
    assert decoder.bytes_wanted() == len(frame) - 2
    basic = ReplyDecoder(expect_safe=False)
    assert basic.bytes_wanted() == 5  # the shortest basic reply: STX "00S" ETX
    basic.feed(b"\x0200S")
    assert basic.bytes_wanted() == 1
