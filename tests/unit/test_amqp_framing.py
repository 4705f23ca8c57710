"""AMQP 1.0 framing: headers, frames, heartbeats; whole, byte by byte, trailing; errors; fuzz."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrymq.protocols.amqp import performatives as P
from ferrymq.protocols.amqp.framing import (
    AMQP_HEADER,
    HEARTBEAT,
    SASL_HEADER,
    TLS_HEADER,
    FrameEvent,
    FrameParser,
    ProtocolHeader,
    encode_frame,
    encode_frame_into,
    encode_sasl_frame,
    encode_transfer,
    encode_value_frame,
)
from ferrymq.protocols.amqp.message import AmqpMessage, Header, Properties, decode_message
from ferrymq.protocols.amqp.sasl import SaslCode, SaslInit, SaslMechanisms, SaslOutcome, encode_plain
from ferrymq.protocols.amqp.types import AmqpCodecError, Symbol

MAX = 64 * 1024

PAYLOAD = AmqpMessage(
    header=Header(durable=True),
    properties=Properties(message_id="id-1", to="queue://orders"),
    body_kind="data",
    body=[b"hello"],
).encode()

CONVERSATION: list[tuple[int, Any, bytes]] = [
    (0, P.Open(container_id="client", hostname="broker", max_frame_size=MAX, idle_time_out=30000), b""),
    (1, P.Begin(remote_channel=0, next_outgoing_id=0, incoming_window=2048, outgoing_window=2048), b""),
    (
        1,
        P.Attach(
            name="sender-1",
            handle=0,
            role=P.SENDER,
            source=P.Source(address="client-src"),
            target=P.Target(address="queue://orders", capabilities=["queue"]),
            initial_delivery_count=0,
        ),
        b"",
    ),
    (1, P.Flow(next_incoming_id=0, incoming_window=2048, next_outgoing_id=1, outgoing_window=0, handle=0,
               delivery_count=0, link_credit=1000), b""),
    (1, P.Transfer(handle=0, delivery_id=0, delivery_tag=b"\x00\x00\x00\x01", message_format=0), PAYLOAD),
    (1, P.Disposition(role=P.RECEIVER, first=0, settled=True, state=P.Accepted()), b""),
    (0, None, b""),  # heartbeat
    (1, P.Detach(handle=0, closed=True), b""),
    (1, P.End(), b""),
    (0, P.Close(error=P.Error(condition=Symbol("amqp:connection:forced"), description="bye")), b""),
]  # fmt: skip


def conversation_bytes() -> bytes:
    out = bytearray(AMQP_HEADER)
    for channel, perf, payload in CONVERSATION:
        if perf is None:
            out += HEARTBEAT
        else:
            out += encode_frame(channel, perf, payload)
    return bytes(out)


def check_events(events: list[FrameEvent]) -> None:
    assert len(events) == len(CONVERSATION) + 1
    assert events[0].performative == ProtocolHeader(AMQP_HEADER)
    assert events[0].performative.is_amqp and events[0].performative.supported
    for (channel, perf, payload), ev in zip(CONVERSATION, events[1:], strict=True):
        assert ev.channel == channel
        assert ev.performative == perf
        assert bytes(ev.payload) == payload
        assert type(ev.performative) is type(perf)


def new_parser() -> FrameParser:
    p = FrameParser(MAX)
    p.expect_header()
    return p


def test_whole_buffer() -> None:
    events = new_parser().feed(conversation_bytes())
    check_events(events)
    # re-encoding every frame gives the same bytes
    out = bytearray(AMQP_HEADER)
    for ev in events[1:]:
        encode_frame_into(out, ev.channel, ev.performative, ev.payload)
    assert bytes(out) == conversation_bytes()


def test_byte_by_byte() -> None:
    p = new_parser()
    events: list[FrameEvent] = []
    for i, byte in enumerate(conversation_bytes()):
        events += p.feed(bytes((byte,)))
        assert p.buffered <= i + 1
    check_events(events)
    assert p.buffered == 0


def test_trailing_partial_frame_is_kept() -> None:
    data = conversation_bytes()
    extra = encode_frame(3, P.End())
    for cut in range(1, len(extra)):
        p = new_parser()
        events = p.feed(data + extra[:cut])
        check_events(events)
        assert p.buffered == cut
        rest = p.feed(extra[cut:])
        assert rest == [FrameEvent(3, P.End(), b"")]
        assert p.buffered == 0


def test_random_chunking_matches_whole() -> None:
    data = conversation_bytes()
    for step in (2, 3, 7, 13, 64, 200):
        p = new_parser()
        events: list[FrameEvent] = []
        for i in range(0, len(data), step):
            events += p.feed(memoryview(data)[i : i + step])
        check_events(events)


def test_transfer_payload_is_message_bytes() -> None:
    events = new_parser().feed(conversation_bytes())
    transfer = next(e for e in events if isinstance(e.performative, P.Transfer))
    msg = decode_message(transfer.payload)
    assert msg.body == [b"hello"] and msg.properties.to == "queue://orders"


def test_sasl_then_pipelined_amqp_header() -> None:
    client = (
        SASL_HEADER
        + encode_sasl_frame(SaslInit(mechanism=Symbol("PLAIN"), initial_response=encode_plain("u", "p")))
        + AMQP_HEADER
        + encode_frame(0, P.Open(container_id="c"))
    )
    for chunks in ([client], [bytes((b,)) for b in client]):
        p = new_parser()
        events = [e for c in chunks for e in p.feed(c)]
        assert [type(e.performative).__name__ for e in events] == [
            "ProtocolHeader",
            "SaslInit",
            "ProtocolHeader",
            "Open",
        ]
        assert events[0].performative.is_sasl and events[2].performative.is_amqp
    server = encode_sasl_frame(
        SaslMechanisms(sasl_server_mechanisms=["PLAIN", "ANONYMOUS"])
    ) + encode_sasl_frame(SaslOutcome(code=SaslCode.OK))
    events = FrameParser(512).feed(server)
    assert events[0].performative.sasl_server_mechanisms == ["PLAIN", "ANONYMOUS"]
    assert events[1].performative.code == SaslCode.OK
    assert server[5] == 1  # frame type SASL


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\n", b"X", b"AMQX\x00\x01\x00\x00", b"\x16\x03\x01"])
def test_bad_header_is_reported_then_input_ignored(data: bytes) -> None:
    p = new_parser()
    events = p.feed(data)
    assert len(events) == 1
    header = events[0].performative
    assert isinstance(header, ProtocolHeader)
    assert not header.valid and not header.supported
    assert p.feed(encode_frame(0, P.Open(container_id="c"))) == []


def test_unsupported_but_wellformed_headers() -> None:
    for raw in (b"AMQP\x01\x01\x00\x00", b"AMQP\x00\x00\x09\x01", b"AMQP\x00\x01\x00\x01"):
        header = new_parser().feed(raw)[0].performative
        assert header.valid and not header.supported
        assert header.protocol_id == raw[4] and header.version == tuple(raw[5:8])
    assert new_parser().feed(TLS_HEADER)[0].performative.is_tls
    # a partial header waits for more bytes
    p = new_parser()
    assert p.feed(b"AMQ") == []
    assert p.feed(b"P\x00\x01\x00\x00")[0].performative.is_amqp


def test_extended_header_is_skipped_and_channel_kept() -> None:
    body = bytearray()
    P.Begin(next_outgoing_id=1, incoming_window=2, outgoing_window=3).encode(body)
    frame = struct.pack(">IBBH", 12 + len(body), 3, 0, 7) + b"\xde\xad\xbe\xef" + bytes(body)
    events = FrameParser(MAX).feed(frame)
    assert events == [FrameEvent(7, P.Begin(next_outgoing_id=1, incoming_window=2, outgoing_window=3), b"")]
    # a heartbeat with an extended header too
    assert FrameParser(MAX).feed(struct.pack(">IBBH", 12, 3, 0, 0) + b"\x00" * 4) == [
        FrameEvent(0, None, b"")
    ]


@pytest.mark.parametrize(
    ("data", "condition"),
    [
        (struct.pack(">IBBH", 7, 2, 0, 0), "amqp:connection:framing-error"),  # size below header
        (struct.pack(">IBBH", MAX + 1, 2, 0, 0), "amqp:connection:framing-error"),  # over max
        (struct.pack(">IBBH", 8, 1, 0, 0), "amqp:connection:framing-error"),  # doff < 2
        (struct.pack(">IBBH", 8, 3, 0, 0), "amqp:connection:framing-error"),  # doff past frame
        (struct.pack(">IBBH", 8, 2, 2, 0), "amqp:connection:framing-error"),  # unknown type
        (encode_value_frame(0, "just a string"), "amqp:connection:framing-error"),
        (encode_value_frame(0, P.Error(condition=Symbol("x"))), "amqp:connection:framing-error"),
        (encode_sasl_frame(SaslInit(mechanism=Symbol("PLAIN")))[:5] + b"\x00" + b"\x00\x00"
         + encode_sasl_frame(SaslInit(mechanism=Symbol("PLAIN")))[8:], "amqp:connection:framing-error"),
        (encode_frame(0, P.Open(container_id="c"))[:5] + b"\x01"
         + encode_frame(0, P.Open(container_id="c"))[6:], "amqp:connection:framing-error"),
        (struct.pack(">IBBH", 12, 2, 0, 0) + b"\x00\x53\x10\x45", "amqp:decode-error"),  # open w/o container
        (struct.pack(">IBBH", 10, 2, 0, 0) + b"\xa1\x05", "amqp:decode-error"),  # runs past frame
    ],
)  # fmt: skip
def test_frame_errors(data: bytes, condition: str) -> None:
    with pytest.raises(AmqpCodecError) as info:
        FrameParser(MAX).feed(data)
    assert info.value.condition == condition
    assert info.value.fatal


def test_over_max_frame_size_detected_from_the_header_alone() -> None:
    p = FrameParser(1024)
    with pytest.raises(AmqpCodecError):
        p.feed(struct.pack(">I", 1025))
    # a max raised after open applies to the next frames
    p = FrameParser(512)
    big = encode_frame(0, P.Transfer(handle=0), b"x" * 600)
    with pytest.raises(AmqpCodecError):
        p.feed(big)
    p = FrameParser(512)
    p.max_frame_size = 4096
    assert len(p.feed(big)) == 1


@pytest.mark.parametrize("size", [0, 1, 100, 487, 488, 489, 1000, 5000])
def test_encode_transfer_splits_by_max_frame_size(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    t = P.Transfer(handle=2, delivery_id=9, delivery_tag=b"tag", message_format=0, settled=False)
    out = bytearray()
    frames = encode_transfer(out, 5, t, payload, 512)
    assert t.more is False
    events = FrameParser(512).feed(bytes(out))
    assert len(events) == frames
    assert all(len(encode_frame(e.channel, e.performative, e.payload)) <= 512 for e in events)
    assert b"".join(bytes(e.payload) for e in events) == payload
    assert [e.performative.more for e in events] == [True] * (frames - 1) + [False]
    assert events[0].performative.delivery_tag == b"tag" and events[0].performative.delivery_id == 9
    assert all(e.channel == 5 and e.performative.handle == 2 for e in events)
    if size <= 400:
        assert frames == 1
        assert bytes(out) == encode_frame(5, t, payload)


def test_heartbeat_constant() -> None:
    assert FrameParser(512).feed(HEARTBEAT) == [FrameEvent(0, None, b"")]
    out = bytearray()
    encode_frame_into(out, 0, None)
    assert bytes(out) == HEARTBEAT


# ---- fuzz: any bytes give events or AmqpCodecError, nothing else


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.booleans(), st.integers(1, 50))
def test_fuzz_frame_parser(data: bytes, expect_header: bool, step: int) -> None:
    p = FrameParser(1024)
    if expect_header:
        p.expect_header()
    try:
        for i in range(0, len(data), step):
            for ev in p.feed(data[i : i + step]):
                assert isinstance(ev, FrameEvent)
    except AmqpCodecError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(conversation_bytes()) - 1), st.integers(0, 255))
def test_fuzz_mutated_conversation(index: int, value: int) -> None:
    data = bytearray(conversation_bytes())
    data[index] = value
    try:
        new_parser().feed(bytes(data))
    except AmqpCodecError:
        pass
