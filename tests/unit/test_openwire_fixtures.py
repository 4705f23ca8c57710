"""Decode byte streams recorded from the real ActiveMQ 5.17 JMS client (and our answers).

The fixtures in tests/unit/data/openwire/ were produced by record.py beside them: the
client connected to a test server built on ferrymq's codec, in tight and loose encoding,
with and without the marshal cache, at protocol versions 9-12 and with compression.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ferrymq.protocols.openwire import codec, props, spec

DATA = Path(__file__).resolve().parent / "data" / "openwire"
VARIANTS = {
    "tight-cache": (12, True, True),
    "loose-cache": (12, False, True),
    "tight-nocache": (12, True, False),
    "loose-nocache": (12, False, False),
    "v9-tight": (9, True, True),
    "v10-loose": (10, False, True),
    "v11-tight": (11, True, True),
    "compressed": (12, True, True),
}
EXPECTED_SEQUENCE = [
    "WireFormatInfo",
    "ConnectionInfo",
    "ConsumerInfo",  # the connection's advisory consumer
    "SessionInfo",
    "ProducerInfo",
    "ActiveMQTextMessage",
    "ActiveMQBytesMessage",
    "ActiveMQMapMessage",
    "ActiveMQStreamMessage",
    "ActiveMQObjectMessage",
    "ProducerInfo",
    "ActiveMQTextMessage",
    "ConsumerInfo",
    "MessageAck",
    "RemoveInfo",
    "SessionInfo",
    "ProducerInfo",
    "TransactionInfo",
    "ActiveMQTextMessage",
    "TransactionInfo",
    "RemoveInfo",
    "RemoveInfo",
    "ShutdownInfo",
]


def server_parser() -> codec.OpenWireParser:
    return codec.OpenWireParser(preferred=codec.make_wire_format_info(provider_version="0.1.0"))


def client_stream(name: str) -> bytes:
    return (DATA / f"client-{name}.bin").read_bytes()


def decode_whole(name: str) -> tuple[list[Any], codec.OpenWireParser]:
    parser = server_parser()
    commands = parser.feed(client_stream(name))
    assert parser.buffered == 0
    return commands, parser


@pytest.mark.parametrize("name", list(VARIANTS))
def test_client_stream_decodes_and_negotiates(name: str) -> None:
    commands, parser = decode_whole(name)
    assert [type(c).__name__ for c in commands] == EXPECTED_SEQUENCE
    version, tight, cache = VARIANTS[name]
    wf = parser.wire_format
    assert (wf.version, wf.tight_encoding, wf.cache_enabled) == (version, tight, cache)
    info = commands[0]
    assert info.magic == b"ActiveMQ"
    options = codec.wire_format_properties(info)
    assert options["TightEncodingEnabled"] is tight
    assert options["CacheEnabled"] is cache
    assert options["MaxInactivityDuration"] == 30000
    assert isinstance(options["MaxInactivityDuration"], props.JmsLong)
    assert options["ProviderName"] == "ActiveMQ"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_client_stream_fields(name: str) -> None:
    commands, _ = decode_whole(name)
    by_type: dict[str, list[Any]] = {}
    for c in commands:
        by_type.setdefault(type(c).__name__, []).append(c)
    n = list(VARIANTS).index(name) + 1
    conn = by_type["ConnectionInfo"][0]
    assert conn.client_id == f"capture-{n}"
    assert conn.user_name == "capture-user"
    assert conn.password == "s3cret"
    assert conn.response_required is True
    assert conn.connection_id.value.startswith("ID:")
    # Command ids count up from 1 after the WireFormatInfo.
    assert [c.command_id for c in commands[1:]] == list(range(1, len(commands)))

    advisory, consumer = by_type["ConsumerInfo"]
    assert isinstance(advisory.destination, spec.ActiveMQTopic)
    assert advisory.destination.physical_name.startswith("ActiveMQ.Advisory.")
    assert consumer.destination == spec.ActiveMQQueue(physical_name="ferry.in")
    assert consumer.selector == "color = 'blue'"
    assert consumer.prefetch_size == 1000
    assert consumer.consumer_id.connection_id == conn.connection_id.value

    compressed = name == "compressed"
    text = by_type["ActiveMQTextMessage"][0]
    assert text.destination == spec.ActiveMQQueue(physical_name="ferry.test")
    assert text.compressed is compressed
    assert (
        props.decode_text_body(text.content, compressed=text.compressed)
        == f"hello ferrymq \u00e9\x00\U0001f600 #{n}"
    )
    properties = props.decode_map(text.marshalled_properties)
    assert properties == {
        "color": "red",
        "count": 7,
        "big": 1 << 40,
        "flag": True,
        "pi": 3.25,
        "half": 1.5,
        "tiny": -2,
        "small": 300,
    }
    assert type(properties["big"]) is props.JmsLong
    assert type(properties["half"]) is props.JmsFloat
    assert type(properties["tiny"]) is props.JmsByte
    assert type(properties["small"]) is props.JmsShort
    assert type(properties["count"]) is int
    assert text.correlation_id == f"corr-{n}"
    assert text.type == "greeting"
    assert text.persistent is True
    assert text.priority == 4
    assert text.message_id.producer_id == text.producer_id
    assert text.message_id.producer_sequence_id == 1

    body = by_type["ActiveMQBytesMessage"][0]
    assert props.decode_bytes_body(body.content, compressed=body.compressed) == b"\x00\x01\x02\xff"
    mapped = by_type["ActiveMQMapMessage"][0]
    assert props.decode_map_body(mapped.content, compressed=mapped.compressed) == {
        "name": "widget",
        "qty": 42,
        "ok": True,
        "raw": b"\x09\x08",
    }
    stream = by_type["ActiveMQStreamMessage"][0]
    assert props.decode_stream_body(stream.content, compressed=stream.compressed) == ["s", 5, 2.5]
    obj = by_type["ActiveMQObjectMessage"][0]
    serialized = props.decode_object_body(obj.content, compressed=obj.compressed)
    assert serialized.startswith(b"\xac\xed\x00\x05")  # Java serialization stream, kept opaque
    assert b"serialized-string" in serialized

    topic_msg = by_type["ActiveMQTextMessage"][1]
    assert topic_msg.destination == spec.ActiveMQTopic(physical_name="ferry.topic")
    assert topic_msg.persistent is False

    ack = by_type["MessageAck"][0]
    assert ack.consumer_id == consumer.consumer_id
    assert ack.ack_type == spec.STANDARD_ACK_TYPE
    assert ack.message_count == 1
    assert ack.last_message_id.producer_id.connection_id == "ID:ferrymq-test-broker"

    begin, commit = by_type["TransactionInfo"]
    assert begin.type == spec.TX_BEGIN and commit.type == spec.TX_COMMIT_ONE_PHASE
    assert isinstance(begin.transaction_id, spec.LocalTransactionId)
    tx_msg = by_type["ActiveMQTextMessage"][2]
    assert tx_msg.transaction_id == begin.transaction_id
    assert props.decode_text_body(tx_msg.content, compressed=tx_msg.compressed) == "in a transaction"
    assert isinstance(by_type["RemoveInfo"][-1].object_id, spec.ConnectionId)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_client_stream_byte_by_byte_and_trailing(name: str) -> None:
    whole, _ = decode_whole(name)
    parser = server_parser()
    got: list[Any] = []
    for b in client_stream(name):
        got += parser.feed(bytes((b,)))
    assert got == whole
    # A frame split before the next one: everything complete comes out, the rest waits.
    parser = server_parser()
    data = client_stream(name)
    got = parser.feed(data + data[4 : 4 + 3])
    assert got == whole
    assert parser.buffered == 3


@pytest.mark.parametrize("name", list(VARIANTS))
def test_client_stream_reencodes_byte_for_byte(name: str) -> None:
    commands, parser = decode_whole(name)
    encoder = codec.OpenWireParser()
    out = bytearray(encoder.encode(commands[0]))
    encoder.set_wire_format(parser.wire_format)
    for c in commands[1:]:
        out += encoder.encode(c)
    assert bytes(out) == client_stream(name)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_server_stream_decodes_as_client(name: str) -> None:
    client_info = decode_whole(name)[0][0]
    parser = codec.OpenWireParser(preferred=client_info)
    commands = parser.feed((DATA / f"server-{name}.bin").read_bytes())
    kinds = [type(c).__name__ for c in commands]
    assert kinds[:2] == ["WireFormatInfo", "BrokerInfo"]
    assert "MessageDispatch" in kinds
    dispatch = commands[kinds.index("MessageDispatch")]
    assert props.decode_text_body(dispatch.message.content) == "from ferrymq \u00e9\U0001f600"
    assert all(
        isinstance(c, spec.Response)
        for c in commands
        if type(c).__name__ not in ("WireFormatInfo", "BrokerInfo", "MessageDispatch")
    )
