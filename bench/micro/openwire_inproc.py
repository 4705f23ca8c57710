"""In-process OpenWire micro benchmark: OpenWireAdapter instances on a real Broker (SQLite
store in a temp dir, asyncio LoopClock), no sockets.

Client frames are encoded with ferrymq's codec the way the ActiveMQ JMS client sends them
(tight encoding with the marshal cache, version 12): ActiveMQBytesMessage (or TextMessage)
with a 256-byte body from one producer, async sends (non-persistent) or synchronous ones
(persistent: response required). Each consumer (its own connection) has prefetch 1000 and
acknowledges cumulatively (standard ack) every 50 messages, as the JMS client does in
auto-ack mode with optimized acknowledge (``--ack-every 1``: one standard ack per message,
as the JMS client does in plain auto-ack mode; the acks of one tick reach the broker in one
read). ``--topic --consumers 4`` is the fan-out shape.

    python bench/micro/openwire_inproc.py [p|n] [--text] [--count N] [--ack-every N]
        [--topic] [--consumers N] [--profile]

Prints deliveries/s and µs per delivery: wall and process CPU time (all threads).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import struct
import tempfile
import time
from typing import Any

from ferrymq.app import LoopClock
from ferrymq.core import Broker, Completion, Principal
from ferrymq.protocols.base import AdapterContext, PeerInfo, ProtocolLimits
from ferrymq.protocols.openwire import codec, props, spec
from ferrymq.protocols.openwire.adapter import OpenWireAdapter
from ferrymq.store.sqlite import SQLiteStore

BODY = b"x" * 256
BATCH = 50
PREFETCH = 1000
_I32 = struct.Struct(">i")


class Auth:
    allow_anonymous = True

    def authenticate(self, creds: Any) -> Completion:
        return Completion.done(Principal("u"))


class Client:
    """A JMS-shaped client: its own codec, negotiated against the adapter's WireFormatInfo."""

    def __init__(self, broker: Broker, name: str) -> None:
        ctx = AdapterContext(
            broker=broker, authenticator=Auth(), limits=ProtocolLimits(), peer=PeerInfo("x", 1)
        )
        self.adapter = OpenWireAdapter(ctx)
        self.parser = codec.OpenWireParser(preferred=codec.make_wire_format_info(version=12))
        self.conn = spec.ConnectionId(value=f"ID:bench-{name}")
        self.session = spec.SessionId(connection_id=self.conn.value, value=1)
        self.next_id = 1
        self.got: list[Any] = []

    def encode(self, cmd: Any) -> bytes:
        cmd.command_id = self.next_id
        self.next_id += 1
        return self.parser.encode(cmd)

    def pump(self) -> None:
        for data in self.adapter.data_to_send():
            self.got += self.parser.feed(data)

    def handshake(self) -> None:
        self.adapter.receive_data(self.parser.encode(self.parser.preferred))
        self.pump()
        self.adapter.receive_data(
            self.encode(spec.ConnectionInfo(connection_id=self.conn, client_id=None, response_required=True))
            + self.encode(spec.SessionInfo(session_id=self.session, response_required=True))
        )
        self.pump()


def message_frames(
    c: Client, dest: Any, count: int, persistent: bool, text: bool
) -> tuple[bytes, list[bytes]]:
    pid = spec.ProducerId(connection_id=c.conn.value, session_id=1, value=1)
    setup = c.encode(spec.ProducerInfo(producer_id=pid, destination=dest, response_required=True))
    cls = spec.ActiveMQTextMessage if text else spec.ActiveMQBytesMessage
    content = props.encode_text_body("x" * 256) if text else props.encode_bytes_body(BODY)
    chunks = []
    for start in range(0, count, BATCH):
        frames = []
        for seq in range(start + 1, min(start + BATCH, count) + 1):
            m = cls(
                producer_id=pid,
                destination=dest,
                message_id=spec.MessageId(producer_id=pid, producer_sequence_id=seq),
                persistent=persistent,
                priority=4,
                timestamp=int(time.time() * 1000),
                content=content,
                response_required=persistent,
            )
            frames.append(c.encode(m))
        chunks.append(b"".join(frames))
    return setup, chunks


