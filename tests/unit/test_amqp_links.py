"""AMQP 1.0 outgoing links against a real broker, adapters driven in memory: link credit is
never exceeded, a non-durable topic subscription takes up to its topic prefetch of extra
deliveries from the core (held until the receiver gives credit) so that a receiver between
two flows is not treated as a slow consumer, and queues and drains take no extra."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ferrymq.app import LoopClock
from ferrymq.core import Broker, DestinationPolicy, PolicyMap
from ferrymq.protocols.amqp.adapter import AmqpAdapter
from ferrymq.protocols.amqp.framing import AMQP_HEADER, FrameParser, encode_frame
from ferrymq.protocols.amqp.message import BODY_DATA, AmqpMessage, decode_message
from ferrymq.protocols.amqp.performatives import (
    RECEIVER,
    SENDER,
    SND_SETTLED,
    Attach,
    Begin,
    Flow,
    Open,
    Source,
    Target,
    Transfer,
)
from ferrymq.protocols.amqp.types import UInt
from ferrymq.store.sqlite import SQLiteStore
from support import adapter_context


class Client:
    """One in-memory AMQP connection: frames in, performatives out."""

    def __init__(self, broker: Broker, name: str) -> None:
        ctx = adapter_context(broker)
        self.ad = AmqpAdapter(ctx)
        self.parser = FrameParser(1 << 30)
        self.parser.expect_header()
        self.frames: list[Any] = []
        self.payloads: list[bytes] = []
        self.ad.receive_data(
            AMQP_HEADER
            + encode_frame(0, Open(container_id=name))
            + encode_frame(
                0,
                Begin(next_outgoing_id=UInt(0), incoming_window=UInt(1 << 20), outgoing_window=UInt(1 << 20)),
            )
        )

    def send(self, *perfs: Any, payload: bytes = b"") -> None:
        self.ad.receive_data(b"".join(encode_frame(0, p, payload) for p in perfs))

    def pump(self) -> None:
        for e in self.parser.feed(b"".join(self.ad.data_to_send())):
            self.frames.append(e.performative)
            if isinstance(e.performative, Transfer):
                self.payloads.append(bytes(e.payload))

    def bodies(self) -> list[int]:
        return [int(decode_message(p).body[0]) for p in self.payloads]

    def transfers(self) -> list[Transfer]:
        return [f for f in self.frames if isinstance(f, Transfer)]

    def receiver(self, address: str, credit: int) -> None:
        self.send(
            Attach(
                name="r", handle=UInt(0), role=RECEIVER, snd_settle_mode=SND_SETTLED,
                source=Source(address=address), target=Target(),
            ),
            self.flow(0, credit),
        )  # fmt: skip

    def flow(self, delivery_count: int, credit: int, drain: bool = False) -> Flow:
        return Flow(
            next_incoming_id=UInt(len(self.transfers())),
            incoming_window=UInt(1 << 20),
            next_outgoing_id=UInt(0),
            outgoing_window=UInt(1 << 20),
            handle=UInt(0),
            delivery_count=UInt(delivery_count),
            link_credit=UInt(credit),
            drain=drain or None,
        )

    def publish(self, address: str, count: int, start: int = 0) -> None:
        self.send(
            Attach(
                name="s",
                handle=UInt(1),
                role=SENDER,
                snd_settle_mode=SND_SETTLED,
                target=Target(address=address),
                source=Source(),
            )
        )
        for i in range(start, start + count):
            body = AmqpMessage(body_kind=BODY_DATA, body=[b"%d" % i]).encode()
            self.send(
                Transfer(handle=UInt(1), delivery_id=UInt(i), delivery_tag=b"%d" % i, settled=True),
                payload=body,
            )


async def settle() -> None:
    for _ in range(6):
        await asyncio.sleep(0)


def run(tmp_path: Path, body: Callable[[Broker], Awaitable[None]], policies: PolicyMap | None = None) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        b = Broker(SQLiteStore(tmp_path / "s.db", loop=loop), LoopClock(loop), policies)
        await b.start()
        try:
            await body(b)
        finally:
            await b.stop()

    asyncio.run(main())


def test_topic_link_holds_up_to_its_credit_beyond_it_and_loses_nothing(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        sub, pub = Client(b, "sub"), Client(b, "pub")
        sub.receiver("topic://t", 100)
        await settle()
        # 3000 messages while the receiver gives no more credit: 100 sent, the rest held by
        # the link (the topic prefetch, 32767): nothing pending in the core, nothing lost
        pub.publish("topic://t", 3000)
        await settle()
        sub.pump()
        assert len(sub.transfers()) == 100  # never beyond the link credit
        sub.send(sub.flow(100, 5000))
        for _ in range(5):
            await settle()
            sub.pump()
        assert len(sub.transfers()) == 3000
        assert sub.bodies() == list(range(3000))

    run(tmp_path, body)


def test_a_receiver_behind_by_more_than_the_topic_prefetch_is_a_slow_consumer(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        sub, pub = Client(b, "sub"), Client(b, "pub")
        sub.receiver("topic://t", 10)
        await settle()
        # 10 sent, 50 held (the policy's topic prefetch), the oldest of the other 1940 beyond
        # the 1000-message pending limit discarded
        pub.publish("topic://t", 2000)
        await settle()
        sub.send(sub.flow(10, 5000))
        for _ in range(5):
            await settle()
            sub.pump()
        got = sub.bodies()
        assert got[:60] == list(range(60))
        assert got[60:] == list(range(1000, 2000))

    run(tmp_path, body, PolicyMap(DestinationPolicy(topic_prefetch=50)))


def test_queue_link_takes_only_its_credit(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        a, c, pub = Client(b, "a"), Client(b, "c"), Client(b, "pub")
        a.receiver("queue://q", 10)
        await settle()
        pub.publish("queue://q", 50)
        await settle()
        a.pump()
        assert len(a.transfers()) == 10
        # the other 40 are still in the queue for another consumer
        c.receiver("queue://q", 100)
        for _ in range(3):
            await settle()
            c.pump()
        assert len(c.transfers()) == 40

    run(tmp_path, body)


def test_drain_sends_held_deliveries_and_takes_no_extra(tmp_path: Path) -> None:
    async def body(b: Broker) -> None:
        sub, pub = Client(b, "sub"), Client(b, "pub")
        sub.receiver("topic://t", 5)
        await settle()
        pub.publish("topic://t", 20)  # 5 sent, 5 held, 10 pending
        await settle()
        sub.pump()
        assert len(sub.transfers()) == 5
        sub.send(sub.flow(5, 3, drain=True))
        for _ in range(3):
            await settle()
            sub.pump()
        assert len(sub.transfers()) == 8
        flows = [f for f in sub.frames if isinstance(f, Flow) and f.handle is not None and f.drain]
        assert flows and flows[-1].link_credit == 0 and flows[-1].delivery_count == 8
        # credit again: the held and pending ones follow, in order
        sub.send(sub.flow(8, 100))
        for _ in range(3):
            await settle()
            sub.pump()
        assert sub.bodies() == list(range(20))

    run(tmp_path, body)
