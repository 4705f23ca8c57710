"""The admin JSON API on the console port of a real `ferrymq serve`, with stomp.py traffic."""

from __future__ import annotations

import base64
import itertools
import uuid

import pytest
from ops_util import Http, q, send_persistent, stomp_connect, wait_until

from support import BrokerProcess

_n = itertools.count()


def qname(prefix: str = "ops") -> str:
    return f"{prefix}.{next(_n)}.{uuid.uuid4().hex[:6]}"


def api(b: BrokerProcess, user: str | None = "admin", password: str = "secret") -> Http:
    return Http(b.ports["http"], user, password)


def queue_view(b: BrokerProcess, name: str) -> dict:
    status, _, body = api(b).request("GET", f"/api/queues/{q(name)}")
    assert status == 200, body
    return body


# ---------------------------------------------------------------------------- authentication
def test_missing_or_bad_credentials_are_401_json(broker: BrokerProcess) -> None:
    h = api(broker, user=None)
    for path in ("/api/broker", "/api/queues", "/metrics"):
        status, hdrs, body = h.request("GET", path)
        assert status == 401, path
        assert body["error"] == "unauthorized" and body["message"]
        assert hdrs["WWW-Authenticate"].startswith('Basic realm="ferrymq"')
    for auth in (
        "Basic " + base64.b64encode(b"admin:wrong").decode(),
        "Basic !!not-base64",
        "Bearer abc",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"ghost:secret").decode(),
    ):
        status, hdrs, body = h.request("GET", "/api/queues", auth=auth)
        assert status == 401, auth
        assert body["error"] == "unauthorized"
    # the console's requests get a challenge browsers do not turn into a login dialog
    status, hdrs, _ = h.request("GET", "/api/queues", headers={"X-Ferrymq-Console": "1"})
    assert status == 401 and not hdrs["WWW-Authenticate"].startswith("Basic ")


def test_console_access_is_required(broker: BrokerProcess) -> None:
    status, _, body = api(broker, "app", "app-pass").request("GET", "/api/queues")
    assert status == 403
    assert body == {"error": "forbidden", "message": "user app has no console access"}
    # a non-admin user with console access may use the API
    status, _, body = api(broker, "viewer", "viewer-pass").request("GET", "/api/queues")
    assert status == 200 and isinstance(body, list)


def test_console_page_is_served_without_credentials(broker: BrokerProcess) -> None:
    h = api(broker, user=None)
    status, hdrs, page = h.request("GET", "/")
    assert status == 200 and "text/html" in hdrs["Content-Type"]
    assert "/console/console.js" in page and "login-form" in page
    for path, ctype in (("/console/console.js", "javascript"), ("/console/console.css", "text/css")):
        status, hdrs, _ = h.request("GET", path)
        assert status == 200 and ctype in hdrs["Content-Type"], path
    status, _, body = h.request("GET", "/console/../../app.py")
    assert status in (403, 404)


# ---------------------------------------------------------------------------- reads
def test_broker_overview(broker: BrokerProcess) -> None:
    c, _ = stomp_connect(broker.ports["stomp"])
    try:
        info = api(broker).get("/api/broker")
        assert info["name"] == "opsbroker"
        assert info["version"]
        assert info["uptimeSeconds"] > 0
        assert info["connections"] >= 1
        assert info["listeners"] == {"stomp": broker.ports["stomp"], "http": broker.ports["http"]}
        assert set(info["totals"]) >= {"queues", "topics", "messages", "consumers", "enqueued", "dequeued"}
    finally:
        c.disconnect()


