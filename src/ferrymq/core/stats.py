"""Plain integer counters the core increments and metrics read at scrape time (no library
call on the hot path)."""

from __future__ import annotations


class DestinationStats:
    __slots__ = (
        "enqueue_count", "dequeue_count", "dispatch_count", "expired_count",
        "dlq_count", "producer_count", "enqueue_time_total_ms",
    )

    def __init__(self) -> None:
        self.enqueue_count = 0
        self.dequeue_count = 0
        self.dispatch_count = 0
        self.expired_count = 0
        self.dlq_count = 0
        self.producer_count = 0
        self.enqueue_time_total_ms = 0.0


class BrokerStats:
    __slots__ = ("connections_total", "messages_routed", "messages_dead_lettered")

    def __init__(self) -> None:
        self.connections_total = 0
        self.messages_routed = 0
        self.messages_dead_lettered = 0
