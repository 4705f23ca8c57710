"""BrokerAdmin: what the console, the admin API, metrics and the CLI read and do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ferrymq.core.errors import NotFound
from ferrymq.core.message import Message
from ferrymq.core.names import QUEUE, TEMP_QUEUE, TOPIC, DestinationName
from ferrymq.core.ports import StoreOp

if TYPE_CHECKING:
    from ferrymq.core.broker import Broker
    from ferrymq.core.queue import Queue


@dataclass
class DestinationView:
    name: DestinationName
    size: int
    in_flight: int
    consumers: int
    enqueued: int
    dequeued: int
    dispatched: int
    expired: int
    dead_lettered: int
    memory_bytes: int


class BrokerAdmin:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def queues(self) -> list[DestinationView]:
        return [self._view(q) for q in sorted(self.broker.queues.values(), key=lambda q: q.name.path)]

    def topics(self) -> list[DestinationView]:
        out = []
        for path, t in sorted(self.broker.topics.items()):
            subs = [b for b in self.broker.topic_trie.match(path)]
            out.append(DestinationView(
                t.name, 0, sum(b.queue.in_flight for b in subs),
                sum(len(b.queue.consumers) for b in subs), t.stats.enqueue_count,
                sum(b.queue.stats.dequeue_count for b in subs), sum(b.queue.stats.dispatch_count for b in subs),
                sum(b.queue.stats.expired_count for b in subs), 0, sum(b.queue.bytes for b in subs)))
        return out

    def durable_subscriptions(self) -> list[dict[str, Any]]:
        out = []
        for (cid, name), rec in sorted(self.broker.durables.items()):
            q = rec.queue
            out.append({"client_id": cid, "name": name, "destination": rec.destination,
                        "selector": rec.selector, "active": rec.active is not None,
                        "pending": q.count if q else 0, "in_flight": q.in_flight if q else 0})
        return out

    def connections(self) -> list[dict[str, Any]]:
        return [{"id": c.id, "client_id": c.client_id, "protocol": c.protocol, "remote": c.remote,
                 "user": c.principal.username if c.principal else None,
                 "subscriptions": c.subscription_count(), "connected_at": c.connected_at}
                for c in self.broker.connections.values()]

    def _view(self, q: Queue) -> DestinationView:
        s = q.stats
        return DestinationView(q.name, q.count, q.in_flight, len(q.consumers), s.enqueue_count,
                               s.dequeue_count, s.dispatch_count, s.expired_count, s.dlq_count, q.bytes)

    def _queue(self, dest: DestinationName) -> Queue:
        if dest.kind not in (QUEUE, TEMP_QUEUE):
            raise NotFound(f"{dest} is not a queue")
        q = self.broker.queues.get(dest.path)
        if q is None:
            raise NotFound(f"no such queue: {dest.path}")
        return q

    def browse(self, dest: DestinationName, selector: str | None = None, limit: int = 500) -> list[Message]:
        if dest.kind == TOPIC:
            return []
        q = self.broker.queues.get(dest.path)
        if q is None:
            return []
        sel = self.broker.compile_selector(selector) if selector else None
        out = []
        for e in q.iter_entries():
            if sel is None or sel.matches(e.message):
                out.append(e.message)
                if len(out) >= limit:
                    break
        return out

    def purge(self, dest: DestinationName) -> int:
        q = self._queue(dest)
        ops: list[StoreOp] = []
        removed = q.remove_entries(lambda e: True, ops)
        self.broker.defer_ops(ops)
        return len(removed)

    def delete_queue(self, dest: DestinationName) -> None:
        q = self._queue(dest)
        self.broker._delete_queue(q)

    def move(self, source: DestinationName, selector: str | None = None, message_ids: set[str] | None = None,
             target: DestinationName | None = None) -> int:
        """Move messages from a queue to ``target`` or, for DLQ entries, back to their
        original destination (redrive). Returns how many moved."""
        q = self._queue(source)
        sel = self.broker.compile_selector(selector) if selector else None

        def pick(e: Any) -> bool:
            m = e.message
            if message_ids is not None and m.message_id not in message_ids:
                return False
            return sel is None or sel.matches(m)

        ops: list[StoreOp] = []
        moved = q.remove_entries(pick, ops)
        from ferrymq.core.names import parse_uri

        for e in moved:
            m = e.message
            props = dict(m.properties)
            orig = props.pop("originalDestination", None)
            props.pop("dlqDeliveryFailureCause", None)
            props.pop("originalExpiration", None)
            dest = target or (parse_uri(orig) if isinstance(orig, str) else None)
            if dest is None:
                dest = source
            copy = m.copy(destination=dest, properties=props)
            self.broker.route(copy, ops)
        self.broker.defer_ops(ops)
        return len(moved)
