"""ActiveMQ messaging semantics through stomp.py: policies, DLQ strategies, redelivery,
virtual and composite destinations, scheduled delivery, advisories, flow control."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import stomp.exception
from stomp_util import connect

from support import BrokerProcess

CONFIG = """
policies:
  - queue: "individual.>"
    dead_letter: {strategy: individual}
  - queue: "retry.>"
    max_redeliveries: 2
  - queue: "full.>"
    memory_limit: 20000
    send_fail_if_no_space: true
  - queue: "slow.>"
    memory_limit: 20000
composite_destinations:
  - queue: orders.all
    forward_only: true
    forward_to:
      - queue: orders.audit
      - topic: orders.events
      - queue: orders.big
        selector: "amount > 100"
"""


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("sem") / "data", ("stomp",), config=CONFIG).start()
    yield b
    b.kill()


def uid() -> str:
    return uuid.uuid4().hex[:8]


def test_individual_dead_letter_strategy(broker: BrokerProcess) -> None:
    q = f"/queue/individual.{uid()}"
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="client-individual")
    c.send(q, "bad", headers={"persistent": "true"})
    (m,) = col.wait_messages(1)
    c.nack(m.headers["ack"])
    c.subscribe(f"/queue/DLQ.{q[len('/queue/'):]}", id="d", ack="auto")
    (d,) = col.wait_messages(2)[1:]
    assert d.body == "bad" and d.headers["original-destination"] == q
    c.disconnect()


def test_redelivery_limit_from_policy_then_dlq(broker: BrokerProcess) -> None:
    # a consumer that keeps disconnecting without acking raises the delivery count; the
    # broker redelivers; ActiveMQ never dead-letters on disconnect, only on poison acks
    q = f"/queue/retry.{uid()}"
    p, pc = connect(broker.port)
    p.send(q, "flaky", headers={"persistent": "true"}, receipt="r")
    pc.wait_receipt("r")
    for _ in range(4):
        c, col = connect(broker.port)
        c.subscribe(q, id="s", ack="client-individual")
        col.wait_messages(1)
        c.disconnect()
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="client-individual")
    (m,) = col.wait_messages(1)
    assert m.headers["redelivered"] == "true"
    c.disconnect()
    p.disconnect()


def test_composite_send_with_comma(broker: BrokerProcess) -> None:
    a, b = f"/queue/ca.{uid()}", f"/topic/cb.{uid()}"
    c, col = connect(broker.port)
    c.subscribe(b, id="t", ack="auto", receipt="sub")
    col.wait_receipt("sub")
    c.send(f"{a},{b}", "both")
    c.subscribe(a, id="q", ack="auto")
    got = col.wait_messages(2)
    assert sorted(m.headers["destination"] for m in got) == sorted([a, b])
    c.disconnect()


def test_configured_composite_queue_with_selector(broker: BrokerProcess) -> None:
    c, col = connect(broker.port)
    c.subscribe("/topic/orders.events", id="ev", ack="auto", receipt="sub")
    col.wait_receipt("sub")
    c.send("/queue/orders.all", "small", headers={"amount": "5"})
    c.send("/queue/orders.all", "large", headers={"amount": "500"}, receipt="r")
    col.wait_receipt("r")
    assert sorted(m.body for m in col.wait_messages(2)) == ["large", "small"]
    c.subscribe("/queue/orders.audit", id="au", ack="auto")
    col.wait_messages(4)
    # the selector compares a STOMP header (a string) with a number: JMS says no match,
    # so nothing reaches orders.big, as with ActiveMQ
    c.subscribe("/queue/orders.big", id="big", ack="auto")
    assert col.quiet(0.4) == 4
    c.subscribe("/queue/orders.all", id="all", ack="auto")
    assert col.quiet(0.3) == 4  # forward-only: nothing stays on the composite itself
    c.disconnect()


def test_virtual_topic_fans_out_to_consumer_queues(broker: BrokerProcess) -> None:
    vt = f"VirtualTopic.orders{uid()}"
    a, acol = connect(broker.port)
    b, bcol = connect(broker.port)
    a.subscribe(f"/queue/Consumer.A.{vt}", id="a", ack="auto", receipt="ra")
    b.subscribe(f"/queue/Consumer.B.{vt}", id="b", ack="auto", receipt="rb")
    acol.wait_receipt("ra")
    bcol.wait_receipt("rb")
    a2, a2col = connect(broker.port)
    a2.subscribe(f"/queue/Consumer.A.{vt}", id="a", ack="auto", receipt="ra2")
    a2col.wait_receipt("ra2")
    p, pc = connect(broker.port)
    for i in range(10):
        p.send(f"/topic/{vt}", f"o{i}", headers={"persistent": "true"})
    p.send(f"/topic/{vt}", "end", receipt="r")
    pc.wait_receipt("r")
    time.sleep(0.5)
    # every consumer group sees every message once; members of one group compete
    assert len(bcol.messages) == 11
    assert len(acol.messages) + len(a2col.messages) == 11
    assert acol.messages and a2col.messages
    for x in (a, b, a2, p):
        x.disconnect()


def test_advisories_for_consumers_and_connections(broker: BrokerProcess) -> None:
    q = f"adv{uid()}"
    w, wcol = connect(broker.port)
    w.subscribe(f"/topic/ActiveMQ.Advisory.Consumer.Queue.{q}", id="ac", ack="auto")
    w.subscribe("/topic/ActiveMQ.Advisory.Connection", id="cn", ack="auto", receipt="sub")
    wcol.wait_receipt("sub")
    c, _ = connect(broker.port)
    c.subscribe(f"/queue/{q}", id="s", ack="auto", receipt="x")
    time.sleep(0.3)
    c.disconnect()
    time.sleep(0.3)
    msgs = wcol.messages
    kinds = [(m.headers["destination"], next(iter(json.loads(m.body)))) for m in msgs]
    assert (f"/topic/ActiveMQ.Advisory.Consumer.Queue.{q}", "ConsumerInfo") in kinds
    assert (f"/topic/ActiveMQ.Advisory.Consumer.Queue.{q}", "RemoveInfo") in kinds
    assert ("/topic/ActiveMQ.Advisory.Connection", "ConnectionInfo") in kinds
    assert ("/topic/ActiveMQ.Advisory.Connection", "RemoveInfo") in kinds
    consumer_adv = [m for m in msgs if "Consumer.Queue" in m.headers["destination"]]
    assert consumer_adv[0].headers["type"] == "Advisory"
    assert consumer_adv[0].headers["consumerCount"] == "1"
    assert consumer_adv[-1].headers["consumerCount"] == "0"
    w.disconnect()


def test_advisory_for_dead_lettered_message(broker: BrokerProcess) -> None:
    q = f"dl{uid()}"
    w, wcol = connect(broker.port)
    w.subscribe(f"/topic/ActiveMQ.Advisory.MessageDLQd.Queue.{q}", id="a", ack="auto", receipt="s")
    wcol.wait_receipt("s")
    w.subscribe(f"/queue/{q}", id="q", ack="client-individual")
    w.send(f"/queue/{q}", "x", headers={"persistent": "true"})
    m = [x for x in wcol.wait_messages(1) if x.headers["destination"] == f"/queue/{q}"][0]
    w.nack(m.headers["ack"])
    adv = wcol.wait_messages(2)[1]
    assert adv.headers["destination"].endswith(f"MessageDLQd.Queue.{q}")
    w.disconnect()


def test_scheduled_delay_and_repeat(broker: BrokerProcess) -> None:
    q = f"/queue/sched.{uid()}"
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="auto")
    t0 = time.monotonic()
    c.send(q, "later", headers={"AMQ_SCHEDULED_DELAY": "800"})
    c.send(q, "now", receipt="r")
    col.wait_receipt("r")
    first = col.wait_messages(1)
    assert first[0].body == "now"
    later = col.wait_messages(2)[1]
    assert later.body == "later" and time.monotonic() - t0 >= 0.75
    assert "AMQ_SCHEDULED_DELAY" not in later.headers
    c.send(q, "tick", headers={"AMQ_SCHEDULED_PERIOD": "200", "AMQ_SCHEDULED_REPEAT": "2"})
    ticks = col.wait_messages(5)[2:]
    assert [m.body for m in ticks] == ["tick"] * 3
    assert len({m.headers["message-id"] for m in ticks}) == 3
    assert col.quiet(0.5) == 5
    c.disconnect()


def test_invalid_schedule_is_refused(broker: BrokerProcess) -> None:
    c, col = connect(broker.port)
    c.send(f"/queue/sched.{uid()}", "x", headers={"AMQ_SCHEDULED_CRON": "not a cron"})
    assert "AMQ_SCHEDULED_CRON" in col.wait_error().headers["message"]


def test_send_fail_if_no_space(broker: BrokerProcess) -> None:
    q = f"/queue/full.{uid()}"
    c, col = connect(broker.port)
    body = "x" * 1000
    sent = 0
    for i in range(40):
        try:
            c.send(q, body, receipt=f"r{i}")
        except (stomp.exception.NotConnectedException, OSError):
            break  # the ERROR frame closed the connection while we were still sending
        sent += 1
    assert sent > 10, "refused before the memory limit was reached"
    err = col.wait_error()
    assert "memory limit" in err.headers["message"]


def test_producer_flow_control_holds_receipts_until_consumed(broker: BrokerProcess) -> None:
    q = f"/queue/slow.{uid()}"
    p, pc = connect(broker.port)
    body = "y" * 1000
    for i in range(60):
        p.send(q, body, receipt=f"r{i}")
    time.sleep(1.0)
    held = 60 - len(pc.receipts)
    assert held > 30, "the producer was not slowed"
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="auto")
    pc.wait_receipt("r59", timeout=15)
    col.wait_messages(60)
    assert [m.body for m in col.messages] == [body] * 60
    c.disconnect()
    p.disconnect()


def test_scheduled_message_survives_restart(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "data", ("stomp",)).start()
    c, col = connect(b.port)
    due = time.time() + 4.0
    c.send("/queue/sched.restart", "after restart", headers={"AMQ_SCHEDULED_DELAY": "4000"}, receipt="r")
    col.wait_receipt("r")
    c.disconnect()
    b.kill()
    b.start()
    c, col = connect(b.port)
    c.subscribe("/queue/sched.restart", id="s", ack="auto")
    (m,) = col.wait_messages(1, timeout=15)
    assert m.body == "after restart"
    assert time.time() >= due - 0.2, "delivered before its delay ran out"
    assert col.quiet(0.3) == 1
    c.disconnect()
    b.kill()


def test_dlq_contents_survive_restart(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "data", ("stomp",)).start()
    c, col = connect(b.port)
    c.subscribe("/queue/dlqr", id="s", ack="client-individual")
    c.send("/queue/dlqr", "to dlq", headers={"persistent": "true"})
    (m,) = col.wait_messages(1)
    c.nack(m.headers["ack"], receipt="n")
    col.wait_receipt("n")
    c.disconnect()
    b.kill()
    b.start()
    c, col = connect(b.port)
    c.subscribe("/queue/ActiveMQ.DLQ", id="d", ack="auto")
    (d,) = col.wait_messages(1)
    assert d.body == "to dlq" and d.headers["original-destination"] == "/queue/dlqr"
    c.disconnect()
    b.kill()


XML = """<?xml version="1.0" encoding="UTF-8"?>
<broker xmlns="http://activemq.apache.org/schema/core" schedulerSupport="true">
  <destinationPolicy>
    <policyMap>
      <policyEntries>
        <policyEntry queue="xml.>">
          <deadLetterStrategy>
            <individualDeadLetterStrategy queuePrefix="DEAD." />
          </deadLetterStrategy>
        </policyEntry>
      </policyEntries>
    </policyMap>
  </destinationPolicy>
  <destinations>
    <queue physicalName="precreated.q" />
  </destinations>
  <destinationInterceptors>
    <virtualDestinationInterceptor>
      <virtualDestinations>
        <compositeQueue name="xml.fan" forwardOnly="true">
          <forwardTo>
            <queue physicalName="xml.fan.a" />
            <filteredDestination selector="kind = 'b'" queue="xml.fan.b" />
          </forwardTo>
        </compositeQueue>
      </virtualDestinations>
    </virtualDestinationInterceptor>
  </destinationInterceptors>
  <plugins><bogusPlugin/></plugins>
