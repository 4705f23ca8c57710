"""The OpenWire adapter's shortcuts give what the one-command-at-a-time path gives: a run of
acknowledgements read together settles exactly what the same acknowledgements read one by
one settle, and dispatches answer what the generic encoder gives."""

from __future__ import annotations

import asyncio
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrymq.app import LoopClock
from ferrymq.core import Broker
from ferrymq.protocols.openwire import adapter as adapter_module
from ferrymq.protocols.openwire import codec, props, spec
from ferrymq.protocols.openwire.adapter import OpenWireAdapter
from ferrymq.store.sqlite import SQLiteStore
from support import adapter_context

N = 12


class Client:
    """An adapter and the client-side codec talking to it (tight encoding, cache on)."""

    def __init__(self, broker: Broker, name: str) -> None:
        ctx = adapter_context(broker)
        self.adapter = OpenWireAdapter(ctx)
        self.parser = codec.OpenWireParser(preferred=codec.make_wire_format_info(version=12))
        self.conn = spec.ConnectionId(value=f"ID:test-{name}")
        self.session = spec.SessionId(connection_id=self.conn.value, value=1)
        self.next_id = 1
        self.got: list[Any] = []
        self.adapter.receive_data(self.parser.encode(self.parser.preferred))
        self.pump()
        self.adapter.receive_data(
            self.encode(spec.ConnectionInfo(connection_id=self.conn, response_required=True))
            + self.encode(spec.SessionInfo(session_id=self.session, response_required=True))
        )
        self.pump()
        self.got.clear()

    def encode(self, cmd: Any) -> bytes:
        cmd.command_id = self.next_id
        self.next_id += 1
        return self.parser.encode(cmd)

    def pump(self) -> None:
        for data in self.adapter.data_to_send():
            self.got += self.parser.feed(data)


# one ack: (kind, message index, response wanted, first id form)
ACKS = st.tuples(
    st.sampled_from(["standard", "individual", "cumulative", "delivered", "redelivered", "other"]),
    st.integers(0, N - 1),
    st.booleans(),
    st.sampled_from(["same", "copy", "none"]),
)


def ack_frames(c: Client, dest: Any, cid: Any, mids: list[Any], script: list[Any]) -> list[bytes]:
    frames = []
    for kind, i, rr, first_form in script:
        last = mids[i]
        first = {"same": last, "copy": spec.MessageId(**dict(last.items())), "none": None}[first_form]
        consumer = cid
        ack_type, count = spec.STANDARD_ACK_TYPE, 1
        if kind == "individual":
            ack_type = spec.INDIVIDUAL_ACK_TYPE
        elif kind == "cumulative":
            first, count = mids[0], i + 1
        elif kind == "delivered":
            ack_type, count = spec.DELIVERED_ACK_TYPE, i + 1
        elif kind == "redelivered":
            ack_type = spec.REDELIVERED_ACK_TYPE
        elif kind == "other":  # an ack for a consumer this connection does not have
            consumer = spec.ConsumerId(connection_id=cid.connection_id, session_id=1, value=99)
        frames.append(
            c.encode(
                spec.MessageAck(
                    destination=dest,
                    consumer_id=consumer,
                    ack_type=ack_type,
                    first_message_id=first,
                    last_message_id=last,
                    message_count=count,
                    response_required=rr,
                )
            )
        )
    return frames


def queue_pair(broker: Broker, prefetch: int) -> tuple[Client, Client, Any, Any, Any]:
    """A producer and a consumer (``prefetch``) connected to queue ``q``: the clients, the
    destination, the consumer id and the producer id."""
    prod, cons = Client(broker, "p"), Client(broker, "c")
    dest = spec.ActiveMQQueue(physical_name="q")
    cid = spec.ConsumerId(connection_id=cons.conn.value, session_id=1, value=1)
    cons.adapter.receive_data(
        cons.encode(spec.ConsumerInfo(consumer_id=cid, destination=dest, prefetch_size=prefetch))
    )
    pid = spec.ProducerId(connection_id=prod.conn.value, session_id=1, value=1)
    return prod, cons, dest, cid, pid


