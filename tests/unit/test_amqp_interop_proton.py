"""Interop with the real python-qpid-proton: values, message sections and live frames.

proton is the reference implementation of AMQP 1.0; its engine runs in memory here
(Transport/Connection pumped by hand, no sockets).
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

import proton
import pytest
from proton import Collector, Connection, Data, Message, Transport

from ferrymq.protocols.amqp import performatives as P
from ferrymq.protocols.amqp.framing import (
    AMQP_HEADER,
    SASL_HEADER,
    FrameEvent,
    FrameParser,
    encode_frame,
    encode_sasl_frame,
    encode_transfer,
)
from ferrymq.protocols.amqp.message import (
    BODY_DATA,
    BODY_SEQUENCE,
    BODY_VALUE,
    AmqpMessage,
    Header,
    Properties,
    decode_message,
    split_bare_message,
)
from ferrymq.protocols.amqp.sasl import SaslCode, SaslInit, SaslMechanisms, SaslOutcome, parse_plain
from ferrymq.protocols.amqp.types import (
    Array,
    Byte,
    Char,
    Decimal32,
    Decimal64,
    Decimal128,
    Described,
    Float,
    Int,
    Long,
    Short,
    Symbol,
    Timestamp,
    UByte,
    UInt,
    ULong,
    UShort,
    decode_value,
    encoded,
)

U = uuid.UUID("12345678-1234-5678-1234-567812345678")

# (value as proton builds it, the same value in ferrymq's representation)
VALUE_PAIRS: list[tuple[Any, Any]] = [
    (None, None),
    (True, True),
    (False, False),
    (proton.ubyte(200), UByte(200)),
    (proton.ushort(60000), UShort(60000)),
    (proton.uint(0), UInt(0)),
    (proton.uint(7), UInt(7)),
    (proton.uint(4000000000), UInt(4000000000)),
    (proton.ulong(0), ULong(0)),
    (proton.ulong(9), ULong(9)),
    (proton.ulong(2**63 + 5), ULong(2**63 + 5)),
    (proton.byte(-100), Byte(-100)),
    (proton.short(-30000), Short(-30000)),
    (proton.int32(-5), Int(-5)),
    (proton.int32(-2000000000), Int(-2000000000)),
    (-3, Long(-3)),
    (2**62, Long(2**62)),
    (proton.float32(1.5), Float(1.5)),
    (2.25, 2.25),
    (proton.decimal32(0x01020304), Decimal32(b"\x01\x02\x03\x04")),
    (proton.decimal64(0x0102030405060708), Decimal64(bytes(range(1, 9)))),
    (proton.decimal128(bytes(range(16))), Decimal128(bytes(range(16)))),
    (proton.char("\u20ac"), Char("\u20ac")),
    (proton.timestamp(1700000000123), Timestamp(1700000000123)),
    (U, U),
    (b"\x00\x01binary", b"\x00\x01binary"),
    (b"x" * 300, b"x" * 300),
    ("h\u00e9llo", "h\u00e9llo"),
    ("s" * 300, "s" * 300),
    (proton.symbol("amqp:accepted:list"), Symbol("amqp:accepted:list")),
    ([], []),
    ([proton.uint(1), "two", None], [UInt(1), "two", None]),
    ({proton.symbol("k"): [1, 2], "s": {"n": None}}, {Symbol("k"): [Long(1), Long(2)], "s": {"n": None}}),
    (
        proton.Array(proton.UNDESCRIBED, Data.SYMBOL, proton.symbol("a"), proton.symbol("b")),
        Array("symbol", [Symbol("a"), Symbol("b")]),
    ),
    (proton.Array(proton.UNDESCRIBED, Data.INT, 1, -2, 300), Array("int", [1, -2, 300])),
    (proton.Array(proton.UNDESCRIBED, Data.ULONG, 0, 2**40), Array("ulong", [0, 2**40])),
    (proton.Array(proton.UNDESCRIBED, Data.STRING, "a", "b" * 300), Array("string", ["a", "b" * 300])),
    (proton.Array(proton.UNDESCRIBED, Data.BOOL, True, False), Array("boolean", [True, False])),
    (proton.Array(proton.UNDESCRIBED, Data.DOUBLE, 1.5), Array("double", [1.5])),
    (proton.Array(proton.UNDESCRIBED, Data.UUID, U), Array("uuid", [U])),
    (proton.Described(proton.symbol("com.example:x"), "v"), Described(Symbol("com.example:x"), "v")),
    (proton.Described(proton.ulong(0x1234567890), [1]), Described(ULong(0x1234567890), [Long(1)])),
    (
        proton.Array(proton.ulong(0x9999), Data.STRING, "a", "b"),
        Array("string", ["a", "b"], descriptor=ULong(0x9999)),
    ),
]


def proton_encode(value: Any) -> bytes:
    d = Data()
    d.put_object(value)
    return d.encode()


def proton_decode(raw: bytes) -> Any:
    d = Data()
    consumed = d.decode(raw)
    assert consumed == len(raw)
    d.rewind()
    d.next()
    value = d.get_object()
    # proton hands out binaries as views of its own buffer: copy before it is freed
    return bytes(value) if isinstance(value, memoryview) else value


@pytest.mark.parametrize(("theirs", "ours"), VALUE_PAIRS, ids=[repr(o)[:40] for _, o in VALUE_PAIRS])
def test_proton_values_decode_with_ferrymq(theirs: Any, ours: Any) -> None:
    raw = proton_encode(theirs)
    value, end = decode_value(raw)
    assert end == len(raw)
    if isinstance(ours, Array) and ours.descriptor is not None:
        assert value.descriptor == ours.descriptor
        assert value.items == [Described(ours.descriptor, i) for i in ours.items]
    else:
        assert value == ours
    if ours is not None and not isinstance(ours, (list, dict, Array, Described)):
        assert type(value) is type(ours)


@pytest.mark.parametrize(("theirs", "ours"), VALUE_PAIRS, ids=[repr(o)[:40] for _, o in VALUE_PAIRS])
def test_ferrymq_values_decode_with_proton(theirs: Any, ours: Any) -> None:
    back = proton_decode(encoded(ours))
    if isinstance(theirs, proton.Array):
        assert back.descriptor == theirs.descriptor and back.type == theirs.type
        assert list(back.elements) == list(theirs.elements)
    elif isinstance(theirs, proton.Described):
        assert back.descriptor == theirs.descriptor and back.value == theirs.value
    else:
        assert back == theirs
        assert type(back) is type(theirs)


def test_decimal_wrappers_match_proton_bits() -> None:
    assert decode_value(proton_encode(proton.decimal32(1)))[0] == struct.pack(">I", 1)


# ---- message sections


def proton_messages() -> list[Message]:
    m1 = Message(body="hello", id="m1", subject="s", durable=True, priority=7, ttl=1.5)
    m1.properties = {"a": 1, "b": "x", "c": True}
    m1.annotations = {proton.symbol("x-opt-jms-msg-type"): proton.byte(5)}
    m1.instructions = {proton.symbol("x-opt-trace"): "t"}
    m2 = Message(body=b"\x00\x01\x02", inferred=True, correlation_id=proton.ulong(42), user_id=b"bob")
    m2.content_type = "application/octet-stream"
    m2.reply_to = "queue://replies"
    m2.address = "queue://orders"
    m2.group_id = "g"
    m2.group_sequence = 3
    m2.reply_to_group_id = "rg"
    m2.creation_time = 1700000000.5
    m2.expiry_time = 1800000000.0
    m3 = Message(body=[1, "two", [3]], inferred=True, id=U, first_acquirer=True, delivery_count=4)
    m4 = Message(body={"map": [1, 2]}, id=proton.ulong(7))
    m5 = Message(body=None)
    return [m1, m2, m3, m4, m5]


def test_proton_messages_decode_with_ferrymq() -> None:
    m1, m2, m3, m4, m5 = (decode_message(m.encode()) for m in proton_messages())
    assert m1.header.durable is True and m1.header.priority == 7 and m1.header.ttl == 1500
    assert m1.properties.message_id == "m1" and m1.properties.subject == "s"
    assert m1.application_properties == {"a": 1, "b": "x", "c": True}
    assert m1.message_annotations == {Symbol("x-opt-jms-msg-type"): Byte(5)}
    assert m1.delivery_annotations == {Symbol("x-opt-trace"): "t"}
    assert m1.footer is None  # proton's Message does not encode footers
    assert (m1.body_kind, m1.body) == (BODY_VALUE, "hello")
    assert (m2.body_kind, m2.body) == (BODY_DATA, [b"\x00\x01\x02"])
    p = m2.properties
    assert p.correlation_id == ULong(42) and p.user_id == b"bob" and p.to == "queue://orders"
    assert p.content_type == Symbol("application/octet-stream") and p.reply_to == "queue://replies"
    assert (p.group_id, p.group_sequence, p.reply_to_group_id) == ("g", 3, "rg")
    assert p.creation_time == 1700000000500 and p.absolute_expiry_time == 1800000000000
    assert (m3.body_kind, m3.body) == (BODY_SEQUENCE, [[Long(1), "two", [Long(3)]]])
    assert m3.properties.message_id == U
    assert m3.header.first_acquirer is True and m3.header.delivery_count == 4
    assert (m4.body_kind, m4.body) == (BODY_VALUE, {"map": [1, 2]})
    assert m4.properties.message_id == ULong(7)
    assert m5.body is None  # proton writes no body section for a None body
    # our encoding of what we decoded is decoded identically by proton
    for original in proton_messages():
        ours = decode_message(original.encode()).encode()
        again = Message()
        again.decode(ours)
        for attr in ("body", "id", "correlation_id", "durable", "priority", "ttl", "properties",
                     "annotations", "instructions", "address", "content_type", "creation_time",
                     "delivery_count", "first_acquirer", "group_sequence", "user_id"):  # fmt: skip
            assert getattr(again, attr) == getattr(original, attr), attr


def test_ferrymq_messages_decode_with_proton() -> None:
    ours = AmqpMessage(
        header=Header(durable=True, priority=9, ttl=2000, delivery_count=1),
        message_annotations={"x-opt-jms-dest": Byte(0)},
        properties=Properties(
            message_id="ID:ferrymq-1",
            to="topic://prices",
            subject="tick",
            correlation_id=uuid.UUID(int=9),
            content_type=Symbol("text/plain"),
            creation_time=Timestamp(1700000000000),
            group_id="grp",
            group_sequence=UInt(12),
        ),
        application_properties={"symbol": "ACME", "price": 12.5, "n": Int(3)},
        body_kind=BODY_DATA,
        body=[b"chunk"],
    )
    m = Message()
    m.decode(ours.encode())
    assert m.durable is True and m.priority == 9 and m.ttl == 2.0 and m.delivery_count == 1
    assert m.annotations == {proton.symbol("x-opt-jms-dest"): 0}
    assert m.id == "ID:ferrymq-1" and m.address == "topic://prices" and m.subject == "tick"
    assert m.correlation_id == uuid.UUID(int=9) and m.content_type == "text/plain"
    assert m.creation_time == 1700000000.0 and m.group_id == "grp" and m.group_sequence == 12
    assert m.properties == {"symbol": "ACME", "price": 12.5, "n": 3}
    assert m.body == b"chunk"
    for kind, body in ((BODY_VALUE, {"k": [1, "x"]}), (BODY_SEQUENCE, [[1, 2]]), (BODY_VALUE, "text")):
        m = Message()
        m.decode(AmqpMessage(body_kind=kind, body=body).encode())
        assert m.body == (body[0] if kind == BODY_SEQUENCE else body)


def test_split_bare_message_of_proton_message() -> None:
    original = proton_messages()[0]
    raw = original.encode()
    head, bare = split_bare_message(raw)
    new_header = bytearray()
    Header(durable=True, priority=7, ttl=1500, delivery_count=3).encode(new_header)
    m = Message()
    m.decode(bytes(new_header) + bytes(bare))
    assert m.delivery_count == 3 and m.body == "hello" and m.properties == original.properties
    assert decode_message(head).message_annotations == {Symbol("x-opt-jms-msg-type"): Byte(5)}


# ---- live frames from proton's engine, pumped in memory


def pump(a: Transport, b: Transport, a_to_b: bytearray, b_to_a: bytearray) -> None:
    for _ in range(50):
        moved = False
        for src, dst, log in ((a, b, a_to_b), (b, a, b_to_a)):
            n = src.pending()
            if n > 0:
                out = src.peek(n)
                src.pop(n)
                log += out
                dst.push(out)
                moved = True
        if not moved:
            return


def parse_all(data: bytes) -> list[FrameEvent]:
    parser = FrameParser(1 << 20)
    parser.expect_header()
    # byte by byte and whole give the same events
    whole = parser.feed(data)
    parser2 = FrameParser(1 << 20)
    parser2.expect_header()
    stepped = [e for i in range(0, len(data), 5) for e in parser2.feed(data[i : i + 5])]
    assert [repr(e.performative) for e in whole] == [repr(e.performative) for e in stepped]
    return whole


def test_proton_engine_conversation_decodes() -> None:
    client, server = Connection(), Connection()
    client.container, server.container = "proton-client", "proton-server"
    ct, st_ = Transport(), Transport(Transport.SERVER)
    ct.bind(client)
    st_.bind(server)
    collector = Collector()
    server.collect(collector)
    client.open()
    session = client.session()
    session.open()
    sender = session.sender("orders-sender")
    sender.target.address = "queue://orders"
    sender.open()
    receiver = session.receiver("orders-receiver")
    receiver.source.address = "queue://orders"
    receiver.open()
    c2s, s2c = bytearray(), bytearray()
    pump(ct, st_, c2s, s2c)
    # the server side opens everything it sees and grants credit
    server.open()
    for ssn in (server.session_head(0),):
        ssn.open()
    link = server.link_head(0)
    while link:
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        link.open()
        if link.is_receiver:
            link.flow(10)
        link = link.next(0)
    pump(ct, st_, c2s, s2c)
    msg = Message(body="order #1", id="o-1", durable=True)
    delivery = sender.delivery(b"tag-1")
    sender.send(msg.encode())
    sender.advance()
    receiver.flow(5)
    pump(ct, st_, c2s, s2c)
    srv_delivery = server.link_head(0)
    while srv_delivery and not srv_delivery.is_receiver:
        srv_delivery = srv_delivery.next(0)
    d = srv_delivery.current
    d.update(proton.Delivery.ACCEPTED)
    d.settle()
    pump(ct, st_, c2s, s2c)
    sender.close()
    session.close()
    client.close()
    pump(ct, st_, c2s, s2c)
    assert delivery.remote_state == proton.Delivery.ACCEPTED

    sent = parse_all(bytes(c2s))
    kinds = [type(e.performative).__name__ for e in sent]
    assert kinds[:3] == ["ProtocolHeader", "Open", "Begin"]
    for needed in ("Attach", "Flow", "Transfer", "Detach", "End", "Close"):
        assert needed in kinds, (needed, kinds)
    open_ = sent[1].performative
    assert open_.container_id == "proton-client"
    attaches = [e.performative for e in sent if isinstance(e.performative, P.Attach)]
    assert {a.name for a in attaches} == {"orders-sender", "orders-receiver"}
    snd = next(a for a in attaches if a.role == P.SENDER)
    assert snd.target.address == "queue://orders" and isinstance(snd.source, P.Source)
    transfer = next(e for e in sent if isinstance(e.performative, P.Transfer))
    assert transfer.performative.delivery_tag == b"tag-1"
    body = decode_message(transfer.payload)
    assert body.body == "order #1" and body.properties.message_id == "o-1" and body.header.durable
    flows = [e.performative for e in sent if isinstance(e.performative, P.Flow)]
    assert any(f.link_credit == 5 for f in flows)

    received = parse_all(bytes(s2c))
    rkinds = [type(e.performative).__name__ for e in received]
    assert rkinds[:3] == ["ProtocolHeader", "Open", "Begin"]
    assert "Flow" in rkinds and "Disposition" in rkinds
    disp = next(e.performative for e in received if isinstance(e.performative, P.Disposition))
    assert isinstance(disp.state, P.Accepted) and disp.settled is True and disp.role == P.RECEIVER
    assert any(isinstance(e.performative, P.Flow) and e.performative.link_credit == 10 for e in received)
    # every frame proton sent re-encodes to bytes proton's frames decode to the same values
    for e in sent[1:] + received[1:]:
        if e.performative is not None:
            again = FrameParser(1 << 20).feed(encode_frame(e.channel, e.performative, e.payload))
            assert again[0].performative == e.performative


def test_ferrymq_frames_drive_proton_server() -> None:
    server = Connection()
    server.container = "proton-server"
    transport = Transport(Transport.SERVER)
    transport.bind(server)
    collector = Collector()
    server.collect(collector)
    out = bytearray(AMQP_HEADER)
    out += encode_frame(0, P.Open(container_id="ferrymq-client", hostname="localhost", max_frame_size=65536))
    out += encode_frame(0, P.Begin(next_outgoing_id=0, incoming_window=100, outgoing_window=100))
    out += encode_frame(
        0,
        P.Attach(
            name="l1",
            handle=0,
            role=P.SENDER,
            snd_settle_mode=P.SND_UNSETTLED,
            source=P.Source(address="src", outcomes=["amqp:accepted:list"]),
            target=P.Target(address="queue://orders", capabilities=["queue"]),
            initial_delivery_count=0,
        ),
    )
    transport.push(bytes(out))
    assert server.remote_container == "ferrymq-client"
    assert server.remote_hostname == "localhost"
    ssn = server.session_head(0)
    ssn.open()
    link = server.link_head(0)
    assert link.name == "l1" and link.remote_target.address == "queue://orders"
    caps = link.remote_target.capabilities
    caps.rewind()
    caps.next()
    assert caps.get_object() == proton.Array(proton.UNDESCRIBED, Data.SYMBOL, proton.symbol("queue"))
    link.target.copy(link.remote_target)
    link.open()
    link.flow(10)
    server.open()
    # proton's reply parses with our parser
    reply = transport.peek(transport.pending())
    transport.pop(len(reply))
    events = parse_all(reply)
    assert [type(e.performative).__name__ for e in events][:4] == [
        "ProtocolHeader",
        "Open",
        "Begin",
        "Attach",
    ]
    # a transfer split over several frames arrives as one message
    payload = AmqpMessage(
        properties=Properties(message_id="big"), body_kind=BODY_DATA, body=[b"z" * 3000]
    ).encode()
    frames = bytearray()
    n = encode_transfer(frames, 0, P.Transfer(handle=0, delivery_id=0, delivery_tag=b"t1", message_format=0),
                        payload, 1024)  # fmt: skip
    assert n > 1
    transport.push(bytes(frames))
    d = link.current
    assert d is not None and not d.partial and d.tag in (b"t1", "t1")
    m = Message()
    m.decode(link.recv(d.pending))
    assert m.id == "big" and m.body == b"z" * 3000
    # closing with an error
    err = P.Error(condition=Symbol("amqp:connection:forced"), description="shutting down")
    transport.push(encode_frame(0, P.Close(error=err)))
    assert server.remote_condition.name == "amqp:connection:forced"
    assert server.remote_condition.description == "shutting down"


def test_sasl_plain_with_proton_client() -> None:
    client = Connection()
    client.user = "alice"
    client.password = "s3cret"
    client.hostname = "broker.example"
    transport = Transport()
    sasl = transport.sasl()
    sasl.allowed_mechs("PLAIN")
    sasl.allow_insecure_mechs = True  # PLAIN without TLS, in memory
    transport.bind(client)
    client.open()
    parser = FrameParser(512)
    parser.expect_header()
    events = parser.feed(transport.peek(transport.pending()))
    transport.pop(transport.pending())
    assert events[0].performative.is_sasl
    transport.push(
        SASL_HEADER + encode_sasl_frame(SaslMechanisms(sasl_server_mechanisms=["PLAIN", "ANONYMOUS"]))
    )
    events = parser.feed(transport.peek(transport.pending()))
    transport.pop(transport.pending())
    init = events[0].performative
    assert isinstance(init, SaslInit) and init.mechanism == "PLAIN"
    assert parse_plain(init.initial_response) == ("", "alice", "s3cret")
    transport.push(encode_sasl_frame(SaslOutcome(code=SaslCode.OK)))
    events = parser.feed(transport.peek(transport.pending()))
    assert events[0].performative.is_amqp
    assert isinstance(events[1].performative, P.Open)
    assert sasl.outcome == proton.SASL.OK
