"""MQTT 3.1.1 through paho-mqtt over TCP, TLS and WebSocket (the ``transport`` fixture)."""

from __future__ import annotations

import itertools
import time

import pytest
from mqtt_clients import Paho, connect_rc, wait_until

from support import BrokerProcess

_n = itertools.count()


def uid(prefix: str) -> str:
    return f"{prefix}{next(_n)}{time.monotonic_ns() % 100000}"


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_subscribe_each_qos(mqtt_broker: BrokerProcess, transport: str, qos: int) -> None:
    t = uid("t/q")
    sub = Paho(mqtt_broker, transport, uid("sub"))
    pub = Paho(mqtt_broker, transport, uid("pub"))
    assert sub.subscribe(t, qos)[0].value == qos  # granted QoS
    for i in range(5):
        pub.publish(t, f"m{i}".encode(), qos)
    got = [sub.messages.get() for _ in range(5)]
    assert [m.payload for m in got] == [f"m{i}".encode() for i in range(5)]
    assert {m.qos for m in got} == {qos}
    assert not any(m.retain for m in got)
    sub.close()
    pub.close()


@pytest.mark.parametrize(("sub_qos", "pub_qos"), [(1, 2), (0, 2), (2, 0), (2, 1)])
def test_delivery_qos_is_the_lower_of_subscription_and_publish(
    mqtt_broker: BrokerProcess, transport: str, sub_qos: int, pub_qos: int
) -> None:
    t = uid("down/")
    sub = Paho(mqtt_broker, transport, uid("sub"))
    pub = Paho(mqtt_broker, transport, uid("pub"))
    sub.subscribe(t, sub_qos)
    pub.publish(t, b"x", pub_qos)
    assert sub.messages.get().qos == min(sub_qos, pub_qos)
    sub.close()
    pub.close()


def test_wildcards_and_dollar_topics(mqtt_broker: BrokerProcess, transport: str) -> None:
    root = uid("w")
    plus = Paho(mqtt_broker, transport, uid("plus"))
    hash_ = Paho(mqtt_broker, transport, uid("hash"))
    lead = Paho(mqtt_broker, transport, uid("lead"))
    dollar = Paho(mqtt_broker, transport, uid("dollar"))
    pub = Paho(mqtt_broker, transport, uid("pub"))
    plus.subscribe(f"{root}/+/c", 1)
    hash_.subscribe(f"{root}/#", 1)
    lead.subscribe("#", 0)
    dollar.subscribe(f"$X{root}/#", 0)
    pub.publish(f"{root}/b/c", b"1", 1)
    pub.publish(f"{root}/b/d/c", b"2", 1)
    pub.publish(f"$X{root}/b", b"3", 1)
    assert plus.messages.get().topic == f"{root}/b/c"
    assert plus.messages.none(0.3)
    assert [hash_.messages.get().topic for _ in range(2)] == [f"{root}/b/c", f"{root}/b/d/c"]
    assert dollar.messages.get().topic == f"$X{root}/b"
    # '#' alone sees the two normal topics but never the $ topic (spec 4.7.2)
    assert [lead.messages.get().topic for _ in range(2)] == [f"{root}/b/c", f"{root}/b/d/c"]
    assert lead.messages.none(0.3)
    lead2 = Paho(mqtt_broker, transport, uid("lead2"))
    lead2.subscribe("+/#", 0)
    pub.publish(f"$X{root}/c", b"4", 0)
    pub.publish(f"{root}/z", b"5", 0)
    seen = [lead2.messages.get().topic for _ in range(1)]
    assert seen == [f"{root}/z"]
    for c in (plus, hash_, lead, lead2, dollar, pub):
        c.close()


def test_unsubscribe(mqtt_broker: BrokerProcess, transport: str) -> None:
    t = uid("u/")
    sub = Paho(mqtt_broker, transport, uid("sub"))
    sub.subscribe(t, 1)
    sub.publish(t, b"a", 1)
    assert sub.messages.get().payload == b"a"
    info = sub.client.unsubscribe(t)
    assert wait_until(lambda: info[0] == 0)
    time.sleep(0.2)
    sub.publish(t, b"b", 1)
    assert sub.messages.none(0.5)
    sub.close()