def run_script(script: list[Any], together: bool) -> Any:
    """Produce N messages to a queue, dispatch them to one consumer, acknowledge per
    ``script`` (in one read, or one read per ack through ``on_message_ack`` alone); the state
    left behind."""

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        broker = Broker(SQLiteStore(tempfile.mkdtemp() + "/s.db", loop=loop), LoopClock(loop))
        await broker.start()
        try:
            prod, cons, dest, cid, pid = queue_pair(broker, N)
            prod.adapter.receive_data(prod.encode(spec.ProducerInfo(producer_id=pid, destination=dest)))
            for seq in range(1, N + 1):
                m = spec.ActiveMQBytesMessage(
                    producer_id=pid,
                    destination=dest,
                    message_id=spec.MessageId(producer_id=pid, producer_sequence_id=seq),
                    content=props.encode_bytes_body(b"x" * seq),
                )
                prod.adapter.receive_data(prod.encode(m))
            for _ in range(3):
                await asyncio.sleep(0)
            cons.pump()
            mids = [c.message.message_id for c in cons.got if type(c) is spec.MessageDispatch]
            assert len(mids) == N
            cons.got.clear()
            frames = ack_frames(cons, dest, cid, mids, script)
            if together:
                cons.adapter.receive_data(b"".join(frames))
            else:
                with pytest.MonkeyPatch.context() as mp:
                    mp.setattr(adapter_module, "_simple_ack", lambda cmd: False)
                    for f in frames:
                        cons.adapter.receive_data(f)
            cons.pump()
            oc = cons.adapter.consumers[cid]
            (sub,) = oc.subs
            q = broker.queues["q"]
            return (
                [(k, tag) for k, (s, tag) in oc.pending.items() if s is sub],
                len(oc.pending),
                oc.extension,
                sorted((t, e.delivery_count) for t, e in sub.in_flight.items()),
                sub.credit,
                q.stats.dequeue_count,
                q.memory,
                [(type(c).__name__, c.correlation_id) for c in cons.got],
            )
        finally:
            await broker.stop()

    return asyncio.run(main())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(ACKS, min_size=1, max_size=10))
def test_acks_read_together_settle_as_one_by_one(script: list[Any]) -> None:
    assert run_script(script, together=True) == run_script(script, together=False)


def test_a_run_of_auto_acks_settles_everything() -> None:
    script = [("standard", i, False, "same") for i in range(N)]
    pending, n, ext, in_flight, credit, dequeued, memory, out = run_script(script, together=True)
    assert pending == [] and n == 0 and in_flight == [] and dequeued == N and memory == 0 and out == []
    assert credit == N


def test_a_run_after_a_delivered_ack_refreshes_credit() -> None:
    script = [("delivered", 5, False, "none")] + [("standard", i, False, "same") for i in range(3)]
    assert run_script(script, together=True) == run_script(script, together=False)


def test_a_message_without_an_id_is_dispatched() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        broker = Broker(SQLiteStore(tempfile.mkdtemp() + "/s.db", loop=loop), LoopClock(loop))
        await broker.start()
        try:
            prod, cons, dest, cid, pid = queue_pair(broker, 5)
            for _ in range(2):
                m = spec.ActiveMQBytesMessage(producer_id=pid, destination=dest, content=b"\0\0\0\1x")
                prod.adapter.receive_data(prod.encode(m))
            cons.pump()
            got = [c for c in cons.got if type(c) is spec.MessageDispatch]
            assert len(got) == 2 and all(c.message.message_id is None for c in got)
            assert len(cons.adapter.consumers[cid].pending) == 1  # both under the null id
        finally:
            await broker.stop()

    asyncio.run(main())
