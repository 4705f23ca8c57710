"""Prometheus collector reading the core's plain integer counters at scrape time.

Nothing here runs on the message path: the core increments ints (core/stats.py) and this
collector reads them when ``/metrics`` is scraped, on the event loop thread (R2, R6).

Two families of names are exposed side by side:

* ``ferrymq_<subsystem>_<noun>_<unit>``: ferrymq's own names, Prometheus style
  (``ferrymq_destination_enqueued_messages_total{type="queue",destination="orders"}``).
* Amazon MQ's CloudWatch names with CloudWatch's dimensions as labels: ``Broker`` at broker
  level; ``Broker`` + ``Queue`` or ``Broker`` + ``Topic`` per destination
  (``EnqueueCount{Broker="b-1",Queue="orders"}``). Values are cumulative since the broker
  started (the JMX attributes Amazon MQ samples); CloudWatch's per-minute counts are
  ``increase(EnqueueCount[1m])`` in PromQL.

Like Amazon MQ, only the first ``max_destinations`` destinations (1,000, queues before
topics, each in name order) are exposed per scrape; ``ferrymq_metrics_destinations_omitted``
says how many were left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ferrymq import __version__
from ferrymq.core import Broker, DestinationView

#: Amazon MQ publishes metrics for at most this many destinations
MAX_DESTINATIONS = 1000

#: listener name -> the CloudWatch prefix of its <Proto>MaximumConnections metric
_MAX_CONN_PREFIX = {
    "amqp": "Amqp",
    "amqp-ssl": "Amqp",
    "mqtt": "Mqtt",
    "mqtt-ssl": "Mqtt",
    "openwire": "Openwire",
    "openwire-ssl": "Openwire",
    "stomp": "Stomp",
    "stomp-ssl": "Stomp",
    "ws": "Ws",
    "wss": "Ws",
}


@dataclass(frozen=True)
class _Dest:
    view: DestinationView
    is_queue: bool
    memory_limit: int


class BrokerCollector(Collector):
    """Reads ``broker``'s counters on each ``collect()``.

    ``broker_dimension`` is CloudWatch's ``Broker`` value (Amazon MQ: the broker name with
    ``-1``/``-2`` per instance). ``max_connections`` maps enabled listener names to their
    connection ceiling (the ``<Proto>MaximumConnections`` metrics). ``auth_failures`` reads
    the authenticator's failure count.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        broker_dimension: str | None = None,
        max_destinations: int = MAX_DESTINATIONS,
        max_connections: Mapping[str, int] | None = None,
        auth_failures: Callable[[], int] | None = None,
        started_at: float | None = None,
    ) -> None:
        self.broker = broker
        self.broker_dimension = broker_dimension or f"{broker.name}-1"
        self.max_destinations = max_destinations
        self.max_connections = dict(max_connections or {})
        self.auth_failures = auth_failures
        self.started_at = started_at if started_at is not None else time.time()

    def _store_metrics(self) -> Iterator[Metric]:
        stats = getattr(self.broker.store, "stats", None)  # the store's counters, when it keeps them
        if stats is not None:
            yield from _store_counters(stats)

    # -- reading the core --------------------------------------------------------------
    def _destinations(self) -> tuple[list[_Dest], int]:
        broker, admin = self.broker, self.broker.admin
        out: list[_Dest] = []
        queues = admin.queues()
        for v in queues[: self.max_destinations]:
            q = broker.queues.get(v.name.path)
            out.append(_Dest(v, True, q.policy.memory_limit if q is not None else 0))
        total = len(queues) + len(broker.topics)
        room = self.max_destinations - len(out)
        if room > 0:
            for v in admin.topics()[:room]:
                out.append(_Dest(v, False, broker.policy_for(v.name).memory_limit))
        return out, max(0, total - len(out))

    def collect(self) -> Iterator[Metric]:
        broker = self.broker
        bdim = self.broker_dimension
        blabel = {"Broker": bdim}
        dests, omitted = self._destinations()

        # broker-wide sums cover every queue (also past the destination limit), durable and
        # non-durable topic subscriptions
        sub_queues = [b.queue for b in broker.topic_trie.values()]
        all_queues = list(broker.queues.values())
        # held = waiting + delivered-but-unsettled, as ActiveMQ's QueueSize counts them
        messages = sum(q.count + q.in_flight for q in all_queues) + sum(
            q.count + q.in_flight for q in sub_queues
        )
        consumers = sum(len(q.consumers) for q in all_queues) + sum(len(q.consumers) for q in sub_queues)
        enqueued = sum(q.stats.enqueue_count for q in all_queues) + sum(
            t.stats.enqueue_count for t in broker.topics.values()
        )
        dequeued = sum(q.stats.dequeue_count for q in all_queues) + sum(
            q.stats.dequeue_count for q in sub_queues
        )
        connections = len(broker.connections)
        inactive_durables = sum(1 for d in broker.durables.values() if d.active is None)
        open_tx = sum(len(s.transactions) for c in broker.connections.values() for s in c.sessions)

        # ---- ferrymq names
        g = GaugeMetricFamily(
            "ferrymq_broker_info", "Broker name and version (value 1)", labels=["broker", "version"]
        )
        g.add_metric([broker.name, __version__], 1)
        yield g
        yield GaugeMetricFamily(
            "ferrymq_broker_uptime_seconds",
            "Seconds since the broker started",
            value=max(0.0, time.time() - self.started_at),
        )
        yield GaugeMetricFamily("ferrymq_broker_connections", "Open client connections", value=connections)
        yield CounterMetricFamily(
            "ferrymq_broker_connections_opened",
            "Client connections accepted since start",
            value=broker.stats.connections_total,
        )
        yield GaugeMetricFamily("ferrymq_broker_consumers", "Consumers on every destination", value=consumers)
        yield GaugeMetricFamily(
            "ferrymq_broker_messages",
            "Messages held by the broker (queues and subscriptions)",
            value=messages,
        )
        yield CounterMetricFamily(
            "ferrymq_broker_routed_messages",
            "Messages routed since start",
            value=broker.stats.messages_routed,
        )
        yield CounterMetricFamily(
            "ferrymq_broker_dead_lettered_messages",
            "Messages sent to a DLQ since start",
            value=broker.stats.messages_dead_lettered,
        )
        yield GaugeMetricFamily("ferrymq_broker_open_transactions", "Transactions in progress", value=open_tx)
        yield GaugeMetricFamily(
            "ferrymq_broker_durable_subscriptions_inactive",
            "Durable topic subscriptions without an active consumer",
            value=inactive_durables,
        )
        if self.auth_failures is not None:
            yield CounterMetricFamily(
                "ferrymq_security_authentication_failures",
                "Failed authentications since start",
                value=self.auth_failures(),
            )
        yield from self._store_metrics()
        yield GaugeMetricFamily(
            "ferrymq_metrics_destinations_omitted",
            f"Destinations left out of this scrape (limit {self.max_destinations})",
            value=omitted,
        )

        labels = ["type", "destination"]
        fam: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "size": GaugeMetricFamily(
                "ferrymq_destination_messages", "Messages waiting for a consumer (queues)", labels=labels
            ),
            "bytes": GaugeMetricFamily(
                "ferrymq_destination_memory_bytes", "Bytes of messages held", labels=labels
            ),
            "cons": GaugeMetricFamily("ferrymq_destination_consumers", "Consumers", labels=labels),
            "infl": GaugeMetricFamily(
                "ferrymq_destination_inflight_messages", "Delivered, not yet settled", labels=labels
            ),
            "enq": CounterMetricFamily(
                "ferrymq_destination_enqueued_messages", "Messages sent to the destination", labels=labels
            ),
            "deq": CounterMetricFamily(
                "ferrymq_destination_dequeued_messages", "Messages acknowledged or removed", labels=labels
            ),
            "disp": CounterMetricFamily(
                "ferrymq_destination_dispatched_messages", "Messages dispatched to consumers", labels=labels
            ),
            "exp": CounterMetricFamily(
                "ferrymq_destination_expired_messages", "Messages expired", labels=labels
            ),
            "dlq": CounterMetricFamily(
                "ferrymq_destination_dead_lettered_messages", "Messages sent to a DLQ", labels=labels
            ),
        }
        for d in dests:
            v = d.view
            lv = ["queue" if d.is_queue else "topic", v.name.path]
            if d.is_queue:
                fam["size"].add_metric(lv, v.size)
            fam["bytes"].add_metric(lv, v.memory_bytes)
            fam["cons"].add_metric(lv, v.consumers)
            fam["infl"].add_metric(lv, v.in_flight)
            fam["enq"].add_metric(lv, v.enqueued)
            fam["deq"].add_metric(lv, v.dequeued)
            fam["disp"].add_metric(lv, v.dispatched)
            fam["exp"].add_metric(lv, v.expired)
            if d.is_queue:
                fam["dlq"].add_metric(lv, v.dead_lettered)
        yield from fam.values()

        # ---- Amazon MQ CloudWatch names, dimensions as labels
        def broker_gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            m = GaugeMetricFamily(name, doc + " (Amazon MQ CloudWatch name)")
            m.add_sample(name, blabel, value)
            return m

        yield broker_gauge("CurrentConnectionsCount", "Active connections", connections)
        yield broker_gauge("TotalConsumerCount", "Consumers on the broker", consumers)
        yield broker_gauge("TotalMessageCount", "Messages stored on the broker", messages)
        yield broker_gauge("TotalEnqueueCount", "Messages sent to the broker since start", enqueued)
        yield broker_gauge("TotalDequeueCount", "Messages acknowledged on the broker since start", dequeued)
        yield broker_gauge("OpenTransactionCount", "Transactions in progress", open_tx)
        yield broker_gauge(
            "InactiveDurableTopicSubscribersCount", "Inactive durable topic subscribers", inactive_durables
        )
        ceilings: dict[str, int] = {}
        for listener, limit in self.max_connections.items():
            prefix = _MAX_CONN_PREFIX.get(listener)
            if prefix is not None:
                ceilings[prefix] = max(limit, ceilings.get(prefix, 0))
        for prefix, limit in sorted(ceilings.items()):
            yield broker_gauge(
                f"{prefix}MaximumConnections", f"Connection ceiling of the {prefix} listeners", limit
            )

        per_dest: list[tuple[str, str, Callable[[_Dest], float | None]]] = [
            ("ConsumerCount", "Consumers", lambda d: d.view.consumers),
            ("EnqueueCount", "Messages sent to the destination since start", lambda d: d.view.enqueued),
            ("DequeueCount", "Messages acknowledged since start", lambda d: d.view.dequeued),
            ("DispatchCount", "Messages dispatched to consumers since start", lambda d: d.view.dispatched),
            ("ExpiredCount", "Messages expired since start", lambda d: d.view.expired),
            ("InFlightCount", "Messages delivered and not yet acknowledged", lambda d: d.view.in_flight),
            (
                "QueueSize",
                "Messages held by the queue, waiting or unacknowledged",
                lambda d: d.view.size + d.view.in_flight if d.is_queue else None,
            ),
            (
                "MemoryUsage",
                "Percentage of the destination's memory limit in use",
                lambda d: 100.0 * d.view.memory_bytes / d.memory_limit if d.memory_limit > 0 else None,
            ),
        ]
        for name, doc, read in per_dest:
            m = GaugeMetricFamily(name, doc + " (Amazon MQ CloudWatch name)")
            for d in dests:
                value = read(d)
                if value is None:
                    continue
                kind = "Queue" if d.is_queue else "Topic"
                m.add_sample(name, {"Broker": bdim, kind: d.view.name.path}, value)
            yield m


