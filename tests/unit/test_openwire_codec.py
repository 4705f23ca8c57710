"""OpenWire codec: table-driven round trips, framing, caches, negotiation and errors."""

from __future__ import annotations

import functools
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrymq.protocols.errors import CodecError
from ferrymq.protocols.openwire import codec, props, spec
from ferrymq.protocols.openwire.codec import OpenWireCodecError, OpenWireParser, WireFormat
from ferrymq.protocols.openwire.spec import CLASSES, TABLE, Kind

VERSIONS = [1, 3, 6, 9, 10, 11, 12]
LEAF_TYPES = [
    "ActiveMQQueue",
    "ActiveMQTopic",
    "ActiveMQTempQueue",
    "ActiveMQTempTopic",
    "ConnectionId",
    "SessionId",
    "ConsumerId",
    "ProducerId",
    "BrokerId",
    "LocalTransactionId",
    "XATransactionId",
]

LONGS = st.one_of(
    st.sampled_from([0, 1, 0xFFFF, 0x10000, 0xFFFF_FFFF, 1 << 32, -1, -(2**63), 2**63 - 1, -0x8000]),
    st.integers(-(2**63), 2**63 - 1),
)
STRINGS = st.one_of(
    st.none(), st.text(max_size=12), st.sampled_from(["", "a\x00b", "é", "\U0001f600x", "q.1"])
)
BLOBS = st.one_of(st.none(), st.binary(max_size=16))


@functools.cache
def throwables(stack_traces: bool, depth: int = 0) -> st.SearchStrategy[Any]:
    if not stack_traces:
        return st.none() | st.builds(spec.ThrowableInfo, STRINGS, STRINGS)
    element = st.builds(spec.StackTraceElement, STRINGS, STRINGS, STRINGS, st.integers(-(2**31), 2**31 - 1))
    cause = throwables(True, depth + 1) if depth < 2 else st.none()
    return st.none() | st.builds(
        spec.ThrowableInfo, STRINGS, STRINGS, st.lists(element, max_size=2).map(tuple), cause
    )


def concrete(ref: str | None, version: int, depth: int) -> list[str]:
    if ref is None or depth >= 2:
        names = LEAF_TYPES
    else:
        base = CLASSES[ref]
        names = [t.name for t in TABLE.values() if issubclass(CLASSES[t.name], base) and t.since <= version]
    if ref is not None:
        names = [n for n in names if issubclass(CLASSES[n], CLASSES[ref])] or [
            t.name for t in TABLE.values() if issubclass(CLASSES[t.name], CLASSES[ref]) and t.since <= version
        ]
    return sorted(names)


@functools.cache
def structures(name: str, version: int, stack_traces: bool, depth: int = 0) -> st.SearchStrategy[Any]:
    cls = CLASSES[name]
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for f in spec.fields_for(cls.type_code, version):
        kwargs[f.name] = value_strategy(f, version, stack_traces, depth)
    return st.fixed_dictionaries(kwargs).map(lambda kw: cls(**kw))


@functools.cache
def nested(ref: str | None, version: int, stack_traces: bool, depth: int) -> st.SearchStrategy[Any]:
    if depth >= 3:
        return st.none()
    names = concrete(ref, version, depth)
    return st.none() | st.sampled_from(names).flatmap(
        lambda n: structures(n, version, stack_traces, depth + 1)
    )


def value_strategy(f: spec.FieldSpec, version: int, stack_traces: bool, depth: int) -> st.SearchStrategy[Any]:
    k = f.kind
    if k is Kind.BOOLEAN:
        return st.booleans()
    if k is Kind.BYTE:
        return st.integers(-128, 127)
    if k is Kind.SHORT:
        return st.integers(-(2**15), 2**15 - 1)
    if k is Kind.INT:
        return st.integers(-(2**31), 2**31 - 1)
    if k is Kind.LONG:
        return LONGS
    if k is Kind.STRING:
        return STRINGS
    if k in (Kind.BYTES, Kind.BYTE_SEQUENCE):
        return BLOBS
    if k is Kind.CONST_BYTES:
        return st.just(b"ActiveMQ")
    if k in (Kind.NESTED, Kind.CACHED):
        return nested(f.ref, version, stack_traces, depth)
    if k is Kind.OBJECT_ARRAY:
        return st.none() | st.lists(nested(f.ref, version, stack_traces, depth), max_size=3)
    if k is Kind.THROWABLE:
        return throwables(stack_traces)
    raise AssertionError(k)