def test_list_browse_purge_delete(broker: BrokerProcess) -> None:
    name = qname()
    c, lst = stomp_connect(broker.ports["stomp"])
    for i, color in enumerate(["red", "blue", "red"]):
        send_persistent(c, lst, f"/queue/{name}", f"body {i} " + "x" * (2000 if i == 2 else 0), color=color)
    c.disconnect()
    h = api(broker)
    row = next(x for x in h.get("/api/queues") if x["name"] == name)
    assert row["size"] == 3 and row["enqueued"] == 3 and row["consumers"] == 0 and row["type"] == "queue"
    assert queue_view(broker, name) == row

    res = h.get(f"/api/queues/{q(name)}/messages")
    assert res["count"] == 3 and res["queue"] == name
    m0 = res["messages"][0]
    assert m0["body"] == "body 0 " and m0["bodyEncoding"] == "text" and not m0["bodyTruncated"]
    assert m0["properties"]["color"] == "red"
    assert m0["headers"]["persistent"] is True and m0["headers"]["destination"] == f"queue://{name}"
    assert m0["id"].startswith("ID:")
    big = res["messages"][2]
    assert big["bodyTruncated"] and len(big["body"]) == 1024 and big["bodySize"] == 2007

    red = h.get(f"/api/queues/{q(name)}/messages?selector={q(chr(99) + 'olor = ' + repr('red'))}")
    assert [m["properties"]["color"] for m in red["messages"]] == ["red", "red"]
    assert h.get(f"/api/queues/{q(name)}/messages?limit=1")["count"] == 1

    assert h.post(f"/api/queues/{q(name)}/purge") == {"queue": name, "purged": 3}
    assert queue_view(broker, name)["size"] == 0
    assert h.get(f"/api/queues/{q(name)}/messages")["count"] == 0

    status, _, body = h.request("DELETE", f"/api/queues/{q(name)}")
    assert status == 200 and body == {"deleted": name}
    assert name not in [x["name"] for x in h.get("/api/queues")]
    status, _, body = h.request("GET", f"/api/queues/{q(name)}")
    assert status == 404 and body["error"] == "not_found" and name in body["message"]


def test_purged_persistent_messages_stay_gone_after_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from support import free_port

    b = BrokerProcess(
        tmp_path / "data", ("stomp", "http"), ports={"stomp": free_port(), "http": free_port()}
    ).start()
    try:
        c, lst = stomp_connect(b.ports["stomp"])
        for i in range(4):
            send_persistent(c, lst, "/queue/keep", f"k{i}")
            send_persistent(c, lst, "/queue/drop", f"d{i}")
        c.disconnect()
        api(b).post("/api/queues/drop/purge")
        b.restart()
        sizes = {x["name"]: x["size"] for x in api(b).get("/api/queues")}
        assert sizes["keep"] == 4
        assert sizes.get("drop", 0) == 0
    finally:
        b.kill()


def test_connections_and_durable_subscriptions(broker: BrokerProcess) -> None:
    topic = qname("ops.topic")
    cid = "ops-client-" + uuid.uuid4().hex[:6]
    c, _ = stomp_connect(broker.ports["stomp"], "viewer", "viewer-pass", client_id=cid)
    c.subscribe(f"/topic/{topic}", id="d1", ack="auto", headers={"activemq.subscriptionName": "audit"})
    h = api(broker)
    try:
        wait_until(lambda: any(s["clientId"] == cid for s in h.get("/api/subscriptions")), "subscription")
        (sub,) = [s for s in h.get("/api/subscriptions") if s["clientId"] == cid]
        assert sub == {
            "clientId": cid,
            "name": "audit",
            "destination": topic,
            "selector": None,
            "active": True,
            "pending": 0,
            "inFlight": 0,
        }
        (conn,) = [x for x in h.get("/api/connections") if x["clientId"] == cid]
        assert conn["protocol"] == "stomp" and conn["user"] == "viewer" and conn["subscriptions"] == 1
        assert conn["remote"].startswith("127.0.0.1")
        # a topic is listed once something was published to it
        h.post(f"/api/topics/{q(topic)}/send", {"body": "hello"}, expect=201)
        wait_until(
            lambda: any(
                t["name"] == topic and t["consumers"] == 1 and t["enqueued"] == 1 and t["dequeued"] == 1
                for t in h.get("/api/topics")
            ),
            "topic row",
        )
    finally:
        c.disconnect()
    wait_until(lambda: not any(x["clientId"] == cid for x in h.get("/api/connections")), "disconnect")
    (sub,) = [s for s in h.get("/api/subscriptions") if s["clientId"] == cid]
    assert sub["active"] is False


# ---------------------------------------------------------------------------- console send
def test_send_to_queue_and_topic_reaches_stomp_consumers(broker: BrokerProcess) -> None:
    name, topic = qname(), qname("ops.t")
    c, lst = stomp_connect(broker.ports["stomp"])
    c.subscribe(f"/queue/{name}", id="q", ack="auto")
    c.subscribe(f"/topic/{topic}", id="t", ack="auto")
    h = api(broker, "viewer", "viewer-pass")
    try:
        wait_until(lambda: queue_view(broker, name)["consumers"] == 1, "queue consumer")
        res = h.post(
            f"/api/queues/{q(name)}/send",
            {
                "body": "from the console",
                "properties": {"n": 7, "ok": True},
                "priority": 6,
                "correlationId": "c-1",
            },
            expect=201,
        )
        assert res["destination"] == f"queue://{name}" and res["messageId"].startswith("ID:")
        h.post(f"/api/topics/{q(topic)}/send", {"body": "to the topic", "persistent": False}, expect=201)
        msgs = lst.wait_messages(2)
        by_dest = {m.headers["destination"]: m for m in msgs}
        m = by_dest[f"/queue/{name}"]
        assert m.body == "from the console"
        assert m.headers["message-id"] == res["messageId"]
        assert m.headers["n"] == "7" and m.headers["ok"] == "true"
        assert m.headers["priority"] == "6" and m.headers["correlation-id"] == "c-1"
        assert m.headers["persistent"] == "true"
        assert by_dest[f"/topic/{topic}"].body == "to the topic"
    finally:
        c.disconnect()