_STORE_COUNTERS = (
    ("submits", "ferrymq_store_submits", "Store submits (one per durable send, ack or batch of ops)"),
    ("batches", "ferrymq_store_batches", "Store transactions committed (group commits)"),
    ("failed_batches", "ferrymq_store_failed_batches", "Store transactions that failed"),
    ("ops_written", "ferrymq_store_ops_written", "Store operations written to disk"),
    ("records_encoded", "ferrymq_store_records_encoded", "Message records encoded for the disk"),
    ("cancelled_refs", "ferrymq_store_cancelled_refs",
     "Message references added and removed within one batch (never written)"),
    ("dropped_messages", "ferrymq_store_dropped_messages",
     "Persistent messages consumed before their batch was written (never written)"),
    ("void_submits", "ferrymq_store_void_submits",
     "Store submits left with nothing to write (acknowledged before their batch), resolved without a commit"),
)


def _store_counters(stats: object) -> Iterator[Metric]:
    for attr, name, doc in _STORE_COUNTERS:
        value = getattr(stats, attr, None)
        if isinstance(value, int):
            yield CounterMetricFamily(name, doc, value=value)


def make_registry(collector: BrokerCollector) -> CollectorRegistry:
    """A registry of its own (not the process-global default) holding ``collector``."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg


__all__ = ["MAX_DESTINATIONS", "BrokerCollector", "make_registry"]
