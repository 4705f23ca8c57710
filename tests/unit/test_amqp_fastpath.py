"""AMQP 1.0 fast paths against the generic codec: the transfer decoder in the frame parser,
the section scan of ``to_core`` and the direct ``encode_rest`` must give exactly what the
generic code gives (same values, same bytes, same errors)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_amqp_message import headers as message_headers
from test_amqp_message import ids as message_ids

from ferrymq.core import BYTES, TEXT, DestinationName, Message
from ferrymq.protocols.amqp import framing
from ferrymq.protocols.amqp.framing import FrameParser, _fast_transfer, encode_frame
from ferrymq.protocols.amqp.mapping import (
    _decode_fast,
    _header,
    decode_sections,
    encode_delivery,
    encode_rest,
    encode_rest_generic,
    to_core,
)
from ferrymq.protocols.amqp.message import (
    BODY_DATA,
    BODY_NONE,
    BODY_SEQUENCE,
    BODY_VALUE,
    AmqpMessage,
    Header,
    Properties,
    decode_message,
)
from ferrymq.protocols.amqp.performatives import Accepted, Transfer
from ferrymq.protocols.amqp.types import AmqpCodecError, Symbol, decode_value

# -- transfers ----------------------------------------------------------------------------------


def generic_transfer(frame: bytes) -> Any:
    """The performative of one frame through the generic described-value decoder."""
    body = frame[4] * 4
    value, _ = decode_value(frame, body)
    return value


def parsed(frame: bytes) -> tuple[Any, bytes]:
    events = FrameParser(1 << 20).feed(frame)
    assert len(events) == 1
    return events[0].performative, bytes(events[0].payload)


def same_transfer(a: Transfer, b: Transfer) -> None:
    assert a == b
    for attr in Transfer.SPEC.slots:
        assert type(getattr(a, attr)) is type(getattr(b, attr)), attr


uints = st.none() | st.integers(0, 2**32 - 1)
transfers = st.builds(
    Transfer,
    handle=st.integers(0, 2**32 - 1),
    delivery_id=uints,
    delivery_tag=st.none() | st.binary(max_size=40),
    message_format=uints,
    settled=st.none() | st.booleans(),
    more=st.booleans(),
    rcv_settle_mode=st.none() | st.sampled_from([0, 1]),
    state=st.none() | st.just(Accepted()),
    aborted=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(transfers, st.binary(max_size=64))
def test_fast_transfer_decodes_as_the_generic_decoder(t: Transfer, payload: bytes) -> None:
    frame = encode_frame(3, t, payload)
    perf, got_payload = parsed(frame)
    same_transfer(perf, generic_transfer(frame))
    assert got_payload == payload


def test_fast_path_takes_the_common_transfers() -> None:
    # what proton sends: handle, delivery-id, tag, format, settled (and more)
    for t in (
        Transfer(handle=0, delivery_id=50, delivery_tag=b"50", message_format=0, settled=True),
        Transfer(handle=300, delivery_id=70000, delivery_tag=b"x" * 8, message_format=0, more=True),
        Transfer(handle=1, delivery_id=0, delivery_tag=b"", message_format=0),
    ):
        frame = encode_frame(0, t, b"abc")
        body = frame[4] * 4
        fast = _fast_transfer(frame, body + 6, frame[body + 5], body + 5 + frame[body + 4])
        assert fast is not None
        same_transfer(fast, generic_transfer(frame))


def parse_outcome(frame: bytes, fast: bool) -> Any:
    """The parser's events for ``frame``, or the error it raised; ``fast`` False takes the
    transfer fast path out."""
    saved = framing._fast_transfer
    if not fast:
        framing._fast_transfer = lambda *a: None  # type: ignore[assignment]
    try:
        events = FrameParser(1 << 20).feed(frame)
        return [(e.channel, e.performative, bytes(e.payload)) for e in events]
    except AmqpCodecError as e:
        return ("error", e.condition)
    finally:
        framing._fast_transfer = saved


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200), st.integers(0, 255), st.booleans())
def test_mutated_transfers_parse_as_without_the_fast_path(index: int, value: int, cut: bool) -> None:
    t = Transfer(handle=70000, delivery_id=5, delivery_tag=b"tag", message_format=0, settled=False, more=True)
    frame = bytearray(encode_frame(0, t, b"payload"))
    # mutate inside the performative (after the 8-byte frame header and the descriptor)
    lo, hi = 11, len(frame) - len(b"payload")
    frame[lo + index % (hi - lo)] = value
    if cut:
        frame = frame[: hi - 1]
        frame[0:4] = len(frame).to_bytes(4, "big")
    fast, slow = parse_outcome(bytes(frame), True), parse_outcome(bytes(frame), False)
    assert fast == slow
    if isinstance(fast, list) and isinstance(fast[0][1], Transfer):
        same_transfer(fast[0][1], slow[0][1])


# -- incoming messages ----------------------------------------------------------------------------

symbols = st.text(alphabet="abcxyz-", min_size=1, max_size=10).map(Symbol)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20), st.binary(max_size=20)
)
headers = message_headers  # the strategies of the generic codec's tests
ids = message_ids
properties = st.builds(
    Properties,
    message_id=ids,
    user_id=st.none() | st.binary(max_size=10),
    to=st.none() | st.text(max_size=20),
    subject=st.none() | st.text(max_size=20),
    correlation_id=ids,
    content_type=st.none() | symbols,
    creation_time=st.none() | st.integers(0, 2**62),
)
bodies = st.one_of(
    st.tuples(st.just(BODY_DATA), st.lists(st.binary(max_size=300), min_size=1, max_size=3)),
    st.tuples(st.just(BODY_SEQUENCE), st.lists(st.lists(scalars, max_size=4), min_size=1, max_size=2)),
    st.tuples(st.just(BODY_VALUE), scalars | st.dictionaries(st.text(max_size=5), scalars, max_size=4)),
    st.tuples(st.just(BODY_NONE), st.none()),
)
annotations = st.none() | st.dictionaries(symbols, scalars, max_size=4)


def norm(sections: tuple[Any, ...]) -> tuple[Any, ...]:
    """The fast path reads an empty properties section as none."""
    h, ma, props, app, kind, body = sections
    if props is not None and props == Properties():
        props = None
    return h, ma, props, app, kind, body


def generic_sections(data: bytes) -> tuple[Any, ...]:
    am = decode_message(data)
    return norm(
        (am.header, am.message_annotations, am.properties, am.application_properties, am.body_kind, am.body)
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.none() | headers,
    annotations,
    annotations,
    st.none() | properties,
    st.none() | st.dictionaries(st.text(max_size=10), scalars, max_size=5),
    bodies,
    annotations,
)
def test_section_scan_matches_the_generic_decoder(
    header: Any, da: Any, ma: Any, props: Any, app: Any, body: tuple[str, Any], footer: Any
) -> None:
    raw = AmqpMessage(header, da, ma, props, app, body[0], body[1], footer).encode()
    assert norm(decode_sections(raw)) == generic_sections(raw)
    fast = _decode_fast(raw)
    if da is None and footer is None and body[0] != BODY_SEQUENCE:
        assert fast is not None  # the common shapes take the fast path
    # twice: the second decode reads the cached header and annotations
    assert norm(decode_sections(raw)) == generic_sections(raw)
    memo: list[Any] = [None, None]
    for _ in range(2):  # the second time from the memo when it took it
        assert norm(decode_sections(raw, memo)) == generic_sections(raw)


def test_memo_reads_only_payloads_that_repeat_the_prefix() -> None:
    memo: list[Any] = [None, None]
    durable = bytes.fromhex("005370c0020141")
    plain = bytes.fromhex("00537045")
    props = bytes.fromhex("00537345")
    app = AmqpMessage(application_properties={"k": 1}).encode()
    for head in (durable + props, durable + app, plain):
        for body in (b"", b"x" * 8, b"y" * 300):
            raw = AmqpMessage(body_kind=BODY_DATA, body=[body]).encode()
            for tail in (b"", raw):  # a second data section: not from the memo
                data = head + raw + tail
                assert norm(decode_sections(data, memo)) == generic_sections(data)
                assert memo[0] is None or data.startswith(memo[0])
    # a properties section (message ids differ per message) is never memorised
    memo = [None, None]
    data = AmqpMessage(properties=Properties(message_id="ID:1"), body_kind=BODY_DATA, body=[b"a"]).encode()
    decode_sections(data, memo)
    assert memo == [None, None]
    # a truncated data section after a remembered prefix fails as the generic decoder does
    memo = [None, None]
    decode_sections(durable + AmqpMessage(body_kind=BODY_DATA, body=[b"abc"]).encode(), memo)
    with pytest.raises(AmqpCodecError):
        decode_sections(durable + bytes.fromhex("005375a005") + b"ab", memo)


def test_proton_bytes_take_the_fast_path() -> None:
    for raw in (
        bytes.fromhex("0053704500537345005375a0087878787878787878"),
        bytes.fromhex("005370c002014100537345005375a0087878787878787878"),
    ):
        assert _decode_fast(raw) is not None
        m = to_core(raw, DestinationName("queue", "q"))
        assert m.body == b"x" * 8 and m.body_kind == BYTES
        assert m.persistent == (raw[3] == 0xC0)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_mutated_messages_decode_or_fail_as_the_generic_decoder(index: int, value: int) -> None:
    raw = AmqpMessage(
        Header(durable=True, priority=7),
        None,
        {Symbol("x-opt-jms-msg-type"): 3},
        Properties(message_id="ID:1", to="queue://a", creation_time=5),
        {"k": "v"},
        BODY_DATA,
        [b"abc", b"d" * 300],
    ).encode()
    data = bytearray(raw)
    data[index % len(data)] = value
    data_b = bytes(data)
    try:
        expected = generic_sections(data_b)
    except AmqpCodecError:
        with pytest.raises(AmqpCodecError):
            decode_sections(data_b)
        return
    assert norm(decode_sections(data_b)) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_section_scan_only_codec_errors(data: bytes) -> None:
    try:
        decode_sections(data)
    except AmqpCodecError:
        pass


# -- outgoing messages ----------------------------------------------------------------------------

Q = DestinationName("queue", "orders")
core_ids = st.one_of(
    st.text(min_size=1, max_size=300),
    st.just("ID:AMQP_UUID:" + str(uuid.UUID(int=5))),
    st.just("ID:AMQP_ULONG:42"),
    st.just("ID:AMQP_BINARY:0102"),
    st.just("ID:AMQP_NO_PREFIX:abc"),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([Q, DestinationName("topic", "a.b"), DestinationName("temp-queue", "t" * 300)]),
    st.one_of(
        st.tuples(st.just(BYTES), st.binary(max_size=400)),
        st.tuples(st.just(TEXT), st.text(max_size=300)),
        st.tuples(st.just("map"), st.dictionaries(st.text(max_size=5), st.integers(0, 9), max_size=3)),
    ),
    core_ids,
    st.none() | st.text(max_size=10),  # user id
    st.none() | st.text(max_size=300),  # type
    st.none() | core_ids,  # correlation id
    st.none() | st.sampled_from(["text/plain", "application/octet-stream"]),
    st.integers(0, 2**40),  # expiration
    st.integers(0, 2**41),  # timestamp (0: the core sets now)
    st.none() | st.text(max_size=10),  # group id
    st.integers(-1, 2**32 - 1),
    st.booleans(),  # properties
    st.booleans(),  # reply to
)
def test_encode_rest_matches_the_generic_encoder(
    dest: DestinationName,
    body: tuple[str, Any],
    mid: str,
    user_id: Any,
    mtype: Any,
    cid: Any,
    ctype: Any,
    expiration: int,
    timestamp: int,
    gid: Any,
    gseq: int,
    with_props: bool,
    with_reply: bool,
) -> None:
    m = Message(
        dest,
        body[1],
        body[0],
        message_id=mid,
        user_id=user_id,
        type=mtype,
        correlation_id=cid,
        content_type=ctype,
        expiration=expiration,
        timestamp=timestamp,
        group_id=gid,
        group_seq=gseq,
        properties={"a": 1, "JMS_AMQP_MA_x-opt-k": "v"} if with_props else None,
        reply_to=Q if with_reply else None,
    )
    assert encode_rest(m) == encode_rest_generic(m)
    head = bytes.fromhex("005370c0020141")
    assert encode_rest(m, head) == head + encode_rest_generic(m)
    if not expiration:
        assert encode_delivery(m, 0) == _header(m, None, 0) + encode_rest_generic(m)
        assert encode_delivery(m, 3) == _header(m, None, 3) + encode_rest_generic(m)


def test_delivery_payload_of_the_plain_message() -> None:
    m = Message(Q, b"x" * 300, BYTES, message_id="ID:1", timestamp=1700000000000, persistent=True)
    first = encode_delivery(m, 0)
    again = encode_delivery(m, 2)
    assert first.endswith(encode_rest_generic(m)) and again.endswith(encode_rest_generic(m))
    back = decode_message(again)
    assert back.header.durable and back.header.delivery_count == 2
    assert back.properties.message_id == "ID:1" and back.properties.to == "queue://orders"
    assert back.body == [b"x" * 300]
