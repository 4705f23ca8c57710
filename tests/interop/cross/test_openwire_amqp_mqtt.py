"""OpenWire (the unchanged ActiveMQ JMS client) <-> AMQP 1.0 (Qpid Proton) and <-> MQTT
(paho), both ways, as ActiveMQ maps them: JMS text is an AMQP string value, bytes a data
section, a map an AMQP map; MQTT payloads are JMS BytesMessages, QoS >= 1 persistent."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from proton import Message as ProtonMessage
from proton.utils import BlockingConnection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "openwire"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

import jms_harness  # noqa: E402

from support import BrokerProcess  # noqa: E402


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("cross-oam") / "data", ("openwire", "amqp", "mqtt")).start()
    yield b
    b.kill()


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return jms_harness.compile_jms(tmp_path_factory.mktemp("openwire-jms-cross2"))


def amqp(b: BrokerProcess) -> BlockingConnection:
    return BlockingConnection(f"amqp://127.0.0.1:{b.ports['amqp']}", user="user", password="password",
                              allowed_mechs="PLAIN", allow_insecure_mechs=True)


def openwire_url(b: BrokerProcess) -> str:
    return f"tcp://127.0.0.1:{b.ports['openwire']}"


def test_jms_to_amqp(broker: BrokerProcess, classes: Path) -> None:
    got, log = jms_harness.run(classes, openwire_url(broker), "", "amqp", ["crossout"])
    assert got.get(("crossout", "sent")) == 3, log
    conn = amqp(broker)
    rcv = conn.create_receiver("queue://ow.amqp.to-stomp")
    text, data, mapped = (rcv.receive(timeout=10) for _ in range(3))
    rcv.accept()
    conn.close()
    assert text.body == "text from jms \u00e9"
    assert text.properties["color"] == "red" and text.properties["n"] == 5
    assert text.correlation_id == "c-1" and text.priority == 7 and text.durable
    assert bytes(data.body) == b"\x00\x01\x02\x03"
    assert dict(mapped.body) == {"name": "widget", "qty": 42}


def test_amqp_to_jms(broker: BrokerProcess, classes: Path) -> None:
    conn = amqp(broker)
    snd = conn.create_sender("queue://ow.amqpin.from-stomp")
    snd.send(ProtonMessage(body="hello from stomp", properties={"color": "blue"}, correlation_id="s-1",
                           priority=8, durable=True))
    snd.send(ProtonMessage(body=b"raw\x00bytes", durable=False))
    conn.close()
    got, log = jms_harness.run(classes, openwire_url(broker), "", "amqpin", ["crossin"])
    assert got[("crossin", "received")] == [
        "text:hello from stomp|blue|s-1|8|true",
        "bytes:raw\x00bytes|null|null|4|false",
    ], log


def mqtt_client(b: BrokerProcess, name: str) -> paho.Client:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=name)
    c.username_pw_set("user", "password")
    c.connect("127.0.0.1", b.ports["mqtt"])
    c.loop_start()
    return c


def test_jms_topic_to_mqtt(broker: BrokerProcess, classes: Path) -> None:
    got: list[tuple[bytes, int]] = []
    subscribed = threading.Event()
    c = mqtt_client(broker, "cross-sub")
    c.on_message = lambda _c, _u, m: got.append((m.payload, m.qos))
    c.on_subscribe = lambda *_a: subscribed.set()
    c.subscribe("ow/mqtt/to-mqtt", qos=1)
    assert subscribed.wait(10)
    res, log = jms_harness.run(classes, openwire_url(broker), "", "mqtt", ["topicout"])
    assert res.get(("topicout", "sent")) == 2, log
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    c.loop_stop()
    c.disconnect()
    # JMS sends are persistent by default: both arrive at the subscription's QoS 1
    assert got == [(b"text to mqtt", 1), (b"\x00\x01\x02\x03", 1)]


def test_mqtt_to_jms_topic(broker: BrokerProcess, classes: Path) -> None:
    cmd = jms_harness.command(classes, openwire_url(broker), "", "mqttin", ["topicin"])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if '"k":"ready"' in line.replace(" ", ""):
            break
    c = mqtt_client(broker, "cross-pub")
    c.publish("ow/mqttin/from-mqtt", b"qos1 payload", qos=1).wait_for_publish(10)
    c.publish("ow/mqttin/from-mqtt", b"qos0 payload", qos=0).wait_for_publish(10)
    out, _ = proc.communicate(timeout=60)
    c.loop_stop()
    c.disconnect()
    got: dict[Any, Any] = jms_harness.parse("".join(lines) + out)
    assert got[("topicin", "received")] == ["bytes:qos1 payload|true", "bytes:qos0 payload|false"], \
        json.dumps(lines) + out