WIRE_FORMATS = st.builds(
    WireFormat,
    version=st.sampled_from(VERSIONS),
    tight_encoding=st.booleans(),
    cache_enabled=st.booleans(),
    cache_size=st.sampled_from([1024, 150]),
    size_prefix_disabled=st.booleans(),
    stack_trace_enabled=st.booleans(),
)


def pair(wf: WireFormat) -> tuple[OpenWireParser, OpenWireParser]:
    return OpenWireParser(wf, negotiated=True), OpenWireParser(wf, negotiated=True)


@pytest.mark.parametrize("code", sorted(TABLE))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_every_type(code: int, data: st.DataObject) -> None:
    wf = data.draw(WIRE_FORMATS)
    if not spec.type_known(code, wf.version):
        wf = WireFormat(**{**wf.__dict__, "version": 12})
    name = TABLE[code].name
    objs = data.draw(st.lists(structures(name, wf.version, wf.stack_trace_enabled), min_size=1, max_size=3))
    objs.append(objs[0])  # a repeat exercises cache hits
    encoder, decoder = pair(wf)
    frames = [encoder.encode(o) for o in objs]
    stream = b"".join(frames)
    assert decoder.feed(stream) == objs
    assert decoder.buffered == 0
    # byte by byte, with a fresh cache
    _, slow = pair(wf)
    got: list[Any] = []
    for i in range(len(stream)):
        got += slow.feed(stream[i : i + 1])
    assert got == objs
    # trailing bytes of a next frame stay buffered
    _, trailing = pair(wf)
    assert trailing.feed(stream + frames[0][:1]) == objs
    assert trailing.buffered == 1
    # decode(encode(x)) re-encodes to the same bytes
    again, _ = pair(wf)
    _, redecoder = pair(wf)
    assert b"".join(again.encode(o) for o in redecoder.feed(stream)) == stream


@settings(max_examples=300, deadline=None)
@given(wf=WIRE_FORMATS, blob=st.binary(max_size=200))
def test_fuzz_any_bytes(wf: WireFormat, blob: bytes) -> None:
    parser = OpenWireParser(wf, negotiated=True)
    try:
        out = parser.feed(blob)
    except OpenWireCodecError:
        return
    assert all(isinstance(c, spec.DataStructure) for c in out)


SAMPLE = spec.MessageDispatch(
    command_id=9,
    consumer_id=spec.ConsumerId(connection_id="ID:c", session_id=1, value=2),
    destination=spec.ActiveMQQueue(physical_name="orders"),
    message=spec.ActiveMQTextMessage(
        destination=spec.ActiveMQQueue(physical_name="orders"),
        producer_id=spec.ProducerId(connection_id="ID:p", session_id=1, value=1),
        message_id=spec.MessageId(producer_id=spec.ProducerId(connection_id="ID:p", session_id=1, value=1)),
        content=props.encode_text_body("hi"),
        marshalled_properties=props.encode_map({"k": "v"}),
    ),
)


@settings(max_examples=300, deadline=None)
@given(wf=WIRE_FORMATS, data=st.data())
def test_fuzz_mutated_frames(wf: WireFormat, data: st.DataObject) -> None:
    frame = bytearray(OpenWireParser(wf, negotiated=True).encode(SAMPLE))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(frame)))
    parser = OpenWireParser(wf, negotiated=True)
    try:
        parser.feed(bytes(frame[:cut]))
        parser.feed(bytes(frame[cut:]))
    except OpenWireCodecError as exc:
        assert isinstance(exc, CodecError)


# -- framing details -----------------------------------------------------------------------


