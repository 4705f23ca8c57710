"""The broker core driven directly, with the real SQLite store and the asyncio loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ferrymq.app import LoopClock
from ferrymq.core import (
    ACCEPTED,
    AUTO,
    CLIENT,
    MODIFIED,
    REJECTED,
    RELEASED,
    TEXT,
    Broker,
    ClientIdInUse,
    Delivery,
    DestinationName,
    DestinationPolicy,
    Message,
    NotFound,
    PolicyMap,
    Principal,
    SubscriptionSpec,
)
from ferrymq.store.sqlite import SQLiteStore

Q = DestinationName("queue", "orders")


class Sink:
    def __init__(self) -> None:
        self.got: list[Delivery] = []
        self.closed_with: Exception | None = None

    def deliver(self, d: Delivery) -> None:
        self.got.append(d)

    def closed(self, error: Exception | None) -> None:
        self.closed_with = error

    @property
    def bodies(self) -> list[Any]:
        return [d.message.body for d in self.got]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)


def run(tmp_path: Path, body: Callable[[Broker], Awaitable[None]], policies: PolicyMap | None = None) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        store = SQLiteStore(tmp_path / "store.db", loop=loop)
        b = Broker(store, LoopClock(loop), policies)
        await b.start()
        try:
            await body(b)
        finally:
            await b.stop()

    asyncio.run(main())


def msg(body: str, dest: DestinationName = Q, **kw: Any) -> Message:
    return Message(dest, body, TEXT, **kw)


P = Principal("u")


def test_round_robin_and_prefetch(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        a, c = Sink(), Sink()
        s.subscribe(SubscriptionSpec(Q, prefetch=2), a)
        s.subscribe(SubscriptionSpec(Q, prefetch=2), c)
        for i in range(6):
            s.send(msg(f"m{i}"))
        await settle()
        assert len(a.got) == 2 and len(c.got) == 2
        assert sorted(a.bodies + c.bodies) == ["m0", "m1", "m2", "m3"]
        s.settle(a.got[0].subscription, [a.got[0].tag], ACCEPTED)
        await settle()
        assert len(a.got) == 3
    run(tmp_path, body)


def test_deep_queue_to_auto_ack_consumer_is_delivered_fully(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        for i in range(2500):
            s.send(msg(f"m{i}"))
        sink = Sink()
        s.subscribe(SubscriptionSpec(Q, ack_mode=AUTO), sink)
        for _ in range(20):
            await settle()
        assert sink.bodies == [f"m{i}" for i in range(2500)]
        assert b.queue("orders").count == 0  # type: ignore[union-attr]
    run(tmp_path, body)


def test_priority_then_fifo(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        for i, p in enumerate([4, 9, 4, 0, 9]):
            s.send(msg(f"{p}-{i}", priority=p))
        sink = Sink()
        s.subscribe(SubscriptionSpec(Q), sink)
        await settle()
        assert sink.bodies == ["9-1", "9-4", "4-0", "4-2", "0-3"]
    run(tmp_path, body)


def test_released_keeps_count_modified_raises_it_and_dead_letters_past_limit(tmp_path: Path) -> None:
    pm = PolicyMap(DestinationPolicy(max_redeliveries=2))

    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        s.send(msg("x", persistent=True))
        sink = Sink()
        sub = s.subscribe(SubscriptionSpec(Q), sink)
        await settle()
        s.settle(sub, [sink.got[-1].tag], RELEASED)
        await settle()
        assert sink.got[-1].delivery_count == 0 and sink.got[-1].redelivered
        for expected in (1, 2):
            s.settle(sub, [sink.got[-1].tag], MODIFIED)
            await settle()
            assert sink.got[-1].delivery_count == expected
        s.settle(sub, [sink.got[-1].tag], MODIFIED)  # third failure: past the limit of 2
        await settle()
        assert len(sink.got) == 4
        dlq = b.queue("ActiveMQ.DLQ")
        assert dlq is not None and dlq.count == 1
        m = dlq.iter_entries()[0].message
        assert m.properties["originalDestination"] == "queue://orders"
        assert "redelivery limit" in m.properties["dlqDeliveryFailureCause"]
    run(tmp_path, body, pm)


def test_rejected_non_persistent_is_dropped(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        s.send(msg("np"))
        sink = Sink()
        sub = s.subscribe(SubscriptionSpec(Q), sink)
        await settle()
        s.settle(sub, [sink.got[0].tag], REJECTED)
        await settle()
        assert b.queue("ActiveMQ.DLQ") is None
    run(tmp_path, body)


def test_individual_dlq_strategy(tmp_path: Path) -> None:
    from ferrymq.core import DeadLetterStrategy

    pm = PolicyMap()
    pm.put("queue", "orders.>", DestinationPolicy(dead_letter=DeadLetterStrategy(kind="individual")))

    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        d = DestinationName("queue", "orders.eu")
        s.send(msg("bad", d, persistent=True))
        sink = Sink()
        sub = s.subscribe(SubscriptionSpec(d), sink)
        await settle()
        s.settle(sub, [sink.got[0].tag], REJECTED)
        await settle()
        assert b.queue("DLQ.orders.eu").count == 1  # type: ignore[union-attr]
    run(tmp_path, body, pm)


def test_message_groups_stick_to_one_consumer(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        a, c = Sink(), Sink()
        s.subscribe(SubscriptionSpec(Q), a)
        s.subscribe(SubscriptionSpec(Q), c)
        for i in range(10):
            s.send(msg(f"g{i}", group_id="G1" if i % 2 == 0 else "G2"))
        await settle()
        ga = {d.message.group_id for d in a.got}
        gc = {d.message.group_id for d in c.got}
        assert len(ga) == 1 and len(gc) == 1 and ga != gc
    run(tmp_path, body)


def test_exclusive_consumer_gets_everything(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        a, c = Sink(), Sink()
        s.subscribe(SubscriptionSpec(Q), a)
        s.subscribe(SubscriptionSpec(Q, exclusive=True), c)
        for i in range(5):
            s.send(msg(f"m{i}"))
        await settle()
        assert len(c.got) == 5 and not a.got
    run(tmp_path, body)


def test_transaction_rollback_drops_sends_and_redelivers_acks(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        sink = Sink()
        sub = s.subscribe(SubscriptionSpec(Q), sink)
        s.send(msg("first"))
        await settle()
        tx = s.begin("t1")
        s.send(msg("in-tx"), tx)
        s.settle(sub, [sink.got[0].tag], ACCEPTED, tx)
        await settle()
        assert sink.bodies == ["first"]
        tx.rollback()
        await settle()
        assert sink.bodies == ["first", "first"] and sink.got[1].redelivered
        tx2 = s.begin("t2")
        s.send(msg("committed"), tx2)
        s.settle(sub, [sink.got[1].tag], ACCEPTED, tx2)
        c = tx2.commit()
        await settle()
        assert c.is_done and c.ok
        assert sink.bodies[-1] == "committed"
    run(tmp_path, body)


def test_closed_connection_returns_in_flight_marked_redelivered(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        conn = b.connect(None, P, "test")
        s = conn.open_session()
        sink = Sink()
        s.subscribe(SubscriptionSpec(Q), sink)
        s.send(msg("m"))
        await settle()
        conn.close()
        s2 = b.connect(None, P, "test").open_session()
        sink2 = Sink()
        s2.subscribe(SubscriptionSpec(Q), sink2)
        await settle()
        assert sink2.bodies == ["m"] and sink2.got[0].redelivered and sink2.got[0].delivery_count == 1
    run(tmp_path, body)


def test_client_id_in_use_and_take_over(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        kicked: list[Exception] = []
        first = b.connect("cid", P, "test", on_kicked=kicked.append)
        with pytest.raises(ClientIdInUse):
            b.connect("cid", P, "test")
        second = b.connect("cid", P, "test", take_over=True)
        assert first.closed and kicked and not second.closed
    run(tmp_path, body)


def test_topic_wildcards_no_local_and_selectors(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        conn = b.connect(None, P, "test")
        s = conn.open_session()
        star, gt, nolocal, sel = Sink(), Sink(), Sink(), Sink()
        s.subscribe(SubscriptionSpec(DestinationName("topic", "a.*")), star)
        s.subscribe(SubscriptionSpec(DestinationName("topic", "a.>")), gt)
        s.subscribe(SubscriptionSpec(DestinationName("topic", "a.b"), no_local=True), nolocal)
        s.subscribe(SubscriptionSpec(DestinationName("topic", "a.b"), selector="k = 'v'"), sel)
        s.send(msg("ab", DestinationName("topic", "a.b"), properties={"k": "v"}))
        s.send(msg("abc", DestinationName("topic", "a.b.c")))
        await settle()
        assert star.bodies == ["ab"]
        assert gt.bodies == ["ab", "abc"]
        assert nolocal.bodies == []
        assert sel.bodies == ["ab"]
    run(tmp_path, body)


def test_durable_subscription_survives_restart(tmp_path: Path) -> None:
    t = DestinationName("topic", "prices")

    async def first(b: Broker) -> None:
        conn = b.connect("c1", P, "test")
        s = conn.open_session()
        s.subscribe(SubscriptionSpec(t, durable_name="d1"), Sink())
        conn.close()
        p = b.connect(None, P, "test").open_session()
        c = p.send(msg("offline", t, persistent=True))
        await settle()
        assert c.ok

    async def second(b: Broker) -> None:
        s = b.connect("c1", P, "test").open_session()
        sink = Sink()
        s.subscribe(SubscriptionSpec(t, durable_name="d1"), sink)
        await settle()
        assert sink.bodies == ["offline"]

    run(tmp_path, first)
    run(tmp_path, second)


def test_temp_queue_goes_away_with_its_connection(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        owner = b.connect(None, P, "test")
        name = owner.create_temp("temp-queue")
        other = b.connect(None, P, "test").open_session()
        other.send(msg("ok", name))
        owner.close()
        with pytest.raises(NotFound):
            other.send(msg("late", name))
    run(tmp_path, body)


def test_expiry_sweep_moves_persistent_to_dlq(tmp_path: Path) -> None:
    import time

    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        soon = int(time.time() * 1000) + 50
        s.send(msg("p", persistent=True, expiration=soon))
        s.send(msg("np", expiration=soon))
        await asyncio.sleep(0.1)
        assert b.sweep_expired() == 2
        dlq = b.queue("ActiveMQ.DLQ")
        assert dlq is not None and [e.message.body for e in dlq.iter_entries()] == ["p"]
        assert dlq.iter_entries()[0].message.expiration == 0
    run(tmp_path, body)


def test_admin_redrive_moves_dlq_back(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        sink = Sink()
        sub = s.subscribe(SubscriptionSpec(Q, ack_mode=CLIENT), sink)
        s.send(msg("poison", persistent=True, properties={"kind": "a"}))
        s.send(msg("other", persistent=True, properties={"kind": "b"}))
        await settle()
        s.settle(sub, [d.tag for d in sink.got], REJECTED)
        await settle()
        sub.close()
        moved = b.admin.move(DestinationName("queue", "ActiveMQ.DLQ"), selector="kind = 'a'")
        assert moved == 1
        q = b.queue("orders")
        assert q is not None and [e.message.body for e in q.iter_entries()] == ["poison"]
        assert "originalDestination" not in q.iter_entries()[0].message.properties
    run(tmp_path, body)


def test_redelivery_delay_with_exponential_backoff(tmp_path: Path) -> None:
    import time

    pm = PolicyMap(DestinationPolicy(initial_redelivery_delay_ms=200, use_exponential_backoff=True,
                                     redelivery_backoff_multiplier=2.0, max_redeliveries=5))

    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        s.send(msg("retry"))
        sink = Sink()
        sub = s.subscribe(SubscriptionSpec(Q), sink)
        await settle()
        times = []
        for _ in range(2):
            t0 = time.monotonic()
            n = len(sink.got)
            s.settle(sub, [sink.got[-1].tag], MODIFIED)
            while len(sink.got) == n:
                await asyncio.sleep(0.01)
            times.append(time.monotonic() - t0)
        assert 0.18 <= times[0] < 0.35  # 200 ms
        assert 0.38 <= times[1] < 0.6  # 200 ms x 2
    run(tmp_path, body, pm)


def test_pending_limit_drops_only_for_slow_topic_subscribers(tmp_path: Path) -> None:
    pm = PolicyMap(DestinationPolicy(pending_message_limit=10))
    t = DestinationName("topic", "burst")

    async def body(b: Broker) -> None:
        s = b.connect(None, P, "test").open_session()
        fast, slow = Sink(), Sink()
        s.subscribe(SubscriptionSpec(t, ack_mode=AUTO), fast)
        slow_sub = s.subscribe(SubscriptionSpec(t, prefetch=5), slow)
        for i in range(100):  # one burst, routed before any dispatch pass runs
            s.send(msg(f"m{i}", t))
        for _ in range(5):
            await settle()
        assert len(fast.got) == 100  # a subscriber that keeps up loses nothing
        assert len(slow.got) == 5  # its prefetch; it never acknowledges: a slow consumer
        for i in range(100, 150):
            s.send(msg(f"m{i}", t))
        for _ in range(5):
            await settle()
        assert len(fast.got) == 150
        pending = [e.message.body for e in slow_sub.queue.iter_entries()]
        assert len(pending) == 10 and pending[-1] == "m149"  # bounded, the oldest dropped
    run(tmp_path, body, pm)


def test_back_pressure_is_no_slow_consumer_within_the_prefetch_window(tmp_path: Path) -> None:
    pm = PolicyMap(DestinationPolicy(pending_message_limit=10))
    t = DestinationName("topic", "pressed")

    async def body(b: Broker) -> None:
        conn = b.connect(None, P, "test")
        s = conn.open_session()
        sink = Sink()
        sub = s.subscribe(SubscriptionSpec(t, ack_mode=AUTO, prefetch=50), sink)
        conn.pause_deliveries()  # its socket is full: nothing is dispatched for now
        for i in range(55):
            s.send(msg(f"m{i}", t))
        assert len(sub.queue.iter_entries()) == 55  # within limit + prefetch: all kept
        for i in range(55, 80):
            s.send(msg(f"m{i}", t))
        pending = [e.message.body for e in sub.queue.iter_entries()]
        assert len(pending) == 60 and pending[0] == "m20"  # past it: the oldest dropped
        conn.resume_deliveries()
        await settle()
        assert sink.bodies == [f"m{i}" for i in range(20, 80)]
    run(tmp_path, body, pm)


def test_paused_connection_holds_deliveries_for_new_subscriptions_too(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        conn = b.connect(None, P, "test")
        s = conn.open_session()
        first, later = Sink(), Sink()
        s.subscribe(SubscriptionSpec(Q), first)
        conn.pause_deliveries()
        s.subscribe(SubscriptionSpec(DestinationName("queue", "other")), later)
        s.send(msg("a"))
        s.send(msg("b", DestinationName("queue", "other")))
        await settle()
        assert not first.got and not later.got
        conn.resume_deliveries()
        await settle()
        assert first.bodies == ["a"] and later.bodies == ["b"]
    run(tmp_path, body)