class Consumer:
    """One consuming connection: counts its dispatches and acknowledges them as the JMS
    client would."""

    def __init__(
        self, broker: Broker, name: str, dest: Any, pid: Any, count: int, ack_every: int, verify: bool
    ) -> None:
        self.c = Client(broker, name)
        self.c.handshake()
        self.dest, self.pid, self.count, self.ack_every, self.verify = dest, pid, count, ack_every, verify
        self.cid = spec.ConsumerId(connection_id=self.c.conn.value, session_id=1, value=1)
        self.c.adapter.receive_data(
            self.c.encode(
                spec.ConsumerInfo(
                    consumer_id=self.cid,
                    destination=dest,
                    prefetch_size=PREFETCH,
                    priority=0,
                    response_required=True,
                )
            )
        )
        self.c.pump()
        self.c.got.clear()
        self.got = 0
        self.acked = 0
        self.last_id: Any = None
        self.content = b""
        # --ack-every 1: the acks the client will send, one per message in order, encoded before
        # the clock starts (client CPU stays out of the figure; the consumer encodes nothing else)
        self.single_acks: list[bytes] = []
        if ack_every == 1 and not verify:
            for seq in range(1, count + 1):
                mid = spec.MessageId(producer_id=pid, producer_sequence_id=seq)
                self.single_acks.append(self._ack_frame(mid, mid, 1))

    def _ack_frame(self, first: Any, last: Any, n: int) -> bytes:
        return self.c.encode(
            spec.MessageAck(
                destination=self.dest,
                consumer_id=self.cid,
                ack_type=spec.STANDARD_ACK_TYPE,
                first_message_id=first,
                last_message_id=last,
                message_count=n,
            )
        )

    def consume(self) -> None:
        adapter = self.c.adapter
        first = self.got
        for data in adapter.data_to_send():
            if self.verify:
                # decode as the client would (client CPU: off by default)
                for cmd in self.c.parser.feed(data):
                    if type(cmd) is spec.MessageDispatch and cmd.message is not None:
                        self.got += 1
                        self.last_id = cmd.message.message_id
                        assert self.last_id.producer_sequence_id == self.got, self.last_id
                        assert bytes(cmd.message.content) == bytes(self.content), cmd.message
                continue
            # count the dispatch frames (one producer, FIFO: ids are sequential)
            pos, end = 0, len(data)
            while pos < end:
                size = _I32.unpack_from(data, pos)[0]
                if data[pos + 4] == spec.MESSAGE_DISPATCH:
                    self.got += 1
                pos += 4 + size
        got = self.got
        if self.single_acks:
            if got > first:
                # one ack per message, those of one tick read by the broker together (one recv)
                adapter.receive_data(b"".join(self.single_acks[first:got]))
                self.acked = got
            return
        if got - self.acked >= self.ack_every or (got == self.count and got > self.acked):
            if not self.verify:  # one producer, FIFO: the last id is the count
                self.last_id = spec.MessageId(producer_id=self.pid, producer_sequence_id=got)
            n = got - self.acked
            adapter.receive_data(self._ack_frame(self.last_id if n == 1 else None, self.last_id, n))
            self.acked = got


async def run(
    persistent: bool,
    text: bool,
    count: int,
    verify: bool = False,
    prof: cProfile.Profile | None = None,
    ack_every: int = BATCH,
    consumers: int = 1,
    topic: bool = False,
) -> tuple[int, float, float]:
    """Deliveries made, wall seconds, CPU seconds."""
    loop = asyncio.get_running_loop()
    d = tempfile.mkdtemp()
    broker = Broker(SQLiteStore(d + "/s.db", loop=loop), LoopClock(loop))
    await broker.start()
    prod = Client(broker, "prod")
    prod.handshake()
    dest = spec.ActiveMQTopic(physical_name="bench") if topic else spec.ActiveMQQueue(physical_name="bench")
    pid = spec.ProducerId(connection_id=prod.conn.value, session_id=1, value=1)
    cons = [Consumer(broker, f"cons{i}", dest, pid, count, ack_every, verify) for i in range(consumers)]
    setup, chunks = message_frames(prod, dest, count, persistent, text)
    content = props.encode_text_body("x" * 256) if text else props.encode_bytes_body(BODY)
    for c in cons:
        c.content = content
    prod.adapter.receive_data(setup)
    prod.pump()
    total = count * consumers if topic else count

    def got() -> int:
        return sum(c.got for c in cons)

    if prof is not None:
        prof.enable()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for chunk in chunks:
        prod.adapter.receive_data(chunk)
        prod.adapter.data_to_send()
        await asyncio.sleep(0)
        for c in cons:
            c.consume()
    deadline = time.monotonic() + 30
    while got() < total and time.monotonic() < deadline:
        await asyncio.sleep(0.0005)
        prod.adapter.data_to_send()
        for c in cons:
            c.consume()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if prof is not None:
        prof.disable()
    await broker.stop()
    return got(), dt, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["p", "n"], help="p: persistent synchronous sends, n: async")
    ap.add_argument("--text", action="store_true", help="TextMessage instead of BytesMessage")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--verify", action="store_true", help="decode every dispatch as the client")
    ap.add_argument("--ack-every", type=int, default=BATCH, help="one cumulative ack per N messages")
    ap.add_argument("--topic", action="store_true", help="a topic instead of a queue")
    ap.add_argument("--consumers", type=int, default=1, help="consumers, each on its own connection")
    args = ap.parse_args()
    opts = dict(ack_every=args.ack_every, consumers=args.consumers, topic=args.topic)
    persistent = args.mode == "p"
    if args.profile:
        prof = cProfile.Profile()
        got, dt, _cpu = asyncio.run(
            run(persistent, args.text, args.count, prof=prof, **opts)  # type: ignore[arg-type]
        )
        print(
            f"persistent={persistent} {got} deliveries {dt:.2f}s {got / dt:.0f}/s {dt / got * 1e6:.1f} us each"
        )
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return
    best = None
    for _ in range(args.repeat):
        got, dt, cpu = asyncio.run(
            run(persistent, args.text, args.count, args.verify, **opts)  # type: ignore[arg-type]
        )
        us = dt / max(got, 1) * 1e6
        cus = cpu / max(got, 1) * 1e6
        print(
            f"persistent={persistent} {got} deliveries {dt:.2f}s {got / dt:.0f}/s {us:.1f} us each wall,"
            f" {cus:.1f} us each cpu"
        )
        best = cus if best is None else min(best, cus)
    print(f"best {best:.1f} us per delivery cpu")


if __name__ == "__main__":
    main()