def test_first_wire_format_info_is_sent_in_the_fixed_form() -> None:
    # The broker may answer after it has already negotiated on the client's info.
    parser = OpenWireParser(preferred=codec.make_wire_format_info())
    parser.feed(OpenWireParser().encode(codec.make_wire_format_info()))
    assert parser.wire_format.tight_encoding and parser.negotiated
    frame = parser.encode(codec.make_wire_format_info())
    size = struct.unpack(">i", frame[:4])[0]
    assert size == len(frame) - 4
    assert frame[4] == spec.WIREFORMAT_INFO
    assert frame[5:13] == b"ActiveMQ"  # loose: no boolean stream before the magic
    assert struct.unpack(">i", frame[13:17])[0] == 12
    assert frame[17] == 1  # loose "not null" flag of the properties


def test_auto_negotiation_switches_format_mid_buffer() -> None:
    ours = codec.make_wire_format_info(cache_size=2048)
    theirs = codec.make_wire_format_info(version=11, cache_size=512, max_inactivity_duration=5000)
    client = OpenWireParser(preferred=theirs)
    client.feed(OpenWireParser().encode(ours))  # client negotiates on our info
    assert client.wire_format.tight_encoding and client.wire_format.cache_enabled
    info = spec.ConnectionInfo(command_id=1, connection_id=spec.ConnectionId(value="ID:x"), client_id="cid")
    stream = client.encode(theirs) + client.encode(info) + client.encode(info)
    server = OpenWireParser(preferred=ours)
    got = server.feed(stream)
    assert got[1:] == [info, info]
    wf = server.wire_format
    assert (wf.version, wf.cache_size, wf.max_inactivity_duration) == (11, 512, 5000)
    assert server.remote_info == theirs


@pytest.mark.parametrize(
    ("mine", "theirs", "expect"),
    [
        ({}, {}, (12, True, True, False)),
        ({"tight_encoding": False}, {}, (12, False, True, False)),
        ({}, {"cache_enabled": False}, (12, True, False, False)),
        ({"version": 9}, {}, (9, True, True, False)),
        ({"size_prefix_disabled": True}, {"size_prefix_disabled": True}, (12, True, True, True)),
        ({"size_prefix_disabled": True}, {}, (12, True, True, False)),
    ],
)
def test_negotiate(mine: dict[str, Any], theirs: dict[str, Any], expect: tuple[Any, ...]) -> None:
    wf = codec.negotiate(codec.make_wire_format_info(**mine), codec.make_wire_format_info(**theirs))
    assert (wf.version, wf.tight_encoding, wf.cache_enabled, wf.size_prefix_disabled) == expect


def test_negotiate_ignores_missing_limits_like_activemq() -> None:
    bare = spec.WireFormatInfo(version=0, marshalled_properties=props.encode_map({"CacheEnabled": True}))
    full = codec.make_wire_format_info(max_frame_size=1000, cache_size=0)
    wf = codec.negotiate(full, bare)
    assert wf.version == 12  # a version <= 0 is no preference
    assert wf.max_frame_size == 1000
    assert wf.cache_enabled and wf.cache_size == codec.MAX_CACHE_SIZE  # size 0 means "the maximum"
    assert not wf.tight_encoding


@pytest.mark.parametrize(
    ("value", "data_len"),
    [(0, 0), (1, 2), (0xFFFF, 2), (0x10000, 4), (0xFFFF_FFFF, 4), (1 << 32, 8), (-1, 8)],
)
def test_tight_long_sizes(value: int, data_len: int) -> None:
    wf = WireFormat(tight_encoding=True)
    cmd = spec.RemoveInfo(last_delivered_sequence_id=value)
    frame = codec.marshal(cmd, wf)
    # size(4) type(1) bool-stream(1+1) command_id(4) object_id: none, then the long
    assert len(frame) == 4 + 1 + 2 + 4 + data_len
    assert codec.unmarshal(frame, wf) == cmd


def test_tight_strings_ascii_and_utf() -> None:
    wf = WireFormat(tight_encoding=True)
    for text in ["plain", "caf\u00e9", "nul\x00", "\U0001f600"]:
        cmd = spec.ControlCommand(command=text)
        frame = codec.marshal(cmd, wf)
        assert codec.unmarshal(frame, wf) == cmd
    ascii_frame = codec.marshal(spec.ControlCommand(command="ab"), wf)
    assert ascii_frame.endswith(b"\x00\x02ab")
    nul_frame = codec.marshal(spec.ControlCommand(command="\x00"), wf)
    assert nul_frame.endswith(b"\x00\x02\xc0\x80")


