"""AMQP 1.0 message sections: decode/encode, body kinds, order rules, bare-message split, fuzz."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrymq.protocols.amqp.message import (
    BODY_DATA,
    BODY_NONE,
    BODY_SEQUENCE,
    BODY_VALUE,
    AmqpMessage,
    AmqpSequence,
    AmqpValue,
    ApplicationProperties,
    Data,
    DeliveryAnnotations,
    Footer,
    Header,
    MessageAnnotations,
    Properties,
    decode_message,
    encode_header,
    encode_message,
    section_offsets,
    split_bare_message,
)
from ferrymq.protocols.amqp.performatives import Open
from ferrymq.protocols.amqp.types import AmqpCodecError, Described, Symbol, ULong, decode_value, encoded

FULL = AmqpMessage(
    header=Header(durable=True, priority=7, ttl=60000, first_acquirer=True, delivery_count=2),
    delivery_annotations={Symbol("x-opt-trace"): "abc"},
    message_annotations={Symbol("x-opt-jms-msg-type"): 5, Symbol("x-opt-jms-dest"): 0},
    properties=Properties(
        message_id="ID:1",
        user_id=b"alice",
        to="queue://orders",
        subject="order",
        reply_to="queue://replies",
        correlation_id=ULong(7),
        content_type=Symbol("application/json"),
        creation_time=1700000000000,
        group_id="g",
        group_sequence=1,
    ),
    application_properties={"region": "eu", "amount": 12.5, "count": 3},
    body_kind=BODY_DATA,
    body=[b'{"id": 1}', b"second chunk"],
    footer={Symbol("x-opt-hash"): b"\x01\x02"},
)


def test_full_message_roundtrip_and_canonical_bytes() -> None:
    raw = FULL.encode()
    msg = decode_message(raw)
    assert msg == FULL
    assert encode_message(msg) == raw
    # decoded sections keep their section classes and are usable as dicts
    assert isinstance(msg.application_properties, ApplicationProperties)
    assert msg.application_properties["region"] == "eu"
    assert [code for code, _, _ in section_offsets(raw)] == [
        0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x75, 0x78
    ]  # fmt: skip
    # memoryview and trailing garbage-free prefix views decode the same
    assert decode_message(memoryview(raw)) == FULL


def test_decode_rejects_truncated_message() -> None:
    raw = FULL.encode()
    ends = {end for _, _, end in section_offsets(raw)}
    for cut in range(1, len(raw)):
        if cut in ends:
            continue
        with pytest.raises(AmqpCodecError):
            decode_message(raw[:cut])


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        (BODY_DATA, [b""]),
        (BODY_DATA, [b"a", b"b" * 300]),
        (BODY_SEQUENCE, [[1, "two"], []]),
        (BODY_VALUE, "text"),
        (BODY_VALUE, None),
        (BODY_VALUE, {"map": [1, 2]}),
        (BODY_VALUE, b"bytes"),
        (BODY_NONE, None),
    ],
)
def test_body_kinds(kind: str, body: Any) -> None:
    msg = AmqpMessage(body_kind=kind, body=body)
    raw = msg.encode()
    back = decode_message(raw)
    assert back.body_kind == kind
    assert back.body == body
    assert back.encode() == raw


def test_empty_payload_is_a_message_without_sections() -> None:
    assert decode_message(b"") == AmqpMessage()


def sec(value: Any) -> bytes:
    return encoded(value)


@pytest.mark.parametrize(
    "raw",
    [
        sec(Properties()) + sec(Header()),  # out of order
        sec(Data(b"a")) + sec(Header()),
        sec(MessageAnnotations()) + sec(DeliveryAnnotations()),
        sec(Header()) + sec(Header()),  # duplicate
        sec(AmqpValue(1)) + sec(AmqpValue(2)),  # two values
        sec(Data(b"a")) + sec(AmqpValue(2)),  # mixed body kinds
        sec(AmqpSequence([1])) + sec(Data(b"a")),
        sec(AmqpValue(1)) + sec(Data(b"a")),
        sec(Footer()) + sec(Data(b"a")),
        sec(Described(ULong(0x99), [])),  # unknown section
        sec(Open(container_id="x")),  # a performative is not a section
        b"\xa1\x01x",  # not described
        sec(Described(ULong(0x75), "not binary")),
        sec(Described(ULong(0x76), "not a list")),
        sec(Described(ULong(0x74), [1])),  # not a map
    ],
)
def test_malformed_messages(raw: bytes) -> None:
    with pytest.raises(AmqpCodecError):
        decode_message(raw)


def test_symbol_descriptors_decode() -> None:
    raw = (
        encoded(Described(Symbol("amqp:header:list"), [True]))
        + encoded(Described(Symbol("amqp:application-properties:map"), {"k": "v"}))
        + encoded(Described(Symbol("amqp:value:*"), 42))
    )
    msg = decode_message(raw)
    assert msg.header.durable is True
    assert msg.application_properties == {"k": "v"}
    assert msg.body_kind == BODY_VALUE and msg.body == 42
    head, bare = split_bare_message(raw)
    assert head == raw[: len(encoded(Described(Symbol("amqp:header:list"), [True])))]
    assert [c for c, _, _ in section_offsets(raw)] == [0x70, 0x74, 0x77]


def test_split_bare_message_and_replace_header() -> None:
    raw = FULL.encode()
    head, bare = split_bare_message(raw)
    assert head + bare == raw
    assert decode_message(bare).properties == FULL.properties
    assert decode_message(bare).header is None
    assert decode_message(head).message_annotations == FULL.message_annotations
    # per delivery: a new header, the same annotations and bare bytes
    new = encode_header(Header(durable=True, delivery_count=5)) + bare
    msg = decode_message(new)
    assert msg.header.delivery_count == 5
    assert msg.body == FULL.body and msg.footer == FULL.footer
    # a message without annotations has an empty head
    plain = AmqpMessage(body_kind=BODY_VALUE, body="x").encode()
    assert split_bare_message(plain) == (b"", plain)
    only_header = encode_header(Header())
    assert split_bare_message(only_header) == (only_header, b"")
    assert encode_header(None) == b""
    # memoryview in, memoryview slices out
    h, b = split_bare_message(memoryview(raw))
    assert isinstance(b, memoryview) and bytes(b) == bare


def test_user_dicts_encode_with_symbol_annotation_keys() -> None:
    msg = AmqpMessage(message_annotations={"x-opt-a": 1}, application_properties={"k": 1})
    back = decode_message(msg.encode())
    assert type(next(iter(back.message_annotations))) is Symbol
    assert type(next(iter(back.application_properties))) is str


def test_sections_are_values_too() -> None:
    for section in (
        Data(b"x"),
        AmqpSequence([1]),
        AmqpValue("v"),
        ApplicationProperties({"a": 1}),
        DeliveryAnnotations({Symbol("a"): 1}),
        MessageAnnotations({Symbol("a"): 1}),
        Footer({Symbol("a"): 1}),
    ):
        back = decode_value(encoded(section))[0]
        assert type(back) is type(section) and back == section
        assert repr(back).startswith(type(section).__name__)


# ---- Hypothesis round trip

symbols = st.text(alphabet="abcxyz-", min_size=1, max_size=10).map(Symbol)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
    symbols,
    st.uuids(),
)
headers = st.builds(
    Header,
    durable=st.booleans(),
    priority=st.integers(0, 9),
    ttl=st.none() | st.integers(0, 2**32 - 1),
    first_acquirer=st.booleans(),
    delivery_count=st.integers(0, 2**32 - 1),
)
ids = st.none() | st.one_of(
    st.text(max_size=20), st.integers(0, 2**64 - 1).map(ULong), st.uuids(), st.binary(max_size=8)
)
properties = st.builds(
    Properties,
    message_id=ids,
    user_id=st.none() | st.binary(max_size=10),
    to=st.none() | st.text(max_size=20),
    subject=st.none() | st.text(max_size=20),
    correlation_id=ids,
    content_type=st.none() | symbols,
    absolute_expiry_time=st.none() | st.integers(0, 2**62),
    group_sequence=st.none() | st.integers(0, 2**32 - 1),
)
bodies = st.one_of(
    st.tuples(st.just(BODY_DATA), st.lists(st.binary(max_size=300), min_size=1, max_size=3)),
    st.tuples(st.just(BODY_SEQUENCE), st.lists(st.lists(scalars, max_size=4), min_size=1, max_size=3)),
    st.tuples(st.just(BODY_VALUE), scalars | st.lists(scalars, max_size=4) | st.dictionaries(st.text(max_size=5), scalars, max_size=4)),
    st.tuples(st.just(BODY_NONE), st.none()),
)  # fmt: skip
annotations = st.none() | st.dictionaries(symbols, scalars, max_size=4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.none() | headers,
    annotations,
    annotations,
    st.none() | properties,
    st.none() | st.dictionaries(st.text(max_size=10), scalars, max_size=5),
    bodies,
    annotations,
)
def test_hypothesis_message_roundtrip(
    header: Any, da: Any, ma: Any, props: Any, app: Any, body: tuple[str, Any], footer: Any
) -> None:
    msg = AmqpMessage(header, da, ma, props, app, body[0], body[1], footer)
    raw = msg.encode()
    back = decode_message(raw)
    assert back == msg
    assert back.encode() == raw
    head, bare = split_bare_message(raw)
    assert bytes(head) + bytes(bare) == raw
    assert decode_message(bare).properties == props


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_message_functions_only_codec_errors(data: bytes) -> None:
    for fn in (decode_message, split_bare_message, section_offsets):
        try:
            fn(data)
        except AmqpCodecError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_fuzz_mutated_message(index: int, value: int) -> None:
    data = bytearray(FULL.encode())
    data[index % len(data)] = value
    for fn in (decode_message, split_bare_message, section_offsets):
        try:
            fn(bytes(data))
        except AmqpCodecError:
            pass


def test_uuid_message_id() -> None:
    msg = AmqpMessage(properties=Properties(message_id=uuid.UUID(int=3)), body_kind=BODY_VALUE, body=1)
    assert decode_message(msg.encode()).properties.message_id == uuid.UUID(int=3)
