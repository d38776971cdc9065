"""Property tests: frames round-trip; random and mutated bytes never crash the parsers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pumpctl.drivers.ne1000_codec import (
    ALARMS,
    ERRORS,
    STATUSES,
    BadPacket,
    Command,
    CommandDecoder,
    Reply,
    ReplyDecoder,
    encode_command,
    encode_reply,
)
from pumpctl.errors import ProtocolError

addresses = st.integers(min_value=0, max_value=99)
value_text = st.text(alphabet="0123456789.IWMLUH", max_size=20)
command_text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.*", max_size=30).filter(
    lambda t: not t[:1].isdigit()
)


@st.composite
def replies(draw: st.DrawFn) -> Reply:
    address = draw(addresses)
    if draw(st.booleans()):
        return Reply(address, "A", draw(st.sampled_from(sorted(ALARMS))), None, "")
    status = draw(st.sampled_from(sorted(STATUSES)))
    if draw(st.booleans()):
        return Reply(address, status, None, draw(st.sampled_from(sorted(ERRORS))), "")
    return Reply(address, status, None, None, draw(value_text))


def _encode(reply: Reply, safe: bool) -> bytes:
    status = f"A?{reply.alarm}" if reply.alarm else reply.status
    return encode_reply(reply.address, status, (reply.error or "") + reply.data, safe=safe)


def _drain(decoder: ReplyDecoder, data: bytes) -> list[Reply | ProtocolError]:
    """Feed ``data`` and keep feeding nothing until the decoder has no more to say."""
    out: list[Reply | ProtocolError] = []
    chunk = data
    for _ in range(len(data) + 2):
        try:
            out.extend(decoder.feed(chunk))
            chunk = b""
            break
        except ProtocolError as err:
            out.append(err)
            chunk = b""
    return out


@settings(max_examples=300)
@given(st.lists(st.tuples(replies(), st.booleans()), max_size=6), st.integers(1, 8))
def test_reply_stream_round_trips(frames: list[tuple[Reply, bool]], chunk: int) -> None:
    """Any sequence of basic and safe replies, fed in any chunk size, decodes unchanged."""
    stream = b"".join(_encode(r, safe) for r, safe in frames)
    decoder = ReplyDecoder()
    got: list[Reply] = []
    for i in range(0, len(stream), chunk):
        got.extend(decoder.feed(stream[i : i + chunk]))
    assert got == [r for r, _ in frames]
    assert decoder.pending_bytes == 0


@settings(max_examples=300)
@given(st.one_of(st.none(), addresses), command_text, st.booleans())
def test_command_round_trips(address: int | None, text: str, safe: bool) -> None:
    """Every command, basic or safe, decodes on the pump side to its address and text."""
    got = CommandDecoder().feed(encode_command(address, text, safe=safe))
    assert got == [Command(address, text, framed=safe)]


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes_give_replies_or_protocol_errors(data: bytes) -> None:
    """Random bytes make the reply decoder return replies or raise ProtocolError, nothing else."""
    for item in _drain(ReplyDecoder(), data):
        assert isinstance(item, Reply | ProtocolError)


@settings(max_examples=500)
@given(replies(), st.booleans(), st.data())
def test_mutated_frames_never_decode_silently_wrong(
    reply: Reply, safe: bool, data: st.DataObject
) -> None:
    """A frame with one byte changed or dropped never crashes; in safe mode it is never accepted."""
    frame = bytearray(_encode(reply, safe))
    index = data.draw(st.integers(0, len(frame) - 1))
    if data.draw(st.booleans()):
        frame[index] ^= data.draw(st.integers(1, 255))
    else:
        del frame[index]
    for item in _drain(ReplyDecoder(), bytes(frame)):
        assert isinstance(item, Reply | ProtocolError)
    if safe:
        # With the framing pinned, length and CRC catch every single-byte change or loss.
        items = _drain(ReplyDecoder(expect_safe=True), bytes(frame))
        assert all(isinstance(item, ProtocolError) for item in items)


@settings(max_examples=500)
@given(st.binary(max_size=200), st.lists(st.floats(0, 2), max_size=4))
def test_random_bytes_on_pump_side_never_raise(data: bytes, gaps: list[float]) -> None:
    """Random bytes make the command decoder yield commands or BadPacket, never an exception."""
    decoder = CommandDecoder()
    now_s = 0.0
    parts = [data[i::4] for i in range(4)]
    for part, gap in zip(parts, [*gaps, 0.0, 0.0, 0.0, 0.0], strict=False):
        now_s += gap
        for item in decoder.feed(part, now_s=now_s):
            assert isinstance(item, Command | BadPacket)


@settings(max_examples=400)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.one_of(st.none(), addresses), command_text, st.booleans()).map(
                lambda c: encode_command(c[0], c[1], safe=c[2])
            ),
            st.binary(max_size=12),
        ),
        max_size=8,
    ),
    st.integers(min_value=1, max_value=40),
)
def test_command_stream_decodes_alike_in_any_chunking(parts: list[bytes], chunk: int) -> None:
    """The pump side takes a safe packet's bytes by its length, not one at a time: commands,
    damaged packets and noise, fed in chunks of any size, decode to exactly what the same
    bytes fed one by one give."""
    stream = b"".join(parts)
    one_by_one = CommandDecoder()
    expected = [item for i in range(len(stream)) for item in one_by_one.feed(stream[i : i + 1])]
    chunked = CommandDecoder()
    got = [
        item for i in range(0, len(stream), chunk) for item in chunked.feed(stream[i : i + chunk])
    ]
    assert got == expected


def test_safe_commands_split_anywhere_decode_whole() -> None:
    """Two safe packets and a basic line cut into 3-byte pieces decode as sent."""
    stream = (
        encode_command(0, "DIS", safe=True)
        + encode_command(0, "RAT10UM", safe=True)
        + encode_command(None, "VER", safe=False)
    )
    decoder = CommandDecoder()
    got = [item for i in range(0, len(stream), 3) for item in decoder.feed(stream[i : i + 3])]
    assert got == [
        Command(0, "DIS", framed=True),
        Command(0, "RAT10UM", framed=True),
        Command(None, "VER", framed=False),
    ]
