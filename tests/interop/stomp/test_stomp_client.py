"""STOMP through the real stomp.py client against a real broker process."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import stomp
from stomp_util import Collector, connect

from support import BrokerProcess

_n = itertools.count()


def dest(kind: str = "queue") -> str:
    return f"/{kind}/t{next(_n)}.{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("stomp") / "data", ("stomp",)).start()
    yield b
    b.kill()


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_send_receive_each_version(broker: BrokerProcess, version: str) -> None:
    c, col = connect(broker.port, version)
    q = dest()
    c.subscribe(q, id="s1", ack="auto")
    c.send(q, "hello " + version, receipt="r1")
    col.wait_receipt("r1")
    (m,) = col.wait_messages(1)
    assert m.body == "hello " + version
    assert m.headers["destination"] == q
    assert m.headers["message-id"].startswith("ID:")
    c.disconnect()


def test_text_versus_bytes_by_content_length(broker: BrokerProcess) -> None:
    c, col = connect(broker.port, auto_content_length=False)
    q = dest()
    c.subscribe(q, id="s", ack="auto")
    c.send(q, b"with\x00nul", headers={"content-length": "8"})
    c.send(q, "plain text")
    msgs = col.wait_messages(2)
    assert msgs[0].headers.get("content-length") == "8"
    assert msgs[0].body == b"with\x00nul" or msgs[0].body == "with\x00nul"
    # a text message (sent without content-length) comes back without one
    assert "content-length" not in msgs[1].headers
    assert msgs[1].body == "plain text"
    c.disconnect()


def test_activemq_headers_round_trip(broker: BrokerProcess) -> None:
    c, col = connect(broker.port)
    q = dest()
    c.subscribe(q, id="s", ack="auto")
    exp = int(time.time() * 1000) + 60_000
    c.send(q, "x", headers={"persistent": "true", "priority": "7", "expires": str(exp),
                            "correlation-id": "corr-1", "reply-to": "/queue/replies", "type": "Order",
                            "custom": "value:with\\colon"})
    (m,) = col.wait_messages(1)
    h = m.headers
    assert h["persistent"] == "true"
    assert h["priority"] == "7"
    assert h["expires"] == str(exp)
    assert h["correlation-id"] == "corr-1"
    assert h["reply-to"] == "/queue/replies"
    assert h["type"] == "Order"
    assert h["custom"] == "value:with\\colon"
    c.disconnect()


def test_competing_consumers_round_robin(broker: BrokerProcess) -> None:
    q = dest()
    c1, col1 = connect(broker.port)
    c2, col2 = connect(broker.port)
    c1.subscribe(q, id="a", ack="auto")
    c2.subscribe(q, id="b", ack="auto")
    time.sleep(0.2)
    p, pcol = connect(broker.port)
    for i in range(20):
        p.send(q, f"m{i}")
    p.send(q, "last", receipt="done")
    pcol.wait_receipt("done")
    deadline = time.monotonic() + 10
    while len(col1.messages) + len(col2.messages) < 21 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(col1.messages) + len(col2.messages) == 21
    assert len(col1.messages) >= 8 and len(col2.messages) >= 8
    bodies = sorted(m.body for m in col1.messages + col2.messages)
    assert len(set(bodies)) == 21
    for x in (c1, c2, p):
        x.disconnect()


def test_topic_fan_out_and_wildcards(broker: BrokerProcess) -> None:
    base = f"news{next(_n)}"
    s1, c1 = connect(broker.port)
    s2, c2 = connect(broker.port)
    s3, c3 = connect(broker.port)
    s1.subscribe(f"/topic/{base}.sport", id="1", ack="auto")
    s2.subscribe(f"/topic/{base}.*", id="2", ack="auto")
    s3.subscribe(f"/topic/{base}.>", id="3", ack="auto", receipt="sub3")
    c3.wait_receipt("sub3")
    p, pc = connect(broker.port)
    p.send(f"/topic/{base}.sport", "goal")
    p.send(f"/topic/{base}.weather.rain", "wet", receipt="r")
    pc.wait_receipt("r")
    assert [m.body for m in c1.wait_messages(1)] == ["goal"]
    assert [m.body for m in c2.wait_messages(1)] == ["goal"]
    assert sorted(m.body for m in c3.wait_messages(2)) == ["goal", "wet"]
    time.sleep(0.3)
    assert len(c1.messages) == 1 and len(c2.messages) == 1
    for x in (s1, s2, s3, p):
        x.disconnect()


def test_client_ack_is_cumulative(broker: BrokerProcess) -> None:
    q = dest()
    p, pc = connect(broker.port)
    for i in range(5):
        p.send(q, f"m{i}", headers={"persistent": "true"})
    p.send(q, "m5", headers={"persistent": "true"}, receipt="sent")
    pc.wait_receipt("sent")
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="client")
    msgs = col.wait_messages(6)
    # acknowledge the 4th: the first four are consumed, the last two stay unacknowledged
    c.ack(msgs[3].headers["ack"], receipt="acked")
    col.wait_receipt("acked")
    c.disconnect()
    c2, col2 = connect(broker.port)
    c2.subscribe(q, id="s", ack="client-individual")
    again = col2.wait_messages(2)
    assert [m.body for m in again] == ["m4", "m5"]
    assert all(m.headers.get("redelivered") == "true" for m in again)
    assert col2.quiet(0.3) == 2
    c2.disconnect()


def test_client_individual_ack_and_redelivery_on_disconnect(broker: BrokerProcess) -> None:
    q = dest()
    p, pc = connect(broker.port)
    for i in range(3):
        p.send(q, f"m{i}", headers={"persistent": "true"})
    p.send(q, "end", receipt="s")
    pc.wait_receipt("s")
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="client-individual")
    msgs = col.wait_messages(4)
    c.ack(msgs[1].headers["ack"], receipt="a")
    col.wait_receipt("a")
    c.disconnect()
    c2, col2 = connect(broker.port)
    c2.subscribe(q, id="s", ack="auto")
    left = col2.wait_messages(3)
    assert [m.body for m in left] == ["m0", "m2", "end"]
    assert col2.quiet(0.3) == 3
    c2.disconnect()


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_ack_headers_per_version(broker: BrokerProcess, version: str) -> None:
    q = dest()
    c, col = connect(broker.port, version)
    c.subscribe(q, id="s", ack="client-individual")
    c.send(q, "a")
    (m,) = col.wait_messages(1)
    if version == "1.2":
        c.ack(m.headers["ack"], receipt="r")
    else:
        c.ack(m.headers["message-id"], "s", receipt="r")
    col.wait_receipt("r")
    assert not col.errors
    c.disconnect()


def test_nack_dead_letters_persistent_message(broker: BrokerProcess) -> None:
    q = dest()
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="client-individual")
    c.send(q, "poison", headers={"persistent": "true"})
    (m,) = col.wait_messages(1)
    c.nack(m.headers["ack"], receipt="n")
    col.wait_receipt("n")
    d, dcol = connect(broker.port)
    d.subscribe("/queue/ActiveMQ.DLQ", id="dlq", ack="client-individual",
                headers={"selector": f"JMSMessageID = '{m.headers['message-id']}'"})
    (dm,) = dcol.wait_messages(1)
    assert dm.body == "poison"
    assert dm.headers["original-destination"] == q
    assert "dlqDeliveryFailureCause" in dm.headers
    d.ack(dm.headers["ack"])
    for x in (c, d):
        x.disconnect()


def test_transactions_commit_and_abort(broker: BrokerProcess) -> None:
    q = dest()
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="auto")
    tx = c.begin()
    c.send(q, "in tx", transaction=tx)
    assert col.quiet(0.3) == 0
    c.commit(tx)
    assert [m.body for m in col.wait_messages(1)] == ["in tx"]
    tx2 = c.begin()
    c.send(q, "aborted", transaction=tx2)
    c.abort(tx2)
    c.send(q, "after", receipt="r")
    col.wait_receipt("r")
    msgs = col.wait_messages(2)
    assert [m.body for m in msgs] == ["in tx", "after"]
    c.disconnect()


def test_ack_inside_aborted_transaction_redelivers(broker: BrokerProcess) -> None:
    q = dest()
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="client-individual")
    c.send(q, "once")
    (m,) = col.wait_messages(1)
    tx = c.begin()
    c.ack(m.headers["ack"], transaction=tx)
    c.abort(tx)
    m2 = col.wait_messages(2)[1]
    assert m2.body == "once" and m2.headers.get("redelivered") == "true"
    tx = c.begin()
    c.ack(m2.headers["ack"], transaction=tx)
    c.commit(tx, receipt="c")
    col.wait_receipt("c")
    assert col.quiet(0.3) == 2
    c.disconnect()


def test_durable_subscription_collects_while_offline(broker: BrokerProcess) -> None:
    topic = dest("topic")
    cid = f"durable-{uuid.uuid4().hex[:6]}"
    c, col = connect(broker.port, client_id=cid)
    c.subscribe(topic, id="d", ack="client-individual",
                headers={"activemq.subscriptionName": "sub1"}, receipt="subbed")
    col.wait_receipt("subbed")
    c.disconnect()
    p, pc = connect(broker.port)
    for i in range(3):
        p.send(topic, f"while away {i}", headers={"persistent": "true"})
    p.send(topic, "last", headers={"persistent": "true"}, receipt="r")
    pc.wait_receipt("r")
    c2, col2 = connect(broker.port, client_id=cid)
    c2.subscribe(topic, id="d", ack="client-individual", headers={"activemq.subscriptionName": "sub1"})
    msgs = col2.wait_messages(4)
    assert [m.body for m in msgs] == ["while away 0", "while away 1", "while away 2", "last"]
    for m in msgs:
        c2.ack(m.headers["ack"])
    c2.unsubscribe("d", headers={"activemq.subscriptionName": "sub1"}, receipt="gone")
    col2.wait_receipt("gone")
    c2.disconnect()
    p.send(topic, "nobody", headers={"persistent": "true"}, receipt="r2")
    pc.wait_receipt("r2")
    c3, col3 = connect(broker.port, client_id=cid)
    c3.subscribe(topic, id="d", ack="auto", headers={"activemq.subscriptionName": "sub1"})
    assert col3.quiet(0.5) == 0
    c3.disconnect()
    p.disconnect()


def test_client_id_in_use_is_refused(broker: BrokerProcess) -> None:
    cid = f"solo-{uuid.uuid4().hex[:6]}"
    c, _ = connect(broker.port, client_id=cid)
    c2 = stomp.Connection12([("127.0.0.1", broker.port)])
    col2 = Collector()
    c2.set_listener("c", col2)
    with pytest.raises(stomp.exception.ConnectFailedException):
        c2.connect("user", "password", wait=True, headers={"client-id": cid})
    err = col2.wait_error()
    assert "already connected" in err.headers["message"]
    c.disconnect()


def test_temp_queue_request_reply(broker: BrokerProcess) -> None:
    service_q = dest()
    srv, scol = connect(broker.port)
    srv.subscribe(service_q, id="svc", ack="auto")
    cli, ccol = connect(broker.port)
    cli.subscribe("/temp-queue/replies", id="r", ack="auto")
    cli.send(service_q, "ping", headers={"reply-to": "/temp-queue/replies"})
    (req,) = scol.wait_messages(1)
    reply_to = req.headers["reply-to"]
    assert reply_to.startswith("/remote-temp-queue/")
    srv.send(reply_to, "pong")
    (rep,) = ccol.wait_messages(1)
    assert rep.body == "pong"
    cli.disconnect()
    time.sleep(0.3)
    # the temporary queue went away with its connection
    srv.send(reply_to, "too late")
    err = scol.wait_error()
    assert "no longer exists" in err.headers["message"]


def test_selector_on_queue_subscription(broker: BrokerProcess) -> None:
    q = dest()
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="auto", headers={"selector": "color = 'red' AND size <> '3'"})
    c.send(q, "no", headers={"color": "blue", "size": "5"})
    c.send(q, "yes", headers={"color": "red", "size": "5"})
    (m,) = col.wait_messages(1)
    assert m.body == "yes"
    c.disconnect()


def test_invalid_selector_is_refused(broker: BrokerProcess) -> None:
    c, col = connect(broker.port)
    c.subscribe(dest(), id="s", ack="auto", headers={"selector": "a = = 3"})
    err = col.wait_error()
    assert "selector" in err.headers["message"]


def test_prefetch_limits_unacknowledged_deliveries(broker: BrokerProcess) -> None:
    q = dest()
    p, pc = connect(broker.port)
    for i in range(10):
        p.send(q, f"m{i}")
    p.send(q, "x", receipt="r")
    pc.wait_receipt("r")
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="client-individual", headers={"activemq.prefetchSize": "3"})
    assert col.quiet(0.5) == 3
    c.ack(col.messages[0].headers["ack"])
    col.wait_messages(4)
    assert col.quiet(0.3) == 4
    c.disconnect()
    p.disconnect()


def test_priority_order(broker: BrokerProcess) -> None:
    q = dest()
    p, pc = connect(broker.port)
    for prio in (1, 9, 4, 7):
        p.send(q, f"p{prio}", headers={"priority": str(prio)})
    p.send(q, "p0", headers={"priority": "0"}, receipt="r")
    pc.wait_receipt("r")
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="auto")
    got = [m.body for m in col.wait_messages(5)]
    assert got == ["p9", "p7", "p4", "p1", "p0"]
    c.disconnect()
    p.disconnect()


def test_expired_message_is_not_delivered(broker: BrokerProcess) -> None:
    q = dest()
    p, pc = connect(broker.port)
    past = int(time.time() * 1000) - 1000
    soon = int(time.time() * 1000) + 300
    p.send(q, "already expired", headers={"expires": str(past)})
    p.send(q, "expires soon", headers={"expires": str(soon), "persistent": "true"})
    p.send(q, "fresh", receipt="r")
    pc.wait_receipt("r")
    time.sleep(0.6)
    c, col = connect(broker.port)
    c.subscribe(q, id="s", ack="auto")
    assert [m.body for m in col.wait_messages(1)] == ["fresh"]
    assert col.quiet(0.3) == 1
    # the persistent one went to the DLQ with its cause
    d, dcol = connect(broker.port)
    d.subscribe("/queue/ActiveMQ.DLQ", id="dlq", ack="auto",
                headers={"selector": "dlqDeliveryFailureCause LIKE 'Message Expired%'"})
    bodies = [m.body for m in dcol.wait_messages(1)]
    assert "expires soon" in bodies
    for x in (c, d, p):
        x.disconnect()


def test_heart_beats_are_negotiated_and_sent(broker: BrokerProcess) -> None:
    c, col = connect(broker.port, "1.2", heartbeats=(1000, 1000))
    # stomp.py would disconnect if the broker sent nothing for longer than the agreed interval
    time.sleep(3.0)
    assert c.is_connected()
    c.send(dest(), "still here", receipt="r")
    col.wait_receipt("r")
    c.disconnect()


def test_unsubscribe_stops_delivery(broker: BrokerProcess) -> None:
    t = dest("topic")
    c, col = connect(broker.port)
    c.subscribe(t, id="s", ack="auto", receipt="sub")
    col.wait_receipt("sub")
    c.send(t, "one", receipt="r1")
    col.wait_messages(1)
    c.unsubscribe("s", receipt="u")
    col.wait_receipt("u")
    c.send(t, "two", receipt="r2")
    col.wait_receipt("r2")
    assert col.quiet(0.3) == 1
    c.disconnect()


def test_bad_credentials_get_error(broker: BrokerProcess) -> None:
    c = stomp.Connection12([("127.0.0.1", broker.port)])
    col = Collector()
    c.set_listener("c", col)
    with pytest.raises(stomp.exception.ConnectFailedException):
        c.connect("user", "wrong", wait=True)
    assert "authentication failed" in col.wait_error().headers["message"]


def test_tls_listener(tmp_path: Path) -> None:
    from support import free_port

    b = BrokerProcess(tmp_path / "tls", ("stomp", "stomp-ssl"), extra_args=("--self-signed",),
                      ports={"stomp": free_port(), "stomp-ssl": free_port()}).start()
    try:
        c = stomp.Connection12([("127.0.0.1", b.ports["stomp-ssl"])])
        c.set_ssl([("127.0.0.1", b.ports["stomp-ssl"])], verify=False)
        col = Collector()
        c.set_listener("c", col)
        c.connect("user", "password", wait=True)
        q = dest()
        c.subscribe(q, id="s", ack="auto")
        c.send(q, "over tls")
        assert col.wait_messages(1)[0].body == "over tls"
        c.disconnect()
    finally:
        b.kill()
