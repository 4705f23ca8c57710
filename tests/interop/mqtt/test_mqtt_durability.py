"""A persistent MQTT session and retained messages survive kill -9 of the broker."""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

from mqtt_clients import Paho

from support import BrokerProcess


def test_persistent_session_and_retained_survive_kill_9(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "data", ("mqtt", "ws")).start()
    s = Paho(b, "tcp", "survivor", clean=False)
    s.subscribe("k9/q1", 1)
    s.subscribe("k9/q2/#", 2)
    s.close()
    pub = Paho(b, "ws", "k9pub")
    for i in range(20):
        pub.publish("k9/q1", b"one-%d" % i, 1)
    pub.publish("k9/q2/x", b"two", 2)
    pub.publish("k9/retained", b"kept", 1, retain=True)
    pub.publish("k9/cleared", b"soon gone", 0, retain=True)
    pub.publish("k9/cleared", b"", 1, retain=True)  # acknowledged once stored
    pub.close()
    b.kill()  # SIGKILL: everything acknowledged must be in the store

    b.start()
    s = Paho(b, "tcp", "survivor", clean=False)
    assert s.session_present
    got = sorted(s.messages.get().payload for _ in range(21))
    assert got == sorted([b"one-%d" % i for i in range(20)] + [b"two"])
    # the subscriptions themselves survived: new messages still arrive
    pub = Paho(b, "tcp", "k9pub2")
    pub.publish("k9/q2/y", b"after", 1)
    assert s.messages.get().payload == b"after"
    r = Paho(b, "ws", "k9reader")
    r.subscribe("k9/+", 1)
    m = r.messages.get()
    assert (m.topic, m.payload, m.retain) == ("k9/retained", b"kept", True)
    assert r.messages.none(0.5)  # k9/cleared was cleared before the kill
    for c in (s, pub, r):
        c.close()
    b.kill()


def test_no_acknowledged_publish_is_lost_when_the_broker_dies_mid_stream(tmp_path: Path) -> None:
    """A QoS 1 stream to a durable subscriber that acknowledges as it goes, and kill -9 in
    the middle of it. Many of these messages are acknowledged by the subscriber before the
    store writes them, and then never are (their PUBACK goes out without a commit); the
    subscriber is slower than the publisher, so others wait in the store. Either
    way: every message the broker PUBACKed was delivered to the subscriber before the kill
    or is delivered after the restart."""
    b = BrokerProcess(tmp_path / "data", ("mqtt",)).start()
    s = Paho(b, "tcp", "k9-stream-sub", clean=False)
    s.subscribe("k9/stream", 1)
    received = s.messages

    def slow(client: Any, userdata: Any, msg: Any) -> None:
        time.sleep(0.001)  # slower than the publisher: some messages wait in the store
        received(client, userdata, msg)

    s.client.on_message = slow
    pub = Paho(b, "tcp", "k9-stream-pub")
    infos = [pub.client.publish("k9/stream", b"m-%d" % i, 1) for i in range(4000)]
    deadline = time.monotonic() + 30
    while sum(1 for i in infos if i.is_published()) < 1500 and time.monotonic() < deadline:
        time.sleep(0.01)
    b.kill()
    acked = {b"m-%d" % n for n, i in enumerate(infos) if i.is_published()}
    assert len(acked) >= 1500
    pub.client.loop_stop()
    s.client.loop_stop()
    got: set[bytes] = set()
    while not s.messages.q.empty():
        got.add(s.messages.q.get().payload)
    b.start()
    s = Paho(b, "tcp", "k9-stream-sub", clean=False)
    assert s.session_present
    while True:
        try:
            got.add(s.messages.get(timeout=2.0).payload)
        except queue.Empty:
            break
    missing = acked - got
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
    s.close()
    b.kill()
