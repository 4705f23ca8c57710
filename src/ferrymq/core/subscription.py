"""Subscriptions: a consumer attached to a queue, or to a topic through its own
subscription queue (durable ones are store backed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ferrymq.core.delivery import ACCEPTED, MODIFIED, REJECTED, RELEASED, Delivery, Entry, Outcome
from ferrymq.core.message import Message
from ferrymq.core.names import DestinationName
from ferrymq.core.ports import StoreOp

if TYPE_CHECKING:
    from ferrymq.core.queue import Queue
    from ferrymq.core.session import ClientSession

AUTO = "auto"  # pre-settled: consumed when dispatched
CLIENT = "client"  # explicit settlement

PREFETCH = "prefetch"  # settling a delivery gives its credit back (JMS/STOMP/MQTT)
CREDIT = "credit"  # only add_credit() gives credit (AMQP link credit)


@dataclass
class SubscriptionSpec:
    destination: DestinationName
    selector: str | None = None
    ack_mode: str = CLIENT
    prefetch: int | None = None  # None: the destination policy's default
    durable_name: str | None = None
    no_local: bool = False
    exclusive: bool = False
    priority: int = 0
    credit_mode: str = PREFETCH
    #: for topics: also receive messages routed before (MQTT retained, retroactive)
    retroactive: bool = False


class DeliverySink(Protocol):
    def deliver(self, delivery: Delivery) -> None: ...

    def closed(self, error: Exception | None) -> None: ...


_new_delivery = object.__new__


class TopicBinding:
    """A topic subscription's entry in the broker's subscription trie."""

    __slots__ = ("pattern", "queue", "selector", "no_local_key", "durable", "owner_key")

    def __init__(
        self, pattern: str, queue: Queue, selector: Any, no_local_key: object, durable: bool
    ) -> None:
        self.pattern = pattern
        self.queue = queue
        self.selector = selector
        self.no_local_key = no_local_key
        self.durable = durable


class Subscription:
    __slots__ = (
        "id", "session", "spec", "sink", "queue", "selector", "in_flight", "credit", "prefetch",
        "paused", "closed", "presettled", "_tag", "binding", "topic", "user_data", "__weakref__",
    )

    def __init__(
        self,
        sub_id: int,
        session: ClientSession,
        spec: SubscriptionSpec,
        sink: DeliverySink,
        queue: Queue,
        selector: Any,
        prefetch: int,
        binding: TopicBinding | None,
    ) -> None:
        self.id = sub_id
        self.session = session
        self.spec = spec
        self.sink = sink
        self.queue = queue
        # on topics the selector is applied when routing, so the queue consumer needs none
        self.selector = None if binding is not None else selector
        self.in_flight: dict[int, Entry] = {}
        self.presettled = spec.ack_mode == AUTO
        self.prefetch = prefetch
        self.credit = prefetch if spec.credit_mode == PREFETCH else 0
        self.paused = False
        self.closed = False
        self._tag = 0
        self.binding = binding
        self.topic = binding is not None
        self.user_data: Any = None

    # -- dispatch side (called by Queue) ---------------------------------------------
    def ready(self) -> bool:
        return self.credit > 0 and not self.paused and not self.closed

    def accepts(self, msg: Message) -> bool:
        sel = self.selector
        return sel is None or sel.matches(msg)

    def deliver_entry(self, e: Entry) -> None:
        self._tag += 1
        tag = self._tag
        self.credit -= 1
        q = self.queue
        stats = q.stats
        stats.dispatch_count += 1
        msg = e.message
        # Delivery(tag, e, self) without the __init__ call (the hot path)
        d: Delivery = _new_delivery(Delivery)
        d.tag = tag
        d.entry = e
        d.message = msg
        d.subscription = self
        d.delivery_count = e.delivery_count
        d.redelivered = e.redelivered
        d.ctx = None
        if self.presettled:
            if q.store_key is not None and msg.persistent:
                ops: list[StoreOp] = []
                q.consumed([e], ops)
                q.broker.defer_ops(ops)
            else:
                stats.dequeue_count += 1
                q.release(msg.size)
        else:
            self.in_flight[tag] = e
        self.sink.deliver(d)

    # -- client side -------------------------------------------------------------------
    def add_credit(self, n: int) -> None:
        self.credit += n
        if self.credit > 0:
            self.queue.wakeup()

    def set_credit(self, n: int) -> None:
        self.credit = n
        if n > 0:
            self.queue.wakeup()

    def set_prefetch(self, n: int) -> None:
        self.credit += n - self.prefetch
        self.prefetch = n
        self.queue.wakeup()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self.queue.wakeup()

    def tags_up_to(self, tag: int) -> list[int]:
        """Cumulative acknowledgement: every in-flight tag up to and including ``tag``."""
        return [t for t in self.in_flight if t <= tag]

    def settle_tags(self, tags: list[int], outcome: Outcome, ops: list[StoreOp],
                    undeliverable_here: bool = False) -> int:
        entries: list[Entry] = []
        pop = self.in_flight.pop
        for t in tags:
            e = pop(t, None)
            if e is not None:
                entries.append(e)
        if not entries:
            return 0
        self.apply_outcome(entries, outcome, ops)
        if self.spec.credit_mode == PREFETCH:
            self.credit += len(entries)
            self.queue.wakeup()
        return len(entries)

    def apply_outcome(self, entries: list[Entry], outcome: Outcome, ops: list[StoreOp]) -> None:
        q = self.queue
        if outcome is ACCEPTED:
            q.consumed(entries, ops)
        elif outcome is RELEASED:
            q.redeliver(entries, False, ops, False)
        elif outcome is MODIFIED:
            q.redeliver(entries, True, ops, True)
        elif outcome is REJECTED:
            q.rejected(entries, "Message rejected by the consumer (poison acknowledgement)", ops)

    def close(self, release_in_flight: bool = True) -> None:
        """Detach; unsettled deliveries go back to the queue marked redelivered."""
        if self.closed:
            return
        self.closed = True
        self.session.broker._subscription_closed(self, release_in_flight)
