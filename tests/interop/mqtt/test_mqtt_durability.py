"""A persistent MQTT session and retained messages survive kill -9 of the broker."""

from __future__ import annotations

from pathlib import Path

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