# ---------------------------------------------------------------------------- DLQ redrive
def _dead_letter(broker: BrokerProcess, name: str, kinds: list[str]) -> list[str]:
    """Send one persistent message per kind to ``name`` and NACK each: they land in ActiveMQ.DLQ."""
    c, lst = stomp_connect(broker.ports["stomp"])
    c.subscribe(f"/queue/{name}", id="s", ack="client-individual")
    for i, kind in enumerate(kinds):
        send_persistent(c, lst, f"/queue/{name}", f"poison {i}", kind=kind)
    msgs = lst.wait_messages(len(kinds))
    for i, m in enumerate(msgs):
        c.nack(m.headers["ack"], receipt=f"n{i}")
        lst.wait_receipt(f"n{i}")
    c.disconnect()
    return [m.headers["message-id"] for m in msgs]


def _in_dlq(broker: BrokerProcess, name: str) -> list[dict]:
    sel = q(f"originalDestination = 'queue://{name}'")
    return api(broker).get(f"/api/queues/ActiveMQ.DLQ/messages?selector={sel}")["messages"]


def test_redrive_by_selector_then_by_id(broker: BrokerProcess) -> None:
    name = qname("ops.orders")
    ids = _dead_letter(broker, name, ["a", "b", "b"])
    dead = _in_dlq(broker, name)
    assert sorted(m["id"] for m in dead) == sorted(ids)
    assert all(m["properties"]["dlqDeliveryFailureCause"] for m in dead)
    assert queue_view(broker, name)["size"] == 0

    h = api(broker)
    sel = f"kind = 'b' AND originalDestination = 'queue://{name}'"
    res = h.post("/api/queues/ActiveMQ.DLQ/move", {"selector": sel})
    assert res == {"queue": "ActiveMQ.DLQ", "moved": 2, "target": None}
    assert [m["properties"]["kind"] for m in _in_dlq(broker, name)] == ["a"]
    assert queue_view(broker, name)["size"] == 2

    res = h.post("/api/queues/ActiveMQ.DLQ/move", {"messageIds": [ids[0]]})
    assert res["moved"] == 1
    assert _in_dlq(broker, name) == []
    assert queue_view(broker, name)["size"] == 3

    # the redriven messages arrive at the original queue, without the DLQ's properties
    c, lst = stomp_connect(broker.ports["stomp"])
    c.subscribe(f"/queue/{name}", id="again", ack="auto")
    got = lst.wait_messages(3)
    c.disconnect()
    assert sorted(m.body for m in got) == ["poison 0", "poison 1", "poison 2"]
    assert sorted(m.headers["kind"] for m in got) == ["a", "b", "b"]
    for m in got:
        assert "dlqDeliveryFailureCause" not in m.headers
        assert "originalDestination" not in m.headers
    # a second redrive of the same id finds nothing
    assert h.post("/api/queues/ActiveMQ.DLQ/move", {"messageIds": [ids[0]]})["moved"] == 0


def test_move_to_a_target_queue(broker: BrokerProcess) -> None:
    name, parking = qname("ops.src"), qname("ops.parking")
    ids = _dead_letter(broker, name, ["x", "y"])
    res = api(broker).post("/api/queues/ActiveMQ.DLQ/move", {"messageIds": ids, "target": parking})
    assert res == {"queue": "ActiveMQ.DLQ", "moved": 2, "target": f"queue://{parking}"}
    assert queue_view(broker, parking)["size"] == 2
    assert queue_view(broker, name)["size"] == 0


