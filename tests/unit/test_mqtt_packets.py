"""MQTT 3.1.1 codec: examples, validation errors, round trips, fuzz, paho interop."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrymq.protocols.errors import CodecError
from ferrymq.protocols.mqtt.packets import (
    MAX_REMAINING_LENGTH,
    ConnAck,
    Connect,
    Disconnect,
    MqttCodecError,
    MqttParser,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
    encode,
    encode_all,
    encode_publish,
    encode_publish_header,
    encode_remaining_length,
)

# --------------------------------------------------------------------------- helpers


def s16(b: bytes) -> bytes:
    """Two-byte length prefix, written out by hand (independent of the codec)."""
    return bytes((len(b) >> 8, len(b) & 0xFF)) + b


def frame(b0: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes((b0, len(body))) + body


def connect_bytes(
    name: bytes = b"MQTT", level: int = 4, flags: int = 0x02, keep: int = 60, payload: bytes = s16(b"")
) -> bytes:
    return frame(0x10, s16(name) + bytes((level, flags)) + keep.to_bytes(2, "big") + payload)


def decode(data: bytes, *, server: bool = True, step: int | None = None, **kw: int) -> list[Packet]:
    parser = MqttParser(server=server, **kw)
    out: list[Packet] = []
    if step is None:
        out += parser.feed(data)
    else:
        for i in range(0, len(data), step):
            out += parser.feed(data[i : i + step])
    assert parser.buffered == 0
    return out


# --------------------------------------------------------------------------- examples

# (id, wire bytes written by hand, expected packet, parsed by a server?)
EXAMPLES: list[tuple[str, bytes, Packet, bool]] = [
    (
        "connect-minimal",
        bytes.fromhex("100c00044d5154540402003c0000"),
        Connect(client_id="", clean_session=True, keep_alive=60),
        True,
    ),
    (
        "connect-full",
        connect_bytes(
            flags=0xEE,
            keep=30,
            payload=s16(b"cid") + s16(b"w") + s16(b"m") + s16(b"u") + s16(b"pw"),
        ),
        Connect(
            client_id="cid",
            clean_session=True,
            keep_alive=30,
            will_topic="w",
            will_message=b"m",
            will_qos=1,
            will_retain=True,
            username="u",
            password=b"pw",
        ),
        True,
    ),
    (
        "connect-user-only-persistent",
        connect_bytes(flags=0x80, keep=0, payload=s16("clïent".encode()) + s16(b"user")),
        Connect(client_id="clïent", clean_session=False, keep_alive=0, username="user"),
        True,
    ),
    (
        "connect-mqtt31",
        connect_bytes(name=b"MQIsdp", level=3, flags=0x02, keep=10, payload=s16(b"id")),
        Connect(client_id="id", keep_alive=10, protocol_name="MQIsdp", protocol_level=3),
        True,
    ),
    ("connack-present", bytes.fromhex("20020100"), ConnAck(session_present=True, return_code=0), False),
    ("connack-refused", bytes.fromhex("20020005"), ConnAck(session_present=False, return_code=5), False),
    ("publish-qos0", b"\x30\x07\x00\x03a/bhi", Publish("a/b", b"hi"), True),
    (
        "publish-qos1-retain-dup",
        b"\x3b\x09\x00\x03a/b\x00\x0ahi",
        Publish("a/b", b"hi", qos=1, retain=True, dup=True, packet_id=10),
        True,
    ),
    ("publish-qos2-empty", b"\x34\x07\x00\x03x/y\x12\x34", Publish("x/y", b"", 2, packet_id=0x1234), False),
    (
        "publish-2-byte-length",
        b"\x30\xcb\x01\x00\x01t" + bytes(range(200)),
        Publish("t", bytes(range(200))),
        True,
    ),
    ("publish-utf8-topic", b"\x30\x08\x00\x06\xc3\xa9/\xe2\x82\xac", Publish("é/€"), True),
    ("puback", bytes.fromhex("40020001"), PubAck(1), True),
    ("pubrec", bytes.fromhex("5002ffff"), PubRec(0xFFFF), False),
    ("pubrel", bytes.fromhex("62020005"), PubRel(5), True),
    ("pubcomp", bytes.fromhex("70020005"), PubComp(5), False),
    (
        "subscribe",
        b"\x82\x0c\x00\x0a\x00\x03a/+\x01\x00\x01#\x02",
        Subscribe(10, [("a/+", 1), ("#", 2)]),
        True,
    ),
    ("suback", bytes.fromhex("900500 0a 01 02 80".replace(" ", "")), SubAck(10, [1, 2, 0x80]), False),
    ("unsubscribe", b"\xa2\x0c\x00\x0b\x00\x03a/+\x00\x03+/#", Unsubscribe(11, ["a/+", "+/#"]), True),
    ("unsuback", bytes.fromhex("b002000b"), UnsubAck(11), False),
    ("pingreq", b"\xc0\x00", PingReq(), True),
    ("pingresp", b"\xd0\x00", PingResp(), False),
    ("disconnect", b"\xe0\x00", Disconnect(), True),
]


@pytest.mark.parametrize(
    ("wire", "packet", "server"), [e[1:] for e in EXAMPLES], ids=[e[0] for e in EXAMPLES]
)
class TestExamples:
    def test_whole(self, wire: bytes, packet: Packet, server: bool) -> None:
        assert decode(wire, server=server) == [packet]

    def test_byte_by_byte(self, wire: bytes, packet: Packet, server: bool) -> None:
        assert decode(wire, server=server, step=1) == [packet]

    def test_trailing_bytes(self, wire: bytes, packet: Packet, server: bool) -> None:
        parser = MqttParser(server=server)
        # the start of a second packet stays buffered; the rest completes it
        assert parser.feed(wire + wire[:1]) == [packet]
        assert parser.buffered == 1
        assert parser.feed(wire[1:]) == [packet]
        assert parser.buffered == 0

    def test_reencode(self, wire: bytes, packet: Packet, server: bool) -> None:
        assert encode(packet) == wire

    def test_as_bytearray_and_memoryview(self, wire: bytes, packet: Packet, server: bool) -> None:
        assert MqttParser(server=server).feed(bytearray(wire)) == [packet]
        assert MqttParser(server=server).feed(memoryview(wire)) == [packet]


def test_all_examples_in_one_feed() -> None:
    for server in (True, False):
        packets = [e[2] for e in EXAMPLES if e[3] is server]
        wire = b"".join(e[1] for e in EXAMPLES if e[3] is server)
        assert decode(wire, server=server) == packets
        assert decode(wire, server=server, step=3) == packets
        assert encode_all(packets) == wire


def test_many_small_publishes_in_one_feed() -> None:
    one = encode_publish("sensors/1", b"x" * 10, 1, False, False, 1)
    packets = decode(one * 5000)
    assert len(packets) == 5000
    assert packets[-1] == Publish("sensors/1", b"x" * 10, 1, packet_id=1)


def test_payload_is_bytes_and_independent_of_buffer() -> None:
    parser = MqttParser()
    wire = bytearray(encode_publish("t", b"abc", 0, False, False, None))
    parser.feed(wire[:4])
    (pkt,) = parser.feed(wire[4:])
    assert isinstance(pkt, Publish)
    assert type(pkt.payload) is bytes
    assert pkt.payload == b"abc"


def test_encode_publish_header_plus_payload_equals_encode_publish() -> None:
    for qos, pid in ((0, None), (1, 9), (2, 65535)):
        for size in (0, 120, 125, 126, 200, 20000):
            payload = b"p" * size
            whole = encode_publish("a/b", payload, qos, True, qos > 0, pid)
            header = encode_publish_header(b"a/b", size, qos, True, qos > 0, pid)
            assert header + payload == whole
            assert decode(whole) == [Publish("a/b", payload, qos, True, qos > 0, pid)]


@pytest.mark.parametrize(
    "packet",
    [
        Publish("t", b"", 1, packet_id=None),
        Publish("t", b"", 0, dup=True),
        Publish("t", b"", 3, packet_id=1),
        PubAck(0),
        PubRel(70000),
        Subscribe(1, []),
        Subscribe(1, [("a", 3)]),
        Unsubscribe(1, []),
        Connect(password=b"x"),
        Connect(will_qos=1),
        Connect(will_topic="w", will_qos=3),
        Publish("t" * 70000),
    ],
)
def test_encode_rejects_invalid_packets(packet: Packet) -> None:
    with pytest.raises(ValueError):
        encode(packet)


def test_encode_rejects_non_packets() -> None:
    with pytest.raises(TypeError):
        encode("nope")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- remaining length


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16383, "ff7f"),
        (16384, "808001"),
        (2097151, "ffff7f"),
        (2097152, "80808001"),
        (268435455, "ffffff7f"),
    ],
)
def test_remaining_length_encoding(value: int, wire: str) -> None:
    assert encode_remaining_length(value).hex() == wire


def test_remaining_length_out_of_range() -> None:
    with pytest.raises(ValueError):
        encode_remaining_length(MAX_REMAINING_LENGTH + 1)
    with pytest.raises(ValueError):
        encode_remaining_length(-1)


@pytest.mark.parametrize("rl", [127, 128, 16383, 16384, 2097151, 2097152])
def test_remaining_length_boundaries_round_trip(rl: int) -> None:
    payload = b"\xa5" * (rl - 3)  # 2 length bytes + 1 topic byte
    wire = encode_publish("t", payload, 0, False, False, None)
    header_len = len(encode_remaining_length(rl))
    assert len(wire) == 1 + header_len + rl
    assert wire[1 : 1 + header_len] == encode_remaining_length(rl)
    assert decode(wire) == [Publish("t", payload)]
    # header split across feeds
    parser = MqttParser()
    assert parser.feed(wire[:2]) == []
    assert parser.feed(wire[2:]) == [Publish("t", payload)]


def test_largest_remaining_length_is_accepted_and_waits_for_the_body() -> None:
    parser = MqttParser()  # default maximum 256 MiB covers 268435455
    assert parser.feed(b"\x30\xff\xff\xff\x7f\x00\x01t") == []
    assert parser.buffered == 8
    # and it keeps waiting cheaply: more bytes, no packet
    assert parser.feed(b"\x00" * 1000) == []
    assert parser.buffered == 1008


def test_max_packet_size_is_enforced_before_the_body() -> None:
    parser = MqttParser(max_packet_size=1000)
    with pytest.raises(MqttCodecError, match="packet of 1001 bytes exceeds the maximum of 1000"):
        parser.feed(b"\x30\xe9\x07")  # remaining length 1001, no body at all
    assert parser.buffered == 0
    assert decode(encode_publish("t", b"x" * 997, 0, False, False, None), max_packet_size=1000)


def test_max_packet_size_header_split_byte_by_byte() -> None:
    parser = MqttParser(max_packet_size=16383)
    parser.feed(b"\x30")
    parser.feed(b"\x80")
    parser.feed(b"\x80")
    with pytest.raises(MqttCodecError, match="exceeds the maximum"):
        parser.feed(b"\x01")


def test_large_packet_in_small_chunks() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    wire = encode_publish("big/one", payload, 1, False, False, 3)
    parser = MqttParser()
    out: list[Packet] = []
    for i in range(0, len(wire), 1024):
        out += parser.feed(wire[i : i + 1024])
        if i + 1024 < len(wire):
            assert parser.buffered == i + 1024
    assert out == [Publish("big/one", payload, 1, packet_id=3)]


# --------------------------------------------------------------------------- validation errors


def pub_body(topic: bytes, rest: bytes = b"") -> bytes:
    return s16(topic) + rest


# (id, bytes, parsed by a server?, message regex, CONNACK code)
ERRORS: list[tuple[str, bytes, bool, str, int | None]] = [
    ("type-0", b"\x00\x00", True, r"^reserved packet type 0$", None),
    ("type-15", b"\xf0\x00", False, r"^reserved packet type 15$", None),
    ("type-15-first-byte-only", b"\xf0", True, r"^reserved packet type 15$", None),
    (
        "pubrel-flags-0",
        b"\x60\x02\x00\x01",
        True,
        r"^invalid fixed header flags 0x0 for PUBREL \(must be 0x2\)$",
        None,
    ),
    ("subscribe-flags-0", b"\x80\x00", True, r"^invalid fixed header flags 0x0 for SUBSCRIBE", None),
    ("unsubscribe-flags-3", b"\xa3\x00", True, r"^invalid fixed header flags 0x3 for UNSUBSCRIBE", None),
    ("puback-flags-2", b"\x42\x02\x00\x01", True, r"^invalid fixed header flags 0x2 for PUBACK", None),
    ("connect-flags-1", b"\x11", True, r"^invalid fixed header flags 0x1 for CONNECT", None),
    ("pingreq-flags-8", b"\xc8\x00", True, r"^invalid fixed header flags 0x8 for PINGREQ", None),
    ("disconnect-flags", b"\xe4\x00", True, r"^invalid fixed header flags 0x4 for DISCONNECT", None),
    ("connack-flags", b"\x21\x02\x00\x00", False, r"^invalid fixed header flags 0x1 for CONNACK", None),
    ("publish-qos3", b"\x36\x00", True, r"^PUBLISH with QoS 3$", None),
    ("publish-qos0-dup", b"\x38\x04\x00\x01ab", True, r"^PUBLISH with QoS 0 must not have DUP set$", None),
    ("remaining-length-5-bytes", b"\x30\xff\xff\xff\xff", True, r"^remaining length exceeds 4 bytes$", None),
    # direction
    (
        "server-gets-connack",
        b"\x20\x02\x00\x00",
        True,
        r"^CONNACK is sent by a server, not by a client$",
        None,
    ),
    ("server-gets-suback", b"\x90\x03\x00\x01\x00", True, r"^SUBACK is sent by a server", None),
    ("server-gets-unsuback", b"\xb0\x02\x00\x01", True, r"^UNSUBACK is sent by a server", None),
    ("server-gets-pingresp", b"\xd0\x00", True, r"^PINGRESP is sent by a server", None),
    ("client-gets-connect", connect_bytes(), False, r"^CONNECT is sent by a client, not by a server$", None),
    (
        "client-gets-subscribe",
        b"\x82\x06\x00\x01\x00\x01a\x00",
        False,
        r"^SUBSCRIBE is sent by a client",
        None,
    ),
    (
        "client-gets-unsubscribe",
        b"\xa2\x05\x00\x01\x00\x01a",
        False,
        r"^UNSUBSCRIBE is sent by a client",
        None,
    ),
    ("client-gets-pingreq", b"\xc0\x00", False, r"^PINGREQ is sent by a client", None),
    ("client-gets-disconnect", b"\xe0\x00", False, r"^DISCONNECT is sent by a client", None),
    # lengths
    ("puback-long", b"\x40\x03\x00\x01\x00", True, r"^PUBACK: remaining length must be 2$", None),
    ("pubcomp-short", b"\x70\x01\x00", True, r"^PUBCOMP: remaining length must be 2$", None),
    ("pingreq-body", b"\xc0\x01\x00", True, r"^PINGREQ: remaining length must be 0$", None),
    ("disconnect-body", b"\xe0\x01\x00", True, r"^DISCONNECT: remaining length must be 0$", None),
    ("connack-short", b"\x20\x01\x00", False, r"^CONNACK: remaining length must be 2$", None),
    (
        "connack-reserved",
        b"\x20\x02\x02\x00",
        False,
        r"^CONNACK: reserved acknowledge flags must be 0$",
        None,
    ),
    # packet identifiers
    ("puback-pid-0", b"\x40\x02\x00\x00", True, r"^PUBACK: packet identifier must be non-zero$", None),
    ("pubrel-pid-0", b"\x62\x02\x00\x00", True, r"^PUBREL: packet identifier must be non-zero$", None),
    ("unsuback-pid-0", b"\xb0\x02\x00\x00", False, r"^UNSUBACK: packet identifier must be non-zero$", None),
    (
        "publish-qos1-pid-0",
        frame(0x32, pub_body(b"a", b"\x00\x00x")),
        True,
        r"^PUBLISH: packet identifier must be non-zero$",
        None,
    ),
    (
        "publish-qos1-no-pid",
        frame(0x32, pub_body(b"a", b"\x00")),
        True,
        r"^PUBLISH: truncated packet identifier$",
        None,
    ),
    (
        "subscribe-pid-0",
        frame(0x82, b"\x00\x00" + s16(b"a") + b"\x00"),
        True,
        r"^SUBSCRIBE: packet identifier must be non-zero$",
        None,
    ),
    (
        "unsubscribe-pid-0",
        frame(0xA2, b"\x00\x00" + s16(b"a")),
        True,
        r"^UNSUBSCRIBE: packet identifier must be non-zero$",
        None,
    ),
    (
        "suback-pid-0",
        frame(0x90, b"\x00\x00\x00"),
        False,
        r"^SUBACK: packet identifier must be non-zero$",
        None,
    ),
    # PUBLISH topic names
    ("publish-empty-topic", frame(0x30, pub_body(b"", b"x")), True, r"^topic name must not be empty$", None),
    (
        "publish-plus",
        frame(0x30, pub_body(b"a/+")),
        True,
        r"^topic name 'a/\+' must not contain wildcards$",
        None,
    ),
    ("publish-hash", frame(0x30, pub_body(b"#")), True, r"^topic name '#' must not contain wildcards$", None),
    ("publish-bad-utf8", frame(0x30, pub_body(b"a\xff")), True, r"^PUBLISH topic name: invalid UTF-8$", None),
    (
        "publish-surrogate",
        frame(0x30, pub_body(b"a\xed\xa0\x80")),
        True,
        r"^PUBLISH topic name: invalid UTF-8$",
        None,
    ),
    (
        "publish-nul",
        frame(0x30, pub_body(b"a\x00b")),
        True,
        r"^PUBLISH topic name: string contains U\+0000$",
        None,
    ),
    (
        "publish-topic-overrun",
        frame(0x30, b"\x00\x09abc"),
        True,
        r"^PUBLISH: topic length exceeds the packet$",
        None,
    ),
    ("publish-no-topic", frame(0x30, b"\x00"), True, r"^PUBLISH: truncated topic length$", None),
    # SUBSCRIBE / UNSUBSCRIBE
    (
        "subscribe-empty",
        frame(0x82, b"\x00\x01"),
        True,
        r"^SUBSCRIBE: at least one topic filter is required$",
        None,
    ),
    (
        "subscribe-qos3",
        frame(0x82, b"\x00\x01" + s16(b"a") + b"\x03"),
        True,
        r"^SUBSCRIBE: requested QoS 3 is not allowed$",
        None,
    ),
    (
        "subscribe-reserved-bits",
        frame(0x82, b"\x00\x01" + s16(b"a") + b"\x05"),
        True,
        r"^SUBSCRIBE: reserved bits of requested QoS must be 0$",
        None,
    ),
    (
        "subscribe-missing-qos",
        frame(0x82, b"\x00\x01" + s16(b"a")),
        True,
        r"^SUBSCRIBE: missing requested QoS$",
        None,
    ),
    (
        "subscribe-hash-not-last",
        frame(0x82, b"\x00\x01" + s16(b"a/#/b") + b"\x00"),
        True,
        r"^topic filter 'a/#/b': '#' must be alone in the last level$",
        None,
    ),
    (
        "subscribe-hash-not-alone",
        frame(0x82, b"\x00\x01" + s16(b"a/b#") + b"\x00"),
        True,
        r"^topic filter 'a/b#': '#' must be alone in the last level$",
        None,
    ),
    (
        "subscribe-plus-not-alone",
        frame(0x82, b"\x00\x01" + s16(b"a/+b") + b"\x00"),
        True,
        r"^topic filter 'a/\+b': '\+' must occupy a whole level$",
        None,
    ),
    (
        "subscribe-empty-filter",
        frame(0x82, b"\x00\x01" + s16(b"") + b"\x00"),
        True,
        r"^topic filter must not be empty$",
        None,
    ),
    (
        "subscribe-bad-utf8",
        frame(0x82, b"\x00\x01" + s16(b"\xc3") + b"\x00"),
        True,
        r"^SUBSCRIBE topic filter: invalid UTF-8$",
        None,
    ),
    (
        "unsubscribe-empty",
        frame(0xA2, b"\x00\x01"),
        True,
        r"^UNSUBSCRIBE: at least one topic filter is required$",
        None,
    ),
    (
        "unsubscribe-bad-filter",
        frame(0xA2, b"\x00\x01" + s16(b"+x")),
        True,
        r"^topic filter '\+x': '\+' must occupy a whole level$",
        None,
    ),
    (
        "unsubscribe-nul",
        frame(0xA2, b"\x00\x01" + s16(b"a\x00")),
        True,
        r"^UNSUBSCRIBE topic filter: string contains U\+0000$",
        None,
    ),
    (
        "suback-reserved-code",
        frame(0x90, b"\x00\x01\x03"),
        False,
        r"^SUBACK: reserved return code 0x03$",
        None,
    ),
    (
        "suback-empty",
        frame(0x90, b"\x00\x01"),
        False,
        r"^SUBACK: at least one return code is required$",
        None,
    ),
    # CONNECT
    (
        "connect-level-5",
        connect_bytes(level=5),
        True,
        r"^CONNECT: unacceptable protocol level 5 for 'MQTT'$",
        1,
    ),
    (
        "connect-mqtt-level-3",
        connect_bytes(level=3),
        True,
        r"^CONNECT: unacceptable protocol level 3 for 'MQTT'$",
        1,
    ),
    (
        "connect-mqisdp-level-4",
        connect_bytes(name=b"MQIsdp", level=4),
        True,
        r"^CONNECT: unacceptable protocol level 4 for 'MQIsdp'$",
        1,
    ),
    (
        "connect-bad-name",
        connect_bytes(name=b"HTTP"),
        True,
        r"^CONNECT: unsupported protocol name 'HTTP'$",
        None,
    ),
    (
        "connect-reserved-bit",
        connect_bytes(flags=0x03),
        True,
        r"^CONNECT: reserved flag bit 0 must be 0$",
        None,
    ),
    (
        "connect-will-qos-without-will",
        connect_bytes(flags=0x0A),
        True,
        r"^CONNECT: will QoS and will retain must be 0 when the will flag is 0$",
        None,
    ),
    (
        "connect-will-retain-without-will",
        connect_bytes(flags=0x22),
        True,
        r"^CONNECT: will QoS and will retain must be 0 when the will flag is 0$",
        None,
    ),
    (
        "connect-will-qos-3",
        connect_bytes(flags=0x1E, payload=s16(b"c") + s16(b"w") + s16(b"m")),
        True,
        r"^CONNECT: will QoS 3 is not allowed$",
        None,
    ),
    (
        "connect-password-without-username",
        connect_bytes(flags=0x42, payload=s16(b"c") + s16(b"pw")),
        True,
        r"^CONNECT: password flag set without username flag$",
        None,
    ),
    (
        "connect-will-topic-wildcard",
        connect_bytes(flags=0x06, payload=s16(b"c") + s16(b"w/#") + s16(b"m")),
        True,
        r"^topic name 'w/#' must not contain wildcards$",
        None,
    ),
    (
        "connect-missing-will",
        connect_bytes(flags=0x06, payload=s16(b"c")),
        True,
        r"^CONNECT will topic: truncated string length$",
        None,
    ),
    (
        "connect-missing-password",
        connect_bytes(flags=0xC2, payload=s16(b"c") + s16(b"u")),
        True,
        r"^CONNECT password: truncated length$",
        None,
    ),
    (
        "connect-trailing",
        connect_bytes(payload=s16(b"c") + b"zz"),
        True,
        r"^CONNECT: 2 unexpected trailing bytes$",
        None,
    ),
    (
        "connect-client-id-bad-utf8",
        connect_bytes(payload=s16(b"\xff")),
        True,
        r"^CONNECT client identifier: invalid UTF-8$",
        None,
    ),
    ("connect-truncated-header", frame(0x10, s16(b"MQTT") + b"\x04\x02"), True, r"^CONNECT: truncated", None),
    ("connect-no-level", frame(0x10, s16(b"MQTT")), True, r"^CONNECT: truncated protocol level$", None),
    ("connect-empty", frame(0x10, b""), True, r"^CONNECT protocol name: truncated string length$", None),
]


@pytest.mark.parametrize(
    ("wire", "server", "message", "code"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_validation_errors(wire: bytes, server: bool, message: str, code: int | None) -> None:
    for step in (None, 1):
        parser = MqttParser(server=server)
        with pytest.raises(MqttCodecError, match=message) as info:
            if step is None:
                parser.feed(wire)
            else:
                for i in range(len(wire)):
                    parser.feed(wire[i : i + 1])
        assert isinstance(info.value, CodecError)
        assert info.value.code == code
        assert info.value.fatal is True
        assert info.value.message == str(info.value)


def test_client_id_is_not_judged_by_the_codec() -> None:
    # zero-length id with clean session 0 and a long id: the adapter decides (CONNACK 2)
    (pkt,) = decode(connect_bytes(flags=0x00, payload=s16(b"")))
    assert pkt == Connect(client_id="", clean_session=False, keep_alive=60)
    long_id = "x" * 300
    wire = b"\x10\xb8\x02" + s16(b"MQTT") + b"\x04\x02\x00\x00" + s16(long_id.encode())
    (pkt,) = decode(wire)
    assert isinstance(pkt, Connect) and pkt.client_id == long_id


def test_error_keeps_earlier_packets_and_poisons_the_parser() -> None:
    parser = MqttParser()
    good = encode(PubAck(1)) + encode(PingReq())
    with pytest.raises(MqttCodecError) as info:
        parser.feed(good + b"\x00\x00" + good)
    assert info.value.packets == [PubAck(1), PingReq()]
    assert parser.buffered == 0
    with pytest.raises(MqttCodecError, match="reserved packet type 0"):
        parser.feed(good)


# --------------------------------------------------------------------------- round trips

text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
level = st.text(st.characters(codec="utf-8", exclude_characters="\x00/+#"), max_size=6)
topic_names = st.lists(level, min_size=1, max_size=4).map("/".join).filter(bool)
pids = st.integers(1, 0xFFFF)
payloads = st.binary(max_size=300)


@st.composite
def topic_filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(st.one_of(level, st.just("+")), min_size=1, max_size=4))
    if draw(st.booleans()):
        levels.append("#")
    result = "/".join(levels)
    return result or "#"


@st.composite
def connects(draw: st.DrawFn) -> Connect:
    name, lvl = draw(st.sampled_from([("MQTT", 4), ("MQIsdp", 3)]))
    will = draw(st.booleans())
    username = draw(st.none() | text)
    return Connect(
        client_id=draw(text),
        clean_session=draw(st.booleans()),
        keep_alive=draw(st.integers(0, 0xFFFF)),
        will_topic=draw(topic_names) if will else None,
        will_message=draw(payloads) if will else None,
        will_qos=draw(st.integers(0, 2)) if will else 0,
        will_retain=draw(st.booleans()) if will else False,
        username=username,
        password=draw(st.none() | st.binary(max_size=30)) if username is not None else None,
        protocol_name=name,
        protocol_level=lvl,
    )


@st.composite
def publishes(draw: st.DrawFn) -> Publish:
    qos = draw(st.integers(0, 2))
    return Publish(
        topic=draw(topic_names),
        payload=draw(payloads),
        qos=qos,
        retain=draw(st.booleans()),
        dup=draw(st.booleans()) if qos else False,
        packet_id=draw(pids) if qos else None,
    )


both_ways = st.one_of(
    publishes(),
    st.builds(PubAck, pids),
    st.builds(PubRec, pids),
    st.builds(PubRel, pids),
    st.builds(PubComp, pids),
)
client_packets = st.one_of(
    both_ways,
    connects(),
    st.builds(
        Subscribe, pids, st.lists(st.tuples(topic_filters(), st.integers(0, 2)), min_size=1, max_size=5)
    ),
    st.builds(Unsubscribe, pids, st.lists(topic_filters(), min_size=1, max_size=5)),
    st.just(PingReq()),
    st.just(Disconnect()),
)
server_packets = st.one_of(
    both_ways,
    st.builds(ConnAck, st.booleans(), st.integers(0, 5)),
    st.builds(SubAck, pids, st.lists(st.sampled_from([0, 1, 2, 0x80]), min_size=1, max_size=5)),
    st.builds(UnsubAck, pids),
    st.just(PingResp()),
)


@settings(max_examples=300, deadline=None)
@given(packets=st.lists(client_packets, min_size=1, max_size=5), step=st.integers(1, 50))
def test_round_trip_client_to_server(packets: list[Packet], step: int) -> None:
    wire = encode_all(packets)
    assert decode(wire, server=True) == packets
    assert decode(wire, server=True, step=step) == packets


@settings(max_examples=200, deadline=None)
@given(packets=st.lists(server_packets, min_size=1, max_size=5), step=st.integers(1, 50))
def test_round_trip_server_to_client(packets: list[Packet], step: int) -> None:
    wire = encode_all(packets)
    assert decode(wire, server=False) == packets
    assert decode(wire, server=False, step=step) == packets


@settings(max_examples=200, deadline=None)
@given(pub=publishes())
def test_publish_fast_path_matches_encode(pub: Publish) -> None:
    wire = encode_publish(pub.topic, pub.payload, pub.qos, pub.retain, pub.dup, pub.packet_id)
    assert wire == encode(pub)
    header = encode_publish_header(
        pub.topic.encode(), len(pub.payload), pub.qos, pub.retain, pub.dup, pub.packet_id
    )
    assert header + pub.payload == wire
    assert decode(wire) == [pub]


# --------------------------------------------------------------------------- fuzz


def _feed_all(parser: MqttParser, chunks: list[bytes]) -> None:
    try:
        for chunk in chunks:
            for pkt in parser.feed(chunk):
                assert type(pkt) in {
                    Connect,
                    ConnAck,
                    Publish,
                    PubAck,
                    PubRec,
                    PubRel,
                    PubComp,
                    Subscribe,
                    SubAck,
                    Unsubscribe,
                    UnsubAck,
                    PingReq,
                    PingResp,
                    Disconnect,
                }
    except MqttCodecError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), server=st.booleans(), cut=st.integers(0, 400))
def test_fuzz_random_bytes(data: bytes, server: bool, cut: int) -> None:
    _feed_all(MqttParser(server=server, max_packet_size=10_000), [data])
    _feed_all(MqttParser(server=server), [data[:cut], data[cut:]])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    packets=st.lists(client_packets | server_packets, min_size=1, max_size=3),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    server=st.booleans(),
)
def test_fuzz_mutated_packets(packets: list[Packet], flips: list[tuple[int, int]], server: bool) -> None:
    wire = bytearray(encode_all(packets))
    for where, value in flips:
        wire[where % len(wire)] = value
    _feed_all(MqttParser(server=server), [bytes(wire)])
    _feed_all(MqttParser(server=server), [bytes(wire[i : i + 7]) for i in range(0, len(wire), 7)])


# --------------------------------------------------------------------------- paho-mqtt interop


class PahoPeer:
    """A paho client driven by hand (no thread) against a socket we read with our parser."""

    def __init__(self, protocol: Any) -> None:
        import paho.mqtt.client as mqtt

        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="ferry-paho", protocol=protocol, clean_session=True
        )
        self.connected = False
        self.messages: list[tuple[str, bytes, int, bool]] = []
        self.client.on_connect = lambda *a: setattr(self, "connected", True)
        self.client.on_message = lambda _c, _u, m: self.messages.append(
            (m.topic, bytes(m.payload), m.qos, m.retain)
        )
        self.parser = MqttParser(server=True)
        self.received: list[Packet] = []
        self.conn: socket.socket | None = None

    def start(self) -> None:
        self.client.connect("127.0.0.1", self.listener.getsockname()[1], keepalive=45)
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(0.02)

    def send(self, *packets: Packet) -> None:
        assert self.conn is not None
        self.conn.sendall(encode_all(list(packets)))

    def pump(self, until: Callable[[], bool]) -> None:
        assert self.conn is not None
        deadline = time.monotonic() + 5
        while not until():
            assert time.monotonic() < deadline, f"timed out; received {self.received}"
            self.client.loop(timeout=0.01)
            try:
                data = self.conn.recv(65536)
            except TimeoutError:
                continue
            self.received += self.parser.feed(data)

    def take(self, n: int) -> list[Packet]:
        self.pump(lambda: len(self.received) >= n)
        out, self.received = self.received[:n], self.received[n:]
        return out

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()
        self.client.socket() and self.client.socket().close()  # type: ignore[union-attr]


def test_paho_mqtt311_packets_decode_and_ours_are_understood() -> None:
    import paho.mqtt.client as mqtt

    peer = PahoPeer(mqtt.MQTTv311)
    peer.client.will_set("last/will", b"gone", qos=1, retain=True)
    peer.client.username_pw_set("alice", "s3cret")
    try:
        peer.start()
        (connect,) = peer.take(1)
        assert connect == Connect(
            client_id="ferry-paho",
            clean_session=True,
            keep_alive=45,
            will_topic="last/will",
            will_message=b"gone",
            will_qos=1,
            will_retain=True,
            username="alice",
            password=b"s3cret",
        )
        peer.send(ConnAck(False, 0))
        peer.pump(lambda: peer.connected)

        _, sub_mid_or_none = peer.client.subscribe([("a/+", 1), ("b/#", 2), ("c", 0)])
        sub_mid = cast(int, sub_mid_or_none)
        (sub,) = peer.take(1)
        assert sub == Subscribe(sub_mid, [("a/+", 1), ("b/#", 2), ("c", 0)])
        peer.send(SubAck(sub_mid, [1, 2, 0x80]))

        _, unsub_mid_or_none = peer.client.unsubscribe(["a/+", "c"])
        unsub_mid = cast(int, unsub_mid_or_none)
        (unsub,) = peer.take(1)
        assert unsub == Unsubscribe(unsub_mid, ["a/+", "c"])
        peer.send(UnsubAck(unsub_mid))

        big = bytes(range(256)) * 300  # 76,800 bytes: three-byte remaining length
        peer.client.publish("t/0", b"zero", qos=0)
        info1 = peer.client.publish("t/1", b"one", qos=1, retain=True)
        info2 = peer.client.publish("t/ü/2", big, qos=2)
        p0, p1, p2 = peer.take(3)
        assert p0 == Publish("t/0", b"zero")
        assert p1 == Publish("t/1", b"one", 1, retain=True, packet_id=info1.mid)
        assert p2 == Publish("t/ü/2", big, 2, packet_id=info2.mid)
        peer.send(PubAck(info1.mid), PubRec(info2.mid))
        assert peer.take(1) == [PubRel(info2.mid)]
        peer.send(PubComp(info2.mid))
        peer.pump(lambda: info1.is_published() and info2.is_published())

        # server -> client publishes, encoded by us, acknowledged by paho
        peer.send(Publish("b/x", b"q1", 1, packet_id=7), Publish("b/y/z", big, 2, retain=True, packet_id=8))
        assert peer.take(2) == [PubAck(7), PubRec(8)]
        peer.send(PubRel(8))
        assert peer.take(1) == [PubComp(8)]
        peer.pump(lambda: len(peer.messages) == 2)
        assert peer.messages == [("b/x", b"q1", 1, False), ("b/y/z", big, 2, True)]

        peer.client._send_pingreq()  # keep-alive ping without waiting 45 s
        assert peer.take(1) == [PingReq()]
        peer.send(PingResp())

        peer.client.disconnect()
        assert peer.take(1) == [Disconnect()]
        assert peer.parser.buffered == 0
    finally:
        peer.close()


def test_paho_mqtt31_connect_decodes() -> None:
    import paho.mqtt.client as mqtt

    peer = PahoPeer(mqtt.MQTTv31)
    try:
        peer.start()
        (connect,) = peer.take(1)
        assert connect == Connect(
            client_id="ferry-paho", keep_alive=45, protocol_name="MQIsdp", protocol_level=3
        )
        peer.send(ConnAck(False, 0))
        peer.pump(lambda: peer.connected)
        peer.client.publish("x/y", b"v31", qos=1)
        (pub,) = peer.take(1)
        assert isinstance(pub, Publish) and (pub.topic, pub.payload, pub.qos) == ("x/y", b"v31", 1)
    finally:
        peer.close()