def test_retained_messages(mqtt_broker: BrokerProcess, transport: str) -> None:
    t = uid("r/")
    pub = Paho(mqtt_broker, transport, uid("pub"))
    pub.publish(t, b"last-value", 1, retain=True)
    sub = Paho(mqtt_broker, transport, uid("sub"))
    sub.subscribe(t, 1)
    m = sub.messages.get()
    assert (m.payload, m.retain, m.qos) == (b"last-value", True, 1)
    pub.publish(t, b"live", 1, retain=True)
    m = sub.messages.get()
    assert (m.payload, m.retain) == (b"live", False)  # live deliveries carry retain 0
    # wildcard subscription gets the newest retained message
    sub2 = Paho(mqtt_broker, transport, uid("sub"))
    sub2.subscribe(t.split("/")[0] + "/#", 0)
    m = sub2.messages.get()
    assert (m.payload, m.retain, m.qos) == (b"live", True, 0)
    # an empty payload clears it
    pub.publish(t, b"", 1, retain=True)
    sub3 = Paho(mqtt_broker, transport, uid("sub"))
    sub3.subscribe(t, 1)
    assert sub3.messages.none(0.5)
    for c in (pub, sub, sub2, sub3):
        c.close()


def test_will_on_abnormal_disconnect_only(mqtt_broker: BrokerProcess, transport: str) -> None:
    t = uid("will/")
    watcher = Paho(mqtt_broker, transport, uid("watch"))
    watcher.subscribe(t, 1)
    clean = Paho(mqtt_broker, transport, uid("c"), will=(t, b"clean", 1, False))
    clean.close()
    assert watcher.messages.none(0.5)
    dying = Paho(mqtt_broker, transport, uid("d"), will=(t, b"gone", 1, True))
    dying.drop()
    m = watcher.messages.get()
    assert (m.payload, m.qos) == (b"gone", 1)
    # the will was retained
    late = Paho(mqtt_broker, transport, uid("late"))
    late.subscribe(t, 1)
    m = late.messages.get()
    assert (m.payload, m.retain) == (b"gone", True)
    watcher.close()
    late.close()


def test_second_connection_takes_over_the_client_id(mqtt_broker: BrokerProcess, transport: str) -> None:
    cid = uid("dup")
    first = Paho(mqtt_broker, transport, cid)
    second = Paho(mqtt_broker, transport, cid)
    assert first.disconnected.wait(5)
    t = uid("to/")
    second.subscribe(t, 1)
    second.publish(t, b"still works", 1)
    assert second.messages.get().payload == b"still works"
    second.close()
    first.client.loop_stop()


def test_persistent_session_keeps_subscriptions_and_messages(
    mqtt_broker: BrokerProcess, transport: str
) -> None:
    cid = uid("persist")
    t = uid("p/")
    s = Paho(mqtt_broker, transport, cid, clean=False)
    assert not s.session_present
    s.subscribe(t, 1)
    s.subscribe(t + "/two", 2)
    s.close()
    pub = Paho(mqtt_broker, transport, uid("pub"))
    for i in range(3):
        pub.publish(t, f"away{i}".encode(), 1)
    pub.publish(t + "/two", b"exactly", 2)
    s = Paho(mqtt_broker, transport, cid, clean=False)
    assert s.session_present
    got = sorted(s.messages.get().payload for _ in range(4))
    assert got == [b"away0", b"away1", b"away2", b"exactly"]
    s.close()
    # clean session 1 discards the session
    s = Paho(mqtt_broker, transport, cid, clean=True)
    assert not s.session_present
    s.close()
    pub.publish(t, b"nobody", 1)
    s = Paho(mqtt_broker, transport, cid, clean=False)
    assert not s.session_present
    assert s.messages.none(0.5)
    s.close()
    pub.close()


def test_connack_return_codes(mqtt_broker: BrokerProcess, transport: str) -> None:
    assert connect_rc(mqtt_broker, transport, uid("ok")) == 0
    assert connect_rc(mqtt_broker, transport, uid("bad"), auth=("user", "wrong")) == 4
    assert connect_rc(mqtt_broker, transport, uid("anon"), auth=None) == 5


def test_empty_client_id_with_clean_session_is_assigned_one(
    mqtt_broker: BrokerProcess, transport: str
) -> None:
    c = Paho(mqtt_broker, transport, "")
    assert c.rc == 0
    t = uid("anon/")
    c.subscribe(t, 1)
    c.publish(t, b"hi", 1)
    assert c.messages.get().payload == b"hi"
    c.close()


@pytest.mark.parametrize("qos", [0, 2])
def test_mqtt_over_wss(mqtt_broker: BrokerProcess, qos: int) -> None:
    t = uid("wss/")
    sub = Paho(mqtt_broker, "wss", uid("sub"))
    pub = Paho(mqtt_broker, "tls", uid("pub"))
    sub.subscribe(t, qos)
    pub.publish(t, b"secure", qos)
    m = sub.messages.get()
    assert (m.payload, m.qos) == (b"secure", qos)
    sub.close()
    pub.close()
