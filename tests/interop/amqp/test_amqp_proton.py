"""python-qpid-proton (blocking API) against a real ferrymq broker over AMQP 1.0."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from proton import ConnectionException, Data, Delivery, Message, Timeout, symbol
from proton.reactor import AtMostOnce, Container, DurableSubscription, LinkOption, Selector
from proton.utils import BlockingConnection, LinkDetached, SendException

from support import BrokerProcess


def uid() -> str:
    return uuid.uuid4().hex[:8]


def pump(c: BlockingConnection, seconds: float) -> None:
    """Let the connection process I/O for a while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        c.container.do_work(0.05)


def connect(
    b: BrokerProcess, user: str = "user", password: str = "password", **kw: Any
) -> BlockingConnection:
    return BlockingConnection(
        f"amqp://127.0.0.1:{b.ports['amqp']}", user=user, password=password, timeout=10, **kw
    )


class Capabilities(LinkOption):
    def __init__(self, *caps: str) -> None:
        self.caps = caps

    def apply(self, link: Any) -> None:
        terminus = link.source if link.is_receiver else link.target
        terminus.capabilities.put_array(False, Data.SYMBOL)
        terminus.capabilities.enter()
        for c in self.caps:
            terminus.capabilities.put_symbol(symbol(c))
        terminus.capabilities.exit()


def test_send_receive_queue_with_properties(amqp_broker: BrokerProcess) -> None:
    q = f"queue://props.{uid()}"
    c = connect(amqp_broker)
    s = c.create_sender(q)
    m = Message(
        body="hello",
        durable=True,
        priority=7,
        subject="kind",
        correlation_id="corr-1",
        content_type="text/plain",
        group_id="g",
        group_sequence=3,
        ttl=60,
        properties={"s": "v", "i": 42, "b": True, "f": 1.5},
    )
    s.send(m)
    r = c.create_receiver(q)
    got = r.receive(timeout=10)
    r.accept()
    assert got.body == "hello" and got.durable and got.priority == 7
    assert got.subject == "kind" and got.correlation_id == "corr-1" and got.content_type == "text/plain"
    assert got.group_id == "g" and got.group_sequence == 3
    assert got.properties == {"s": "v", "i": 42, "b": True, "f": 1.5}
    assert got.address == q and str(got.id).startswith("ID:")
    assert 0 < got.ttl <= 60 and got.expiry_time > time.time()
    assert got.delivery_count == 0
    c.close()


@pytest.mark.parametrize("body", [b"\x00\x01bytes", {"k": "v", "n": 1}, [1, "two", 3.0], None, "text"])
def test_body_types_round_trip(amqp_broker: BrokerProcess, body: Any) -> None:
    q = f"bodies.{uid()}"  # a bare name is a queue
    c = connect(amqp_broker)
    c.create_sender(q).send(Message(body=body))
    r = c.create_receiver(q)
    got = r.receive(timeout=10)
    r.accept()
    assert got.body == body
    c.close()


def test_topic_fan_out_and_capability(amqp_broker: BrokerProcess) -> None:
    t = f"news.{uid()}"
    c = connect(amqp_broker)
    r1 = c.create_receiver(f"topic://{t}")
    r2 = c.create_receiver(t, options=Capabilities("topic"))  # bare name + topic capability
    r3 = c.create_receiver(f"topic://{t.split('.')[0]}.>")  # wildcard subscription
    s = c.create_sender(t, options=Capabilities("topic"))
    s.send(Message(body="flash"))
    for r in (r1, r2, r3):
        got = r.receive(timeout=10)
        r.accept()
        assert got.body == "flash" and got.address == f"topic://{t}"
    c.close()


def test_selector_filter(amqp_broker: BrokerProcess) -> None:
    q = f"queue://sel.{uid()}"
    c = connect(amqp_broker)
    s = c.create_sender(q)
    for i in range(6):
        s.send(Message(body=f"m{i}", properties={"n": i}))
    r = c.create_receiver(q, options=Selector("n >= 4"))
    got = [r.receive(timeout=10).body for _ in range(2)]
    r.accept()
    assert got == ["m4", "m5"]
    c.close()


def test_presettled_at_most_once(amqp_broker: BrokerProcess) -> None:
    q = f"queue://presettled.{uid()}"
    c = connect(amqp_broker)
    s = c.create_sender(q, options=AtMostOnce())
    for i in range(5):
        s.send(Message(body=i))
    r = c.create_receiver(q, options=AtMostOnce())
    assert [r.receive(timeout=10).body for _ in range(5)] == list(range(5))
    r.close()
    # pre-settled deliveries are consumed: nothing is left
    r2 = c.create_receiver(q)
    with pytest.raises(Timeout):
        r2.receive(timeout=0.5)
    c.close()


def test_outcomes_release_modify_reject(amqp_broker: BrokerProcess) -> None:
    q = f"outcomes.{uid()}"
    c = connect(amqp_broker)
    c.create_sender(q).send(Message(body="x", durable=True))
    r = c.create_receiver(q, credit=1)
    m = r.receive(timeout=10)
    assert m.delivery_count == 0
    r.release(delivered=False)  # released: unchanged
    m = r.receive(timeout=10)
    assert m.body == "x" and m.delivery_count == 0
    r.fetcher.unsettled[0].local.failed = True
    r.settle(Delivery.MODIFIED)  # modified(delivery-failed): the count goes up
    m = r.receive(timeout=10)
    assert m.body == "x" and m.delivery_count == 1
    r.reject()  # rejected: to the DLQ
    with pytest.raises(Timeout):
        r.receive(timeout=0.5)
    d = c.create_receiver("ActiveMQ.DLQ")
    dead = d.receive(timeout=10)
    d.accept()
    assert dead.body == "x" and dead.properties.get("originalDestination") == f"queue://{q}"
    c.close()


