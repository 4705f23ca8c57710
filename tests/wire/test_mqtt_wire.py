"""MQTT on the wire: raw bytes over TCP and WebSocket against a real broker process.

Malformed and protocol-violating input closes that connection (with a CONNACK code where
the spec gives one) while the broker and other clients carry on."""

from __future__ import annotations

import itertools
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ferrymq.protocols.mqtt.packets import (  # noqa: E402
    ConnAck,
    Connect,
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
    encode,
)
from support import BrokerProcess  # noqa: E402

_ids = itertools.count()


def cid(prefix: str = "w") -> str:
    return f"{prefix}{next(_ids)}-{time.monotonic_ns() % 10**6}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(
        tmp_path_factory.mktemp("wire") / "data", ("mqtt", "ws"), config="limits:\n  max_frame_size: 4096\n"
    ).start()
    yield b
    b.kill()


class Raw:
    """Bytes to the broker over TCP or WebSocket; packets back through the client parser."""

    def __init__(self, broker: BrokerProcess, kind: str) -> None:
        self.kind = kind
        self.parser = MqttParser(server=False)
        self.ws: ClientConnection | None = None
        self.sock: socket.socket | None = None
        if kind == "ws":
            self.ws = connect(f"ws://127.0.0.1:{broker.ports['ws']}/", subprotocols=["mqtt"], legacy=True)  # type: ignore[list-item,call-arg]
        else:
            self.sock = socket.create_connection(("127.0.0.1", broker.ports["mqtt"]))
        self.packets: list[Packet] = []

    def send(self, data: bytes) -> None:
        if self.ws is not None:
            self.ws.send(data)
        else:
            assert self.sock is not None
            self.sock.sendall(data)

    def _read(self, timeout: float) -> bytes | None:
        """Some bytes, b'' on close, None on timeout."""
        try:
            if self.ws is not None:
                msg = self.ws.recv(timeout)
                return msg.encode() if isinstance(msg, str) else msg
            assert self.sock is not None
            self.sock.settimeout(timeout)
            return self.sock.recv(65536)
        except TimeoutError:
            return None
        except (ConnectionClosed, ConnectionResetError):
            return b""

    def expect(self, n: int = 1, timeout: float = 5.0) -> list[Packet]:
        deadline = time.monotonic() + timeout
        while len(self.packets) < n:
            left = deadline - time.monotonic()
            data = self._read(max(left, 0.01)) if left > 0 else None
            if not data:
                raise AssertionError(f"expected {n} packets, got {self.packets}")
            self.packets.extend(self.parser.feed(data))
        out, self.packets = self.packets[:n], self.packets[n:]
        return out

    def closed(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self._read(0.2)
            if data == b"":
                return True
            if data:
                self.packets.extend(self.parser.feed(data))
        return False

    def connect(self, client_id: str, **kw: object) -> ConnAck:
        self.send(encode(Connect(client_id=client_id, username="user", password=b"password", **kw)))  # type: ignore[arg-type]
        (ack,) = self.expect()
        assert isinstance(ack, ConnAck)
        return ack

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.sock is not None:
            self.sock.close()


@pytest.fixture(params=["tcp", "ws"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


MALFORMED = {
    "reserved packet type 0": b"\x00\x00",
    "reserved packet type 15": b"\xf0\x00",
    "remaining length of 5 bytes": b"\x30\xff\xff\xff\xff\x7f",
    "PUBREL with wrong flags": b"\x60\x02\x00\x01",
    "PUBLISH QoS 3": b"\x36\x05\x00\x01a\x00\x01",
    "SUBSCRIBE without topics": b"\x82\x02\x00\x01",
    "topic with wildcard in PUBLISH": b"\x30\x05\x00\x03a/#",
    "invalid UTF-8 topic": b"\x30\x04\x00\x02\xc3\x28",
    "packet id 0": b"\x40\x02\x00\x00",
    "server packet CONNACK": b"\x20\x02\x00\x00",
    "a second CONNECT": encode(Connect(client_id="again")),
    "packet larger than max_frame_size": b"\x30\x80\x40" + b"\x00\x01a" + b"x" * 100,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_packet_closes_only_that_connection(broker: BrokerProcess, kind: str, name: str) -> None:
    other = Raw(broker, kind)
    assert other.connect(cid("o")).return_code == 0
    bad = Raw(broker, kind)
    assert bad.connect(cid("b")).return_code == 0
    bad.send(MALFORMED[name])
    assert bad.closed(), f"{name}: connection stayed open"
    other.send(encode(PingReq()))
    assert other.expect()[0] == PingResp()  # the broker and other clients carry on
    other.close()


def test_unacceptable_protocol_level_gets_connack_1(broker: BrokerProcess, kind: str) -> None:
    c = Raw(broker, kind)
    # MQTT 5 CONNECT header: protocol level 5
    c.send(encode(Connect(client_id="v5", protocol_level=4)).replace(b"MQTT\x04", b"MQTT\x05", 1))
    (ack,) = c.expect()
    assert isinstance(ack, ConnAck) and ack.return_code == 1
    assert c.closed()


def test_unknown_protocol_name_closes_without_connack(broker: BrokerProcess, kind: str) -> None:
    c = Raw(broker, kind)
    c.send(encode(Connect(client_id="x")).replace(b"MQTT\x04", b"MQTX\x04", 1))
    assert c.closed()
    assert c.packets == []


def test_reserved_connect_flag_closes(broker: BrokerProcess, kind: str) -> None:
    c = Raw(broker, kind)
    data = bytearray(encode(Connect(client_id="r")))
    data[9] |= 0x01  # connect flags byte: reserved bit
    c.send(bytes(data))
    assert c.closed()


def test_first_packet_must_be_connect(broker: BrokerProcess, kind: str) -> None:
    c = Raw(broker, kind)
    c.send(encode(PingReq()))
    assert c.closed()
    assert c.packets == []


def test_empty_client_id_needs_clean_session(broker: BrokerProcess, kind: str) -> None:
    c = Raw(broker, kind)
    ack = c.connect("", clean_session=False)
    assert ack.return_code == 2
    assert c.closed()
    c = Raw(broker, kind)
    assert c.connect("", clean_session=True).return_code == 0


def test_bad_password_gets_connack_4(broker: BrokerProcess, kind: str) -> None:
    c = Raw(broker, kind)
    c.send(encode(Connect(client_id=cid(), username="user", password=b"nope")))
    (ack,) = c.expect()
    assert isinstance(ack, ConnAck) and ack.return_code == 4
    assert c.closed()


def test_keep_alive_expiry_closes_and_publishes_the_will(broker: BrokerProcess, kind: str) -> None:
    watcher = Raw(broker, kind)
    watcher.connect(cid("watch"))
    topic = f"ka/{cid()}"
    watcher.send(encode(Subscribe(1, [(topic, 0)])))
    assert isinstance(watcher.expect()[0], SubAck)
    idle = Raw(broker, kind)
    started = time.monotonic()
    idle.connect(cid("idle"), keep_alive=1, will_topic=topic, will_message=b"bye")
    assert idle.closed(4)
    elapsed = time.monotonic() - started
    assert 1.2 < elapsed < 3.5  # 1.5 x keep-alive
    (p,) = watcher.expect()
    assert isinstance(p, Publish) and p.payload == b"bye"
    watcher.close()


def test_unacknowledged_qos1_is_resent_with_dup_on_reconnect(broker: BrokerProcess, kind: str) -> None:
    client_id = cid("dup")
    topic = f"dup/{client_id}"
    c = Raw(broker, kind)
    assert c.connect(client_id, clean_session=False).return_code == 0
    c.send(encode(Subscribe(1, [(topic, 1)])))
    assert c.expect()[0] == SubAck(1, [1])
    c.send(encode(Publish(topic, b"once", 1, packet_id=7)))
    got = c.expect(2)
    pub = next(p for p in got if isinstance(p, Publish))
    assert PubAck(7) in got
    assert not pub.dup
    c.close()  # without PUBACK
    c = Raw(broker, kind)
    ack = c.connect(client_id, clean_session=False)
    assert ack.session_present
    (again,) = c.expect()
    assert isinstance(again, Publish) and again.payload == b"once" and again.dup and again.qos == 1
    assert again.packet_id is not None
    c.send(encode(PubAck(again.packet_id)))
    c.close()
    c = Raw(broker, kind)
    c.connect(client_id, clean_session=False)
    assert not c.closed(0.5)
    assert c.packets == []  # acknowledged: not sent again
    c.close()


def test_qos2_inbound_duplicate_is_routed_once(broker: BrokerProcess, kind: str) -> None:
    topic = f"q2/{cid()}"
    sub = Raw(broker, kind)
    sub.connect(cid("s"))
    sub.send(encode(Subscribe(1, [(topic, 2)])))
    sub.expect()
    pub = Raw(broker, kind)
    pub.connect(cid("p"))
    pub.send(encode(Publish(topic, b"exactly", 2, packet_id=9)))
    assert pub.expect()[0] == PubRec(9)
    pub.send(encode(Publish(topic, b"exactly", 2, dup=True, packet_id=9)))
    assert pub.expect()[0] == PubRec(9)
    pub.send(encode(PubRel(9)))
    assert pub.expect()[0] == PubComp(9)
    (p,) = sub.expect()
    assert isinstance(p, Publish) and p.qos == 2 and p.payload == b"exactly"
    assert p.packet_id is not None
    sub.send(encode(PubRec(p.packet_id)))
    assert sub.expect()[0] == PubRel(p.packet_id)
    sub.send(encode(PubComp(p.packet_id)))
    assert not sub.closed(0.5)
    assert sub.packets == []  # one delivery only
    sub.close()
    pub.close()


def test_packets_split_and_packed_arbitrarily(broker: BrokerProcess, kind: str) -> None:
    topic = f"split/{cid()}"
    c = Raw(broker, kind)
    data = encode(Connect(client_id=cid("sp"), username="user", password=b"password"))
    data += encode(Subscribe(1, [(topic, 1)]))
    data += b"".join(encode(Publish(topic, b"m%d" % i, 1, packet_id=i + 1)) for i in range(20))
    for i in range(0, len(data), 7):  # 7-byte pieces, each its own write / WebSocket message
        c.send(data[i : i + 7])
    got = c.expect(2 + 20 + 20)
    assert isinstance(got[0], ConnAck) and isinstance(got[1], SubAck)
    pubs = [p.payload for p in got if isinstance(p, Publish)]
    assert pubs == [b"m%d" % i for i in range(20)]
    assert [p.packet_id for p in got if isinstance(p, PubAck)] == list(range(1, 21))
    c.close()


def test_websocket_accepts_any_path_and_refuses_unknown_subprotocols(broker: BrokerProcess) -> None:
    for path in ("/", "/ws", "/mqtt"):
        with connect(f"ws://127.0.0.1:{broker.ports['ws']}{path}", subprotocols=["mqtt"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "mqtt"
    with pytest.raises(Exception):  # noqa: B017 - the handshake is refused with HTTP 400
        connect(f"ws://127.0.0.1:{broker.ports['ws']}/", subprotocols=["amqp"])  # type: ignore[list-item]


def test_qos2_packet_ids_of_a_persistent_session_survive_kill_9(tmp_path: Path) -> None:
    """Clean session 0: a PUBLISH answered with PUBREC and a PUBREL awaiting its PUBCOMP are
    remembered across a kill -9, so the re-sent PUBLISH is not routed twice and the PUBREL is
    sent again (MQTT 3.1.1 4.3.3, 4.4)."""
    b = BrokerProcess(tmp_path / "data", ("mqtt",)).start()
    try:
        topic = f"q2k9/{cid()}"
        sub = Raw(b, "tcp")
        sub.connect("q2k9-sub", clean_session=False)
        sub.send(encode(Subscribe(1, [(topic, 2)])))
        sub.expect()
        pub = Raw(b, "tcp")
        pub.connect("q2k9-pub", clean_session=False)
        pub.send(encode(Publish(topic, b"exactly", 2, packet_id=9)))
        assert pub.expect()[0] == PubRec(9)  # the broker owns the message; PUBREL not sent yet
        (p,) = sub.expect()
        assert isinstance(p, Publish) and p.qos == 2 and p.packet_id is not None
        sub.send(encode(PubRec(p.packet_id)))
        assert sub.expect()[0] == PubRel(p.packet_id)  # PUBCOMP not sent yet
        time.sleep(0.2)
        b.kill()
        b.start()
        pub = Raw(b, "tcp")
        assert pub.connect("q2k9-pub", clean_session=False).session_present
        pub.send(encode(Publish(topic, b"exactly", 2, dup=True, packet_id=9)))
        assert pub.expect()[0] == PubRec(9)
        pub.send(encode(PubRel(9)))
        assert pub.expect()[0] == PubComp(9)
        sub = Raw(b, "tcp")
        assert sub.connect("q2k9-sub", clean_session=False).session_present
        assert sub.expect()[0] == PubRel(p.packet_id)  # sent again on reconnect
        sub.send(encode(PubComp(p.packet_id)))
        assert not sub.closed(0.5)
        assert sub.packets == []  # the duplicate PUBLISH was not routed again
        # the packet id is free again: a new message with it is routed
        pub.send(encode(Publish(topic, b"next", 2, packet_id=9)))
        assert pub.expect()[0] == PubRec(9)
        pub.send(encode(PubRel(9)))
        assert pub.expect()[0] == PubComp(9)
        (q,) = sub.expect()
        assert isinstance(q, Publish) and q.payload == b"next"
        sub.close()
        pub.close()
    finally:
        b.kill()
