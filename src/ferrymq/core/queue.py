"""A queue: priority-ordered ready entries, competing consumers, round-robin dispatch.

The same class backs named queues, temporary queues and topic subscriptions (durable ones
are store-backed under ``d:<client id>:<name>``, non-durable ones live in memory).
``wakeup()`` schedules at most one dispatch pass per loop tick (R6).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from ferrymq.core.delivery import Entry
from ferrymq.core.names import DestinationName
from ferrymq.core.policy import DestinationPolicy
from ferrymq.core.ports import AddRef, RemoveRef, SetDeliveryCount, StoreOp
from ferrymq.core.stats import DestinationStats

if TYPE_CHECKING:
    from ferrymq.core.broker import Broker
    from ferrymq.core.subscription import Subscription

#: a pre-settled (auto-ack) subscription gets at most this many deliveries per pass, so a
#: deep queue is written out tick by tick and transport back-pressure can pause it
PRESETTLED_BATCH = 500


class Queue:
    def __init__(
        self,
        broker: Broker,
        name: DestinationName,
        store_key: str | None,
        policy: DestinationPolicy,
        *,
        owner: Any = None,
        subscription_of: Any = None,
    ) -> None:
        self.broker = broker
        self.name = name
        self.store_key = store_key
        self.policy = policy
        self.stats = DestinationStats()
        self.owner = owner  # the connection owning a temporary queue
        self.subscription_of = subscription_of  # DurableRecord / topic subscription
        self.buckets: list[deque[Entry]] = [deque() for _ in range(10)]
        self.count = 0
        self.bytes = 0  # bytes of ready entries
        self.memory = 0  # bytes of every message held, ready or in flight, until it is consumed
        self.consumers: list[Subscription] = []
        self.groups: dict[str, Subscription] = {}
        self.deleted = False
        self._seq = 0
        self._rr = 0
        self._scheduled = False
        self._timer: Any = None
        self._timer_at = 0.0

    # -- sizes -----------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return sum(len(c.in_flight) for c in self.consumers)

    def __len__(self) -> int:
        return self.count

    # -- enqueue -----------------------------------------------------------------------
    def enqueue(self, entry: Entry) -> None:
        msg = entry.message
        size = msg.size
        self.memory += size
        self.broker.memory_used += size
        self.stats.enqueue_count += 1
        consumers = self.consumers
        if (
            not self.count
            and len(consumers) == 1
            and not msg.expiration
            and msg.group_id is None
            and not (msg.persistent and self.store_key is not None)
        ):
            # Direct dispatch: nothing waits ahead of this entry and its only possible
            # consumer has room, so it is delivered now instead of on the next dispatch pass.
            # Never for a stored message: the routing's store ops are submitted after this
            # returns, and a settlement made during the delivery (pre-settled consumers, or a
            # sink that settles at once) must not reach the store before them.
            c = consumers[0]
            if c.credit > 0 and not c.paused and not c.closed:
                sel = c.selector
                if sel is None or sel.matches(msg):
                    if c.presettled:
                        # a pre-settled consumer's credit only bounds one dispatch pass; a
                        # direct delivery does not use it (back-pressure pauses the consumer)
                        c.credit += 1
                    c.deliver_entry(entry)
                    return
        p = msg.priority
        if p < 0:
            p = 0
        elif p > 9:
            p = 9
        self.buckets[p].append(entry)
        self.count += 1
        self.bytes += size
        if consumers and not self._scheduled:
            self._scheduled = True
            self.broker.clock.call_soon(self._dispatch)

    def new_entry(self, message: Any, delivery_count: int = 0) -> Entry:
        self._seq += 1
        return Entry(message, self._seq, delivery_count)

    def requeue_front(self, entries: list[Entry]) -> None:
        """Put entries back ahead of newer ones, oldest first (original order)."""
        by_prio: dict[int, list[Entry]] = {}
        for e in entries:
            by_prio.setdefault(max(0, min(9, e.message.priority)), []).append(e)
            self.count += 1
            self.bytes += e.message.size
        for p, es in by_prio.items():
            es.sort(key=lambda e: e.seq)
            b = self.buckets[p]
            if b and b[0].seq < es[-1].seq:
                merged = sorted(list(b) + es, key=lambda e: e.seq)
                b.clear()
                b.extend(merged)
            else:
                b.extendleft(reversed(es))
        self.wakeup()

    def wakeup(self) -> None:
        if not self._scheduled and self.consumers and self.count:
            self._scheduled = True
            self.broker.clock.call_soon(self._dispatch)

    # -- consumers -----------------------------------------------------------------------
    def add_consumer(self, sub: Subscription) -> None:
        self.consumers.append(sub)
        self.consumers.sort(key=lambda s: -s.spec.priority)
        self.wakeup()

    def remove_consumer(self, sub: Subscription) -> None:
        try:
            self.consumers.remove(sub)
        except ValueError:
            return
        if self.groups:
            for g in [g for g, s in self.groups.items() if s is sub]:
                del self.groups[g]
        self.wakeup()

    # -- dispatch ------------------------------------------------------------------------
    def _dispatch(self) -> None:
        self._scheduled = False
        if not self.count or not self.consumers or self.deleted:
            return
        for consumer in self.consumers:
            if consumer.presettled:
                consumer.credit = PRESETTLED_BATCH
        cons = [c for c in self.consumers if c.ready()]
        if not cons:
            return
        exclusive = [c for c in self.consumers if c.spec.exclusive]
        if exclusive:
            # the first exclusive consumer (highest priority) receives everything
            if not exclusive[0].ready():
                return
            cons = [exclusive[0]]
        else:
            top = cons[0].spec.priority
            if cons[-1].spec.priority != top:
                cons = [c for c in cons if c.spec.priority == top]
        broker = self.broker
        now_ms = int(broker.clock.time() * 1000)
        mono = broker.clock.monotonic()
        earliest_retry = 0.0
        more = False
        for p in range(9, -1, -1):
            bucket = self.buckets[p]
            if not bucket:
                continue
            skipped: list[Entry] = []
            while bucket and cons:
                e = bucket.popleft()
                msg = e.message
                if msg.expiration and msg.expiration <= now_ms:
                    self.count -= 1
                    self.bytes -= msg.size
                    broker.expire_entry(self, e)
                    continue
                if e.not_before and e.not_before > mono:
                    skipped.append(e)
                    if not earliest_retry or e.not_before < earliest_retry:
                        earliest_retry = e.not_before
                    continue
                c = self._choose(e, cons)
                if c is None:
                    skipped.append(e)
                    continue
                self.count -= 1
                self.bytes -= msg.size
                c.deliver_entry(e)
                if not c.ready():
                    cons.remove(c)
                    if c.presettled and not c.paused and not c.closed:
                        more = True
            if skipped:
                bucket.extendleft(reversed(skipped))
            if not cons:
                break
        if more and self.count and not self._scheduled:
            self._scheduled = True
            broker.clock.call_soon(self._dispatch)
        if earliest_retry:
            self._schedule_timer(earliest_retry - mono)

    def _choose(self, e: Entry, cons: list[Subscription]) -> Subscription | None:
        msg = e.message
        gid = msg.group_id
        if gid is not None:
            owner = self.groups.get(gid)
            if owner is not None:
                if owner in cons and owner.accepts(msg):
                    if msg.group_seq == -1:  # JMSXGroupSeq -1 closes the group
                        del self.groups[gid]
                    return owner
                return None
        n = len(cons)
        if n == 1:
            c = cons[0]
            if c.accepts(msg):
                if gid is not None:
                    self.groups[gid] = c
                return c
            return None
        for _ in range(n):
            self._rr += 1
            if self._rr >= n:
                self._rr = 0
            c = cons[self._rr]
            if c.accepts(msg):
                if gid is not None:
                    self.groups[gid] = c
                return c
        return None

    def _schedule_timer(self, delay: float) -> None:
        mono = self.broker.clock.monotonic()
        at = mono + max(delay, 0.0)
        if self._timer is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at

        def fire() -> None:
            self._timer = None
            self.wakeup()

        self._timer = self.broker.clock.call_later(max(delay, 0.0), fire)

    # -- settlement (called by Subscription) ---------------------------------------------
    def release(self, size: int) -> None:
        """A message left this queue for good: its memory is free (producer flow control)."""
        self.memory -= size
        b = self.broker
        b.memory_used -= size
        if b.held_sends:
            b.memory_freed()

    def consumed(self, entries: list[Entry], ops: list[StoreOp]) -> None:
        sk = self.store_key
        for e in entries:
            self.stats.dequeue_count += 1
            self.release(e.message.size)
            if sk is not None and e.message.persistent:
                ops.append(RemoveRef(sk, e.message.message_id, True))

    def redeliver(self, entries: list[Entry], failed: bool, ops: list[StoreOp], dlq_past_limit: bool) -> None:
        """Back to the queue; ``failed`` raises the delivery count (MODIFIED)."""
        back: list[Entry] = []
        pol = self.policy
        for e in entries:
            e.redelivered = True
            if failed:
                e.delivery_count += 1
                if dlq_past_limit and pol.max_redeliveries >= 0 and e.delivery_count > pol.max_redeliveries:
                    self.broker.dead_letter(self, e, "Delivery count exceeded the redelivery limit "
                                            f"of {pol.max_redeliveries}", ops)
                    continue
                if self.store_key is not None and e.message.persistent:
                    ops.append(SetDeliveryCount(self.store_key, e.message.message_id, e.delivery_count))
                if dlq_past_limit and pol.initial_redelivery_delay_ms > 0:
                    delay = pol.initial_redelivery_delay_ms / 1000.0
                    if pol.use_exponential_backoff:
                        delay *= pol.redelivery_backoff_multiplier ** max(0, e.delivery_count - 1)
                    e.not_before = self.broker.clock.monotonic() + delay
            back.append(e)
        if back:
            self.requeue_front(back)

    def rejected(self, entries: list[Entry], reason: str, ops: list[StoreOp]) -> None:
        for e in entries:
            self.broker.dead_letter(self, e, reason, ops)

    # -- admin -----------------------------------------------------------------------------
    def iter_entries(self) -> list[Entry]:
        out: list[Entry] = []
        for p in range(9, -1, -1):
            out.extend(self.buckets[p])
        return out

    def remove_entries(self, pred: Any, ops: list[StoreOp]) -> list[Entry]:
        removed: list[Entry] = []
        for b in self.buckets:
            keep = [e for e in b if not pred(e)]
            if len(keep) != len(b):
                for e in b:
                    if pred(e):
                        removed.append(e)
                b.clear()
                b.extend(keep)
        for e in removed:
            self.count -= 1
            self.bytes -= e.message.size
            self.release(e.message.size)
            if self.store_key is not None and e.message.persistent:
                ops.append(RemoveRef(self.store_key, e.message.message_id))
        return removed

    def add_ref_op(self, entry: Entry) -> AddRef | None:
        if self.store_key is None or not entry.message.persistent:
            return None
        return AddRef(self.store_key, entry.message.message_id, entry.delivery_count)