@pytest.mark.parametrize("count", [10, 200, 1500])
def test_boolean_stream_length_forms(count: int) -> None:
    wf = WireFormat(tight_encoding=True)
    cmd = spec.DataArrayResponse(correlation_id=3, data=[spec.BrokerId(value=f"b{i}") for i in range(count)])
    frame = codec.marshal(cmd, wf)
    bits = 2 + 3 * count  # response_required, array flag, per item: nested + string + ascii
    nbytes = (bits + 7) // 8
    head = frame[5:8]
    if nbytes < 64:
        assert head[0] == nbytes
    elif nbytes < 256:
        assert head[:2] == bytes((0xC0, nbytes))
    else:
        assert head == b"\x80" + struct.pack(">h", nbytes)
    assert codec.unmarshal(frame, wf) == cmd


def test_cache_eviction_keeps_both_sides_in_step() -> None:
    wf = WireFormat(tight_encoding=True, cache_enabled=True, cache_size=120)
    enc, dec = pair(wf)
    for i in range(400):
        cmd = spec.SessionInfo(command_id=i, session_id=spec.SessionId(connection_id="ID:c", value=i % 150))
        assert dec.feed(enc.encode(cmd)) == [cmd]


def test_cache_hit_is_shorter_and_null_takes_a_slot() -> None:
    wf = WireFormat(tight_encoding=False, cache_enabled=True)
    enc, dec = pair(wf)
    cmd = spec.SessionInfo(session_id=spec.SessionId(connection_id="ID:c", value=1))
    first, second = enc.encode(cmd), enc.encode(cmd)
    assert len(second) < len(first)
    empty = spec.SessionInfo(session_id=None)
    assert dec.feed(first + second + enc.encode(empty) + enc.encode(empty)) == [cmd, cmd, empty, empty]


def test_null_frame_is_skipped() -> None:
    parser = OpenWireParser()
    assert parser.feed(codec.marshal(None, WireFormat())) == []


def test_marshall_aware_cached_form_is_decoded() -> None:
    # A nested message with its "cached marshalled form" bit set carries its own size,
    # type and boolean stream; ActiveMQ can read it, so can we.
    wf = WireFormat(tight_encoding=True)
    msg = spec.ActiveMQMessage(command_id=4, persistent=True)
    inner = codec.marshal(msg, wf)  # size + type + own boolean stream + fields
    # bits: response_required, consumer_id null, destination null, message present, cached form
    bits = 0b11000
    body = bytes((spec.MESSAGE_DISPATCH, 1, bits)) + struct.pack(">i", 0)
    body += bytes((spec.ACTIVEMQ_MESSAGE,)) + inner + struct.pack(">i", 7)
    got = codec.unmarshal(struct.pack(">i", len(body)) + body, wf)
    assert got == spec.MessageDispatch(message=msg, redelivery_counter=7)


# -- errors --------------------------------------------------------------------------------


def test_bad_frames_raise_codec_error() -> None:
    wf = WireFormat(max_frame_size=1000)
    good = OpenWireParser(wf).encode(spec.KeepAliveInfo(command_id=1))
    cases = {
        "size too big": struct.pack(">i", 5000) + b"\x0a",
        "size zero": struct.pack(">i", 0),
        "negative size": struct.pack(">i", -5),
        "unknown type": struct.pack(">i", 1) + b"\x0d",
        "primitive type code": struct.pack(">i", 1) + bytes((spec.STRING_TYPE,)),
        "truncated fields": struct.pack(">i", 3) + b"\x0a\x00\x00",
        "left over": struct.pack(">i", len(good) - 3) + good[4:] + b"\x00",
    }
    for label, frame in cases.items():
        parser = OpenWireParser(wf)
        with pytest.raises(OpenWireCodecError) as info:
            parser.feed(good + frame)
        assert info.value.fatal, label
        assert info.value.commands == [spec.KeepAliveInfo(command_id=1)], label


