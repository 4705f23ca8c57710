"""/metrics on the console port: ferrymq's names and Amazon MQ's CloudWatch names with their
dimensions, checked against known stomp.py traffic on a real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from ops_util import Http, send_persistent, stomp_connect, wait_until
from prometheus_client.parser import text_string_to_metric_families

from ferrymq.app import LoopClock
from ferrymq.core import Broker, DestinationName, Message
from ferrymq.metrics.collector import BrokerCollector, make_registry
from ferrymq.store.sqlite import SQLiteStore
from support import BrokerProcess, free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int, user: str | None = "admin", password: str = "secret") -> Samples:
    status, hdrs, text = Http(port, user, password).request("GET", "/metrics")
    assert status == 200, text
    assert hdrs["Content-Type"].startswith("text/plain")
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def val(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture(scope="module")
def mbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(
        tmp_path_factory.mktemp("metrics") / "data",
        ("stomp", "http"),
        config="BrokerName: metricsbroker\n",
        ports={"stomp": free_port(), "http": free_port()},
    ).start()
    yield b
    b.kill()


def test_metrics_need_credentials_by_default(mbroker: BrokerProcess) -> None:
    status, hdrs, body = Http(mbroker.ports["http"], None).request("GET", "/metrics")
    assert status == 401 and body["error"] == "unauthorized"
    assert "WWW-Authenticate" in hdrs


def test_cloudwatch_and_ferrymq_series_after_known_traffic(mbroker: BrokerProcess) -> None:
    port = mbroker.ports["stomp"]
    p, plst = stomp_connect(port)
    c, clst = stomp_connect(port)
    s, slst = stomp_connect(port)
    c.subscribe("/queue/m.work", id="c", ack="client-individual")
    s.subscribe("/topic/m.news", id="s", ack="auto")
    try:
        for i in range(5):
            send_persistent(p, plst, "/queue/m.work", f"w{i}")
        for i in range(2):
            send_persistent(p, plst, "/queue/m.idle", f"i{i}")
        got = clst.wait_messages(5)
        for i, m in enumerate(got[:2]):
            c.ack(m.headers["ack"], receipt=f"a{i}")
            clst.wait_receipt(f"a{i}")
        for i in range(4):
            send_persistent(p, plst, "/topic/m.news", f"n{i}")
        slst.wait_messages(4)

        b = {"Broker": "metricsbroker-1"}
        work = {**b, "Queue": "m.work"}
        idle = {**b, "Queue": "m.idle"}
        news = {**b, "Topic": "m.news"}

        def settled() -> bool:
            m = scrape(mbroker.ports["http"])
            return val(m, "DequeueCount", **news) == 4 and val(m, "DequeueCount", **work) == 2

        wait_until(settled, "counters to settle")
        m = scrape(mbroker.ports["http"])
        # broker level, dimension Broker
        assert val(m, "CurrentConnectionsCount", **b) == 3
        assert val(m, "TotalConsumerCount", **b) == 2
        assert val(m, "TotalMessageCount", **b) == 3 + 2  # unacknowledged in m.work + waiting in m.idle
        assert val(m, "TotalEnqueueCount", **b) == 5 + 2 + 4
        assert val(m, "TotalDequeueCount", **b) == 2 + 4
        assert val(m, "OpenTransactionCount", **b) == 0
        assert val(m, "StompMaximumConnections", **b) == 2000
        # queue level, dimensions Broker + Queue
        assert val(m, "EnqueueCount", **work) == 5
        assert val(m, "DispatchCount", **work) == 5
        assert val(m, "InFlightCount", **work) == 3
        assert val(m, "QueueSize", **work) == 3
        assert val(m, "ConsumerCount", **work) == 1
        assert val(m, "ExpiredCount", **work) == 0
        assert val(m, "QueueSize", **idle) == 2
        assert val(m, "ConsumerCount", **idle) == 0
        assert val(m, "DispatchCount", **idle) == 0
        # topic level, dimensions Broker + Topic; topics have no QueueSize
        assert val(m, "EnqueueCount", **news) == 4
        assert val(m, "ConsumerCount", **news) == 1
        assert ("QueueSize", frozenset(news.items())) not in m
        # ferrymq's own names carry the same numbers
        fw = {"type": "queue", "destination": "m.work"}
        assert val(m, "ferrymq_destination_enqueued_messages_total", **fw) == 5
        assert val(m, "ferrymq_destination_dequeued_messages_total", **fw) == 2
        assert val(m, "ferrymq_destination_inflight_messages", **fw) == 3
        assert val(m, "ferrymq_destination_messages", **fw) == 0  # none waiting: all dispatched
        assert val(m, "ferrymq_destination_consumers", type="topic", destination="m.news") == 1
        assert val(m, "ferrymq_broker_connections") == 3
        assert val(m, "ferrymq_broker_messages") == 5
        assert val(m, "ferrymq_broker_connections_opened_total") >= 3
        assert val(m, "ferrymq_metrics_destinations_omitted") == 0
        # the store's group commit: 11 persistent sends and 6 acknowledgements were submitted
        assert val(m, "ferrymq_store_submits_total") >= 11
        assert 1 <= val(m, "ferrymq_store_batches_total") <= val(m, "ferrymq_store_submits_total")
        assert val(m, "ferrymq_store_ops_written_total") > 0
        assert val(m, "ferrymq_store_failed_batches_total") == 0
        assert (
            val(m, "ferrymq_broker_info", broker="metricsbroker", version=__import__("ferrymq").__version__)
            == 1
        )
    finally:
        for x in (p, c, s):
            x.disconnect()
    wait_until(
        lambda: val(scrape(mbroker.ports["http"]), "CurrentConnectionsCount", Broker="metricsbroker-1") == 0,
        "connections to close",
    )
    # the three unacknowledged messages went back to the queue when the consumer left
    m = scrape(mbroker.ports["http"])
    assert val(m, "QueueSize", Broker="metricsbroker-1", Queue="m.work") == 3
    assert val(m, "InFlightCount", Broker="metricsbroker-1", Queue="m.work") == 0


def test_authentication_failures_are_counted(mbroker: BrokerProcess) -> None:
    before = val(scrape(mbroker.ports["http"]), "ferrymq_security_authentication_failures_total")
    status, _, _ = Http(mbroker.ports["http"], "admin", "nope").request("GET", "/api/queues")
    assert status == 401
    after = val(scrape(mbroker.ports["http"]), "ferrymq_security_authentication_failures_total")
    assert after == before + 1


def test_metrics_public_when_configured(tmp_path: Path) -> None:
    b = BrokerProcess(
        tmp_path / "data",
        ("stomp", "http"),
        config="metrics_public: true\n",
        ports={"stomp": free_port(), "http": free_port()},
    ).start()
    try:
        m = scrape(b.ports["http"], user=None)
        assert val(m, "CurrentConnectionsCount", Broker="ferrymq-1") == 0
        status, _, _ = Http(b.ports["http"], None).request("GET", "/api/queues")
        assert status == 401  # the API still needs credentials
    finally:
        b.kill()


def test_only_the_first_destinations_are_exposed(tmp_path: Path) -> None:
    """Amazon MQ publishes at most 1,000 destinations; the collector takes queues first, in
    name order, then topics, and reports how many it left out."""

    async def main() -> Samples:
        loop = asyncio.get_running_loop()
        broker = Broker(SQLiteStore(tmp_path / "store.db", loop=loop), LoopClock(loop), name="lim")
        await broker.start()
        try:
            for i in range(1003):
                broker.send(Message(DestinationName("queue", f"q{i:04d}"), b"x"))
            for name in ("t.a", "t.b"):
                broker.send(Message(DestinationName("topic", name), b"x"))
            out: Samples = {}
            reg = make_registry(BrokerCollector(broker))
            for fam in reg.collect():
                for s in fam.samples:
                    out[(s.name, frozenset(s.labels.items()))] = s.value
            small: Samples = {}
            for fam in make_registry(BrokerCollector(broker, max_destinations=1004)).collect():
                for s in fam.samples:
                    small[(s.name, frozenset(s.labels.items()))] = s.value
            out.update({(k[0] + ":1004", k[1]): v for k, v in small.items()})
            return out
        finally:
            await broker.stop()

    m = asyncio.run(main())
    sizes = [k for k in m if k[0] == "QueueSize"]
    assert len(sizes) == 1000
    assert ("QueueSize", frozenset({"Broker": "lim-1", "Queue": "q0999"}.items())) in m
    assert ("QueueSize", frozenset({"Broker": "lim-1", "Queue": "q1000"}.items())) not in m
    assert not [k for k in m if k[0] == "EnqueueCount" and dict(k[1]).get("Topic")]
    assert val(m, "ferrymq_metrics_destinations_omitted") == 5
    # broker totals still count every destination
    assert val(m, "TotalMessageCount", Broker="lim-1") == 1003
    assert val(m, "TotalEnqueueCount", Broker="lim-1") == 1005
    # room for one topic past the queues: the first topic in name order
    assert [dict(k[1])["Topic"] for k in m if k[0] == "EnqueueCount:1004" and "Topic" in dict(k[1])] == [
        "t.a"
    ]
    assert val(m, "ferrymq_metrics_destinations_omitted:1004") == 1