def test_credit_and_drain(amqp_broker: BrokerProcess) -> None:
    q = f"queue://credit.{uid()}"
    c = connect(amqp_broker)
    s = c.create_sender(q)
    for i in range(5):
        s.send(Message(body=i))
    r = c.create_receiver(q, credit=0)
    link = r.link
    link.flow(2)
    c.wait(lambda: len(r.fetcher.incoming) >= 2, timeout=10)
    pump(c, 0.3)
    assert len(r.fetcher.incoming) == 2  # no more than the credit
    # drain with more credit than messages: the broker sends the 3 left and spends the rest
    link.drain(10)
    c.wait(lambda: link.credit == 0 and not link.draining(), timeout=10)
    assert len(r.fetcher.incoming) == 5
    bodies = [r.receive(timeout=5).body for _ in range(5)]
    r.accept()
    assert bodies == list(range(5))
    c.close()


def test_durable_subscription_detach_reattach_and_remove(amqp_broker: BrokerProcess) -> None:
    t = f"topic://durable.{uid()}"
    cid = f"container-{uid()}"
    c = connect(amqp_broker, container=Container(container_id=cid))
    r = c.create_receiver(t, name="sub1", options=DurableSubscription())
    r.link.detach()  # detach, not close: the subscription stays
    pump(c, 0.3)
    s = c.create_sender(t)
    s.send(Message(body="while away", durable=True))
    c.close()
    c = connect(amqp_broker, container=Container(container_id=cid))
    r = c.create_receiver(t, name="sub1", options=DurableSubscription())
    got = r.receive(timeout=10)
    r.accept()
    assert got.body == "while away"
    r.close()  # closed: the subscription is removed
    # reattaching by link name with no source now fails with not-found
    with pytest.raises(LinkDetached) as info:
        c.create_receiver(None, name="sub1")
    assert "not-found" in str(info.value) or "subscription" in str(info.value)
    c.close()


def test_temporary_reply_to(amqp_broker: BrokerProcess) -> None:
    q = f"queue://service.{uid()}"
    client = connect(amqp_broker)
    reply = client.create_receiver(None, dynamic=True)
    reply_addr = reply.remote_source.address
    assert reply_addr.startswith("temp-queue://")
    client.create_sender(q).send(Message(body="ping", reply_to=reply_addr, correlation_id="c1"))
    server = connect(amqp_broker)
    req_r = server.create_receiver(q)
    req = req_r.receive(timeout=10)
    req_r.accept()
    assert req.reply_to == reply_addr
    server.create_sender(req.reply_to).send(Message(body="pong", correlation_id=req.correlation_id))
    got = reply.receive(timeout=10)
    reply.accept()
    assert got.body == "pong" and got.correlation_id == "c1"
    server.close()
    client.close()


def test_anonymous_relay(amqp_broker: BrokerProcess) -> None:
    q = f"queue://relay.{uid()}"
    c = connect(amqp_broker)
    s = c.create_sender(None)
    s.send(Message(address=q, body="via relay"))
    r = c.create_receiver(q)
    assert r.receive(timeout=10).body == "via relay"
    r.accept()
    c.close()


def test_multi_megabyte_message(amqp_broker: BrokerProcess) -> None:
    q = f"queue://big.{uid()}"
    payload = bytes(range(256)) * (5 * 4096)  # 5 MiB, several frames each way
    c = connect(amqp_broker)
    c.create_sender(q).send(Message(body=payload, durable=True))
    r = c.create_receiver(q)
    got = r.receive(timeout=30)
    r.accept()
    assert got.body == payload
    c.close()


def test_idle_timeout_heartbeats_keep_the_connection(amqp_broker: BrokerProcess) -> None:
    q = f"queue://idle.{uid()}"
    c = connect(amqp_broker, heartbeat=1)  # proton expects traffic at least every second
    s = c.create_sender(q)
    pump(c, 3.0)
    s.send(Message(body="still here"))
    r = c.create_receiver(q)
    assert r.receive(timeout=10).body == "still here"
    r.accept()
    c.close()


def test_bad_password_is_refused(amqp_broker: BrokerProcess) -> None:
    with pytest.raises(ConnectionException):
        connect(amqp_broker, password="wrong")


def test_unauthorized_address_detaches_and_connection_carries_on(amqp_broker: BrokerProcess) -> None:
    c = connect(amqp_broker, user="app", password="app-pass")
    with pytest.raises(LinkDetached) as info:
        c.create_sender("queue://payroll")
    assert "unauthorized-access" in str(info.value)
    with pytest.raises(LinkDetached) as info:
        c.create_receiver("queue://payroll")
    assert "unauthorized-access" in str(info.value)
    # the anonymous relay rejects the message for a forbidden address
    s = c.create_sender(None)
    with pytest.raises(SendException):
        s.send(Message(address="queue://payroll", body="no"))
    q = f"queue://app.{uid()}"
    c.create_sender(q).send(Message(body="allowed"))
    r = c.create_receiver(q)
    assert r.receive(timeout=10).body == "allowed"
    r.accept()
    c.close()
