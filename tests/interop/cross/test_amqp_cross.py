"""AMQP 1.0 (python-qpid-proton) <-> STOMP (stomp.py) <-> MQTT (paho) through one broker,
with ActiveMQ's mappings: text and bytes bodies, JMS headers and properties both ways."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from proton import Message
from proton.utils import BlockingConnection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "stomp"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from mqtt_clients import Paho, Received  # noqa: E402
from stomp_util import connect as stomp_connect  # noqa: E402

from support import BrokerProcess  # noqa: E402


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("amqpcross") / "data", ("amqp", "stomp", "mqtt")).start()
    yield b
    b.kill()


def amqp(b: BrokerProcess) -> BlockingConnection:
    return BlockingConnection(
        f"amqp://127.0.0.1:{b.ports['amqp']}", user="user", password="password", timeout=10
    )


def uid() -> str:
    return uuid.uuid4().hex[:8]


def test_amqp_to_stomp_text_and_headers(broker: BrokerProcess) -> None:
    q = f"cross.a2s.{uid()}"
    s, col = stomp_connect(broker.ports["stomp"])
    s.subscribe(f"/queue/{q}", id="1", ack="auto")
    c = amqp(broker)
    c.create_sender(f"queue://{q}").send(
        Message(
            body="héllo",
            durable=True,
            priority=6,
            correlation_id="k",
            subject="T",
            reply_to=f"queue://{q}.reply",
            properties={"color": "red", "n": 7},
        )
    )
    (m,) = col.wait_messages(1)
    h = m.headers
    assert m.body == "héllo" and "content-length" not in h  # a text message
    assert h["persistent"] == "true" and h["priority"] == "6" and h["correlation-id"] == "k"
    assert h["type"] == "T" and h["reply-to"] == f"/queue/{q}.reply"
    assert h["color"] == "red" and h["n"] == "7"
    c.close()
    s.disconnect()


def test_stomp_to_amqp_text_bytes_and_properties(broker: BrokerProcess) -> None:
    q = f"cross.s2a.{uid()}"
    s, _col = stomp_connect(broker.ports["stomp"], auto_content_length=False)
    s.send(
        f"/queue/{q}",
        "plain text",
        headers={"persistent": "true", "correlation-id": "c9", "flavour": "mint"},
        content_type="text/plain",
    )
    s.send(f"/queue/{q}", b"\x00\x01\x02", headers={"content-length": "3"})  # content-length: bytes
    c = amqp(broker)
    r = c.create_receiver(f"queue://{q}")
    t = r.receive(timeout=10)
    b = r.receive(timeout=10)
    r.accept()
    assert (
        t.body == "plain text"
        and t.durable
        and t.correlation_id == "c9"
        and t.properties["flavour"] == "mint"
    )
    assert t.address == f"queue://{q}"
    assert b.body == b"\x00\x01\x02"  # a bytes message arrives as a data section
    c.close()
    s.disconnect()


def test_amqp_topic_to_mqtt_and_back(broker: BrokerProcess) -> None:
    base = f"cross.{uid()}"
    p = Paho(broker, "tcp")
    got = Received()
    p.client.on_message = got
    p.subscribe(base.replace(".", "/") + "/#", qos=1)
    c = amqp(broker)
    c.create_sender(f"topic://{base}.sensor").send(Message(body=b"21.5", durable=True))
    m = got.get(timeout=10)
    assert m.topic == base.replace(".", "/") + "/sensor" and m.payload == b"21.5" and m.qos == 1
    # and MQTT -> AMQP: a bytes body on a topic subscription
    r = c.create_receiver(f"topic://{base}.>")
    p.publish(base.replace(".", "/") + "/cmd", b"on", qos=1)
    back = r.receive(timeout=10)
    r.accept()
    assert back.body == b"on" and back.address == f"topic://{base}.cmd" and back.durable
    c.close()
    p.close()


def test_stomp_map_json_reaches_amqp_as_text(broker: BrokerProcess) -> None:
    # a map body from AMQP reaches STOMP as JSON with the transformation header
    q = f"cross.map.{uid()}"
    s, col = stomp_connect(broker.ports["stomp"])
    s.subscribe(f"/queue/{q}", id="1", ack="auto")
    c = amqp(broker)
    c.create_sender(f"queue://{q}").send(Message(body={"a": 1, "b": "two"}))
    (m,) = col.wait_messages(1)
    assert m.headers["transformation"] == "jms-map-json"
    import json

    assert json.loads(m.body) == {"a": 1, "b": "two"}
    c.close()
    s.disconnect()


def test_far_future_expiry_from_stomp_reaches_amqp(broker: BrokerProcess) -> None:
    import time

    q = f"cross.ttl.{uid()}"
    expires = int(time.time() * 1000) + 60 * 24 * 3600 * 1000  # 60 days: beyond a uint ttl
    s, col = stomp_connect(broker.ports["stomp"])
    s.send(f"/queue/{q}", "later", headers={"expires": str(expires)}, receipt="r")
    col.wait_receipt("r")
    c = amqp(broker)
    rcv = c.create_receiver(f"queue://{q}")
    m = rcv.receive(timeout=10)
    rcv.accept()
    c.close()
    s.disconnect()
    assert bytes(m.body) == b"later"  # stomp.py adds content-length: a bytes message
    assert abs(m.expiry_time * 1000 - expires) < 1000
    assert m.ttl == 0xFFFFFFFF / 1000
