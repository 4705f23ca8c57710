"""Settlement outcomes (AMQP 1.0's, R4), queue entries and deliveries."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from ferrymq.core.message import Message

if TYPE_CHECKING:
    from ferrymq.core.subscription import Subscription


class Outcome(Enum):
    ACCEPTED = "accepted"  # consumed: remove
    RELEASED = "released"  # give back unchanged: requeue, count unchanged
    MODIFIED = "modified"  # delivery failed: requeue with count + 1 (DLQ past the limit)
    REJECTED = "rejected"  # poison: dead-letter (or drop) per policy


ACCEPTED = Outcome.ACCEPTED
RELEASED = Outcome.RELEASED
MODIFIED = Outcome.MODIFIED
REJECTED = Outcome.REJECTED


class Entry:
    """One message held by one queue (or subscription queue)."""

    __slots__ = ("message", "delivery_count", "redelivered", "seq", "not_before")

    def __init__(self, message: Message, seq: int, delivery_count: int = 0) -> None:
        self.message = message
        self.seq = seq
        self.delivery_count = delivery_count
        self.redelivered = delivery_count > 0
        self.not_before = 0.0  # monotonic time before which it must not be redispatched


class Delivery:
    """What a DeliverySink receives: the shared message plus this delivery's state."""

    __slots__ = ("tag", "message", "subscription", "delivery_count", "redelivered", "entry", "ctx")

    def __init__(self, tag: int, entry: Entry, subscription: Subscription) -> None:
        self.tag = tag
        self.entry = entry
        self.message = entry.message
        self.subscription = subscription
        self.delivery_count = entry.delivery_count
        self.redelivered = entry.redelivered
        self.ctx: Any = None  # adapter's per-delivery data (e.g. a STOMP ack id)
