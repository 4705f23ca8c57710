"""Advisory topics (``ActiveMQ.Advisory.*``): JSON-bodied text messages about connections,
consumers, producers, destinations, expired and dead-lettered messages, published only
when somebody subscribes to their topic."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ferrymq.core.message import TEXT, Message
from ferrymq.core.names import ADVISORY_PREFIX, QUEUE, TEMP_QUEUE, TOPIC, DestinationName

if TYPE_CHECKING:
    from ferrymq.core.broker import Broker
    from ferrymq.core.stats import DestinationStats
    from ferrymq.core.subscription import Subscription


class Advisor:
    def __init__(self, broker: Broker, enabled: bool = True) -> None:
        self.broker = broker
        self.enabled = enabled

    def advise(self, suffix: str, data: dict[str, Any], props: dict[str, Any] | None = None) -> None:
        broker = self.broker
        if not self.enabled or not broker.running:
            return
        path = ADVISORY_PREFIX + suffix
        if not broker.topic_trie.match(path):
            return
        m = Message(DestinationName(TOPIC, path), json.dumps(data, default=str), TEXT, type="Advisory",
                    properties=dict(props or {}), persistent=False)
        broker.route(m, [])

    def destination(self, name: DestinationName, added: bool) -> None:
        if name.path.startswith(ADVISORY_PREFIX) or not self.broker.running:
            return
        kind = {QUEUE: "Queue", TOPIC: "Topic", TEMP_QUEUE: "TempQueue"}.get(name.kind, "TempTopic")
        self.advise(kind, {"DestinationInfo": {"destination": str(name), "operationType": 0 if added else 1}})

    def consumer(self, sub: Subscription, added: bool) -> None:
        dest = sub.spec.destination
        if dest.path.startswith(ADVISORY_PREFIX) or not self.enabled:
            return
        if dest.is_queue:
            count = len(sub.queue.consumers)
        else:
            count = sum(1 for b in self.broker.topic_trie.match_pattern_values(dest.path) if b.queue.consumers)
        info: dict[str, Any] = {"consumerId": f"{sub.session.connection.id}:{sub.id}",
                                "destination": str(dest), "selector": sub.spec.selector,
                                "prefetchSize": sub.prefetch}
        if sub.spec.durable_name:
            info["subscriptionName"] = sub.spec.durable_name
        self.advise(f"Consumer.{'Queue' if dest.is_queue else 'Topic'}.{dest.path}",
                    {"ConsumerInfo" if added else "RemoveInfo": info}, {"consumerCount": count})

    def producer(self, dest: DestinationName, stats: DestinationStats | None, body: dict[str, Any]) -> None:
        kind = "Queue" if dest.is_queue else "Topic"
        self.advise(f"Producer.{kind}.{dest.path}", body,
                    {"producerCount": stats.producer_count if stats is not None else 0})
