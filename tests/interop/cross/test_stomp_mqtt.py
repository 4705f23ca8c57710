"""STOMP <-> MQTT both ways, over TCP and over WebSocket (ActiveMQ's mapping:
MQTT a/b is topic a.b, + is *, # is >, the payload is a bytes body)."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from mqtt_clients import Paho  # noqa: E402

from ferrymq.protocols.stomp.frames import Frame, FrameParser  # noqa: E402
from support import BrokerProcess  # noqa: E402


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("cross") / "data", ("stomp", "mqtt", "ws")).start()
    yield b
    b.kill()


class Stomp:
    """A raw STOMP 1.2 client over TCP or over WebSocket (subprotocol v12.stomp)."""

    def __init__(self, broker: BrokerProcess, over_ws: bool) -> None:
        self.parser = FrameParser()
        self.frames: list[Frame] = []
        self.sock: socket.socket | None = None
        self.ws = None
        if over_ws:
            self.ws = connect(
                f"ws://127.0.0.1:{broker.ports['ws']}/ws",
                subprotocols=["v12.stomp"],  # type: ignore[list-item]
                legacy=True,
            )  # type: ignore[call-arg]
        else:
            self.sock = socket.create_connection(("127.0.0.1", broker.ports["stomp"]))
        self.send(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:user\npasscode:password\n\n\x00")
        assert self.expect().command == "CONNECTED"

    def send(self, data: bytes) -> None:
        if self.ws is not None:
            self.ws.send(data)
        else:
            assert self.sock is not None
            self.sock.sendall(data)

    def expect(self, timeout: float = 5.0) -> Frame:
        deadline = time.monotonic() + timeout
        while not self.frames:
            left = deadline - time.monotonic()
            assert left > 0, "no STOMP frame"
            if self.ws is not None:
                data = self.ws.recv(left)
                data = data.encode() if isinstance(data, str) else data
            else:
                assert self.sock is not None
                self.sock.settimeout(left)
                data = self.sock.recv(65536)
            assert data, "connection closed"
            self.frames.extend(f for f in self.parser.feed(data) if isinstance(f, Frame))
        return self.frames.pop(0)

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.sock is not None:
            self.sock.close()


@pytest.fixture(params=["tcp", "ws"])
def over(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_stomp_send_reaches_mqtt_subscriber(broker: BrokerProcess, over: str) -> None:
    sub = Paho(broker, over, f"x-sub-{over}")
    assert sub.subscribe(f"cross/{over}/+", 1)[0].value == 1
    s = Stomp(broker, over_ws=over == "ws")
    s.send(f"SEND\ndestination:/topic/cross.{over}.a\npersistent:true\nreceipt:r1\n\nfrom stomp\x00".encode())
    assert s.expect().command == "RECEIPT"
    s.send(f"SEND\ndestination:/topic/cross.{over}.b\ncontent-length:3\n\n\x00\x01\x02\x00".encode())
    m = sub.messages.get()
    assert (m.topic, m.payload, m.qos) == (f"cross/{over}/a", b"from stomp", 1)  # persistent -> QoS 1
    m = sub.messages.get()
    assert (m.topic, m.payload, m.qos) == (f"cross/{over}/b", b"\x00\x01\x02", 0)  # non-persistent -> QoS 0
    s.close()
    sub.close()


def test_mqtt_publish_reaches_stomp_subscriber(broker: BrokerProcess, over: str) -> None:
    s = Stomp(broker, over_ws=over == "ws")
    s.send(f"SUBSCRIBE\nid:1\ndestination:/topic/m2s.{over}.>\nreceipt:s\n\n\x00".encode())
    assert s.expect().command == "RECEIPT"
    pub = Paho(broker, over, f"x-pub-{over}")
    pub.publish(f"m2s/{over}/deep/topic", b"from mqtt", 1)
    pub.publish(f"m2s/{over}/q0", b"\xff\xfe", 0)
    f = s.expect()
    assert f.command == "MESSAGE"
    assert f.headers["destination"] == f"/topic/m2s.{over}.deep.topic"
    assert f.body == b"from mqtt"
    assert f.headers.get("persistent") == "true"
    assert f.headers["content-length"] == "9"  # a bytes message
    f = s.expect()
    assert f.body == b"\xff\xfe" and "persistent" not in f.headers
    s.close()
    pub.close()


def test_stomp_retained_message_reaches_later_mqtt_subscriber(broker: BrokerProcess, over: str) -> None:
    s = Stomp(broker, over_ws=over == "ws")
    s.send(f"SEND\ndestination:/topic/ret.{over}\nActiveMQ.Retain:true\nreceipt:r\n\nlast\x00".encode())
    assert s.expect().command == "RECEIPT"
    sub = Paho(broker, over, f"x-ret-{over}")
    sub.subscribe(f"ret/{over}", 1)
    m = sub.messages.get()
    assert (m.payload, m.retain) == (b"last", True)
    s.close()
    sub.close()