def test_type_missing_from_version_and_wrong_nested_type() -> None:
    wf11 = WireFormat(version=11)
    frame = codec.marshal(spec.BrokerSubscriptionInfo(broker_name="b"), WireFormat(version=12))
    with pytest.raises(OpenWireCodecError):
        OpenWireParser(wf11).feed(frame)
    # a ConnectionId where a destination belongs
    bad = spec.ProducerInfo(destination=spec.ConnectionId(value="x"))
    frame = codec.marshal(bad, WireFormat())
    with pytest.raises(OpenWireCodecError, match="expected ActiveMQDestination"):
        OpenWireParser().feed(frame)


def test_cache_slot_out_of_range() -> None:
    wf = WireFormat(cache_enabled=True, cache_size=10)
    body = bytes((spec.SESSION_INFO,)) + struct.pack(">i", 1) + b"\x00" + b"\x00" + struct.pack(">h", 50)
    with pytest.raises(OpenWireCodecError, match="cache slot"):
        OpenWireParser(wf, negotiated=True).feed(struct.pack(">i", len(body)) + body)


def test_bad_magic_with_negotiation() -> None:
    info = codec.make_wire_format_info()
    info.magic = b"ActiveMX"
    parser = OpenWireParser(preferred=codec.make_wire_format_info())
    with pytest.raises(OpenWireCodecError, match="magic"):
        parser.feed(OpenWireParser().encode(info))


def test_size_prefix_disabled_incomplete_limit() -> None:
    wf = WireFormat(size_prefix_disabled=True, max_frame_size=50)
    parser = OpenWireParser(wf, negotiated=True)
    frame = parser.encode(spec.ControlCommand(command="x" * 80))
    with pytest.raises(OpenWireCodecError, match="exceeds"):
        parser.feed(frame[:-1])


def test_encode_errors_are_not_fatal() -> None:
    tight = OpenWireParser(WireFormat(tight_encoding=True), negotiated=True)
    with pytest.raises(OpenWireCodecError) as info:
        tight.encode(spec.ControlCommand(command="x" * 40000))
    assert not info.value.fatal
    loose = OpenWireParser(WireFormat(), negotiated=True)
    assert loose.encode(spec.ControlCommand(command="x" * 40000))  # writeUTF allows 65535
    with pytest.raises(OpenWireCodecError):
        loose.encode(spec.TransactionInfo(type=300))
    with pytest.raises(OpenWireCodecError):
        OpenWireParser(WireFormat(version=2)).encode(spec.ProducerAck())


def test_generated_classes() -> None:
    info = spec.ConsumerInfo(prefetch_size=5)
    assert info.type_code == spec.CONSUMER_INFO
    assert isinstance(info, spec.Command) and not isinstance(info, spec.Message)
    assert isinstance(spec.ActiveMQTextMessage(), spec.Message)
    assert spec.ActiveMQTextMessage().priority == 4
    assert spec.ConsumerInfo.field_names[:3] == ("command_id", "response_required", "consumer_id")
    with pytest.raises(TypeError):
        spec.ConsumerInfo(no_such_field=1)
    assert spec.ConsumerId(connection_id="a", session_id=1, value=2) == spec.ConsumerId(
        connection_id="a", session_id=1, value=2
    )
    assert len({spec.ActiveMQQueue(physical_name="a"), spec.ActiveMQQueue(physical_name="a")}) == 1
    assert spec.ActiveMQQueue(physical_name="a") != spec.ActiveMQTopic(physical_name="a")
    assert Response_is_response()
    names = [f.name for f in spec.fields_for(spec.CONSUMER_INFO, 9)]
    assert "client_id" not in names and "network_consumer_path" in names
    assert "client_id" in [f.name for f in spec.fields_for(spec.CONSUMER_INFO, 10)]
    nbf9 = [f.name for f in spec.fields_for(spec.NETWORK_BRIDGE_FILTER, 9)]
    nbf10 = [f.name for f in spec.fields_for(spec.NETWORK_BRIDGE_FILTER, 10)]
    assert nbf9 == ["network_ttl", "network_broker_id"]
    assert nbf10 == ["network_broker_id", "message_ttl", "consumer_ttl"]


def Response_is_response() -> bool:  # noqa: N802 - reads as a sentence in the assert
    return spec.ExceptionResponse().is_response and not spec.KeepAliveInfo().is_response