def test_mutations_are_audited_with_the_user(broker: BrokerProcess) -> None:
    name = qname()
    h = api(broker, "viewer", "viewer-pass")
    h.post(f"/api/queues/{q(name)}/send", {"body": "x"}, expect=201)
    h.post(f"/api/queues/{q(name)}/purge")

    def audited() -> bool:
        text = "".join(broker.output)
        return all(f"action={a} destination=queue://{name} user=viewer" in text for a in ("send", "purge"))

    wait_until(audited, "audit lines")
    assert any("ferrymq.audit" in line and "action=purge" in line and name in line for line in broker.output)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("GET", "/api/queues/nope.{u}/messages", None, 404, "no such queue"),
        ("POST", "/api/queues/nope.{u}/purge", None, 404, "no such queue"),
        ("DELETE", "/api/queues/nope.{u}", None, 404, "no such queue"),
        ("POST", "/api/queues/nope.{u}/move", {}, 404, "no such queue"),
        ("GET", "/api/queues/{dlq}/messages?limit=0", None, 400, "limit"),
        ("GET", "/api/queues/{dlq}/messages?limit=abc", None, 400, "limit"),
        ("GET", "/api/queues/{dlq}/messages?limit=5000", None, 400, "limit"),
        ("GET", "/api/queues/{dlq}/messages?selector=color%20%3D%3D%3D", None, 400, "selector"),
        ("GET", "/api/queues/{dlq}/messages?sort=asc", None, 400, "sort"),
        ("POST", "/api/queues/{dlq}/move", b"{not json", 400, "JSON"),
        ("POST", "/api/queues/{dlq}/move", [1, 2], 400, "JSON object"),
        ("POST", "/api/queues/{dlq}/move", {"messageIds": "ID:1"}, 400, "messageIds"),
        ("POST", "/api/queues/{dlq}/move", {"messageIds": []}, 400, "messageIds"),
        ("POST", "/api/queues/{dlq}/move", {"messageId": ["ID:1"]}, 400, "unknown field"),
        ("POST", "/api/queues/{dlq}/move", {"selector": 5}, 400, "selector"),
        ("POST", "/api/queues/{dlq}/move", {"target": "a.*"}, 400, "wildcard"),
        ("POST", "/api/queues/{dlq}/move", {"target": "temp-queue://x"}, 400, "target"),
        ("POST", "/api/queues/{dlq}/move", {"target": "{dlq}"}, 400, "source"),
        ("POST", "/api/queues/ok.{u}/send", None, 400, "body is required"),
        ("POST", "/api/queues/ok.{u}/send", {"body": 5}, 400, "body"),
        ("POST", "/api/queues/ok.{u}/send", {"body": "x", "properties": {"JMSType": "a"}}, 400, "reserved"),
        ("POST", "/api/queues/ok.{u}/send", {"body": "x", "properties": {"bad name": 1}}, 400, "identifier"),
        ("POST", "/api/queues/ok.{u}/send", {"body": "x", "properties": {"a": [1]}}, 400, "string, number"),
        ("POST", "/api/queues/ok.{u}/send", {"body": "x", "properties": {"a": 2**70}}, 400, "64 bits"),
        ("POST", "/api/queues/ok.{u}/send", {"body": "x", "priority": 12}, 400, "priority"),
        ("POST", "/api/queues/ok.{u}/send", {"body": "x", "persistent": "yes"}, 400, "persistent"),
        ("POST", "/api/queues/ok.{u}/send", {"body": "x", "timeToLive": -1}, 400, "timeToLive"),
        ("POST", "/api/queues/a.*.b/send", {"body": "x"}, 400, "wildcard"),
        ("POST", "/api/topics/a.>/send", {"body": "x"}, 400, "wildcard"),
        ("POST", "/api/queues/a.>.b/send", {"body": "x"}, 400, ">"),
        ("GET", "/api/nothing", None, 404, "Not Found"),
        ("PUT", "/api/queues", None, 405, "Method Not Allowed"),
    ],
)
def test_bad_requests_get_json_errors(
    broker: BrokerProcess, method: str, path: str, body: object, status: int, fragment: str
) -> None:
    h = api(broker)
    dlq = "ActiveMQ.DLQ"
    if "{dlq}" in path:  # make sure the shared DLQ exists
        h.post(f"/api/queues/{dlq}/send", {"body": "keep the DLQ", "persistent": False}, expect=201)
    path = path.replace("{u}", uuid.uuid4().hex[:6]).replace("{dlq}", dlq)
    if isinstance(body, dict) and body.get("target") == "{dlq}":
        body = {"target": dlq}
    if isinstance(body, bytes):
        got_status, hdrs, got = h.request(method, path, raw=body)
    else:
        got_status, hdrs, got = h.request(method, path, body)
    assert got_status == status, got
    assert "application/json" in hdrs["Content-Type"]
    assert set(got) == {"error", "message"}
    assert fragment.lower() in got["message"].lower(), got