</broker>
"""


def test_activemq_xml_policies_composites_and_destinations(tmp_path: Path) -> None:
    (tmp_path / "activemq.xml").write_text(XML)
    b = BrokerProcess(tmp_path / "data", ("stomp",), config=f"activemq_xml: {tmp_path / 'activemq.xml'}\n").start()
    c, col = connect(b.port)
    c.subscribe("/queue/xml.orders", id="s", ack="client-individual")
    c.send("/queue/xml.orders", "bad", headers={"persistent": "true"})
    (m,) = col.wait_messages(1)
    c.nack(m.headers["ack"])
    c.subscribe("/queue/DEAD.xml.orders", id="d", ack="auto")
    assert col.wait_messages(2)[1].body == "bad"
    c.send("/queue/xml.fan", "to a", headers={"kind": "a"})
    c.send("/queue/xml.fan", "to both", headers={"kind": "b"}, receipt="r")
    col.wait_receipt("r")
    c.subscribe("/queue/xml.fan.a", id="fa", ack="auto")
    c.subscribe("/queue/xml.fan.b", id="fb", ack="auto")
    got = col.wait_messages(5)[2:]
    assert sorted((m.headers["destination"], m.body) for m in got) == [
        ("/queue/xml.fan.a", "to a"), ("/queue/xml.fan.a", "to both"), ("/queue/xml.fan.b", "to both")]
    c.disconnect()
    b.kill()


def test_message_groups_and_exclusive_consumers(broker: BrokerProcess) -> None:
    q = f"/queue/groups.{uid()}"
    a, acol = connect(broker.port)
    b, bcol = connect(broker.port)
    a.subscribe(q, id="a", ack="auto", receipt="ra")
    b.subscribe(q, id="b", ack="auto", receipt="rb")
    acol.wait_receipt("ra")
    bcol.wait_receipt("rb")
    p, pc = connect(broker.port)
    for i in range(12):
        p.send(q, f"{i}", headers={"JMSXGroupID": "G1" if i % 3 else "G2"})
    p.send(q, "end", headers={"JMSXGroupID": "G1"}, receipt="r")
    pc.wait_receipt("r")
    time.sleep(0.5)
    g1 = {"a" if m in acol.messages else "b" for m in acol.messages + bcol.messages
          if m.body != "end" and int(m.body) % 3}
    assert len(g1) == 1, "group G1 went to more than one consumer"
    assert len(acol.messages) + len(bcol.messages) == 13
    for x in (a, b):
        x.disconnect()
    ex = f"/queue/excl.{uid()}"
    n, ncol = connect(broker.port)
    e, ecol = connect(broker.port)
    n.subscribe(ex, id="n", ack="auto", receipt="rn")
    e.subscribe(ex, id="e", ack="auto", headers={"activemq.exclusive": "true"}, receipt="re")
    ncol.wait_receipt("rn")
    ecol.wait_receipt("re")
    for i in range(10):
        p.send(ex, f"x{i}")
    ecol.wait_messages(10)
    assert ncol.quiet(0.3) == 0
    e.disconnect()  # the exclusive consumer leaves: the other takes over
    p.send(ex, "after", receipt="r2")
    assert [m.body for m in ncol.wait_messages(1)] == ["after"]
    for x in (n, p):
        x.disconnect()

