"""In-process AMQP 1.0 micro benchmark: two AmqpAdapter instances on a real Broker (SQLite
store in a temp dir, asyncio LoopClock), no sockets.

The producer's bytes are recorded from python-qpid-proton's engine (pumped in memory against
a throwaway broker): durable/unsettled or non-durable/pre-settled transfers of a 256-byte
data-section message, as the shared load generator sends them. The consumer side is written
with ferrymq's own codec the way proton's receiver talks: attach, flow (credit 1000, topped
up), and for unsettled deliveries ranged accepted dispositions.

    python bench/micro/amqp_inproc.py [p|n] [--count N] [--profile] [--default-gc]

Prints msgs/s and µs per message: wall time and process CPU time (all threads, the store's
writer included) of the whole in-process pipeline; CPU time is steadier on a shared machine.
Like ``ferrymq serve``, it runs on uvloop and, once set up, freezes the start-up objects and
collects young garbage every 20 000 allocations (``--default-gc`` keeps Python's defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import struct
import tempfile
import time
from typing import Any

from proton import Connection, Link, Message, Transport

from ferrymq.app import LoopClock, install_loop
from ferrymq.core import Broker, Completion, Principal
from ferrymq.protocols.amqp.adapter import AmqpAdapter
from ferrymq.protocols.amqp.framing import AMQP_HEADER, encode_frame
from ferrymq.protocols.amqp.performatives import (
    RECEIVER,
    SND_SETTLED,
    SND_UNSETTLED,
    Accepted,
    Attach,
    Begin,
    Disposition,
    Flow,
    Open,
    Source,
    Target,
)
from ferrymq.protocols.amqp.types import UInt
from ferrymq.protocols.base import AdapterContext, PeerInfo, ProtocolLimits
from ferrymq.store.sqlite import SQLiteStore

ADDRESS = "queue://bench"
BODY = b"x" * 256
BATCH = 50
CREDIT = 1000


class Auth:
    allow_anonymous = True

    def authenticate(self, creds: Any) -> Completion:
        return Completion.done(Principal("u"))


def make_adapter(broker: Broker) -> AmqpAdapter:
    ctx = AdapterContext(broker=broker, authenticator=Auth(), limits=ProtocolLimits(), peer=PeerInfo("x", 1))
    return AmqpAdapter(ctx)


def drain(a: AmqpAdapter) -> bytes:
    return b"".join(a.data_to_send())


async def record_producer(persistent: bool, count: int) -> tuple[bytes, list[bytes]]:
    """Proton's bytes: (setup, one chunk per BATCH transfers)."""
    loop = asyncio.get_running_loop()
    d = tempfile.mkdtemp()
    broker = Broker(SQLiteStore(d + "/s.db", loop=loop), LoopClock(loop))
    await broker.start()
    ad = make_adapter(broker)
    conn = Connection()
    conn.container = "bench-pub"
    t = Transport()
    t.bind(conn)
    conn.open()
    ssn = conn.session()
    ssn.open()
    link = ssn.sender("bench-sender")
    link.target.address = ADDRESS
    if not persistent:
        link.snd_settle_mode = Link.SND_SETTLED
    link.open()

    def pump() -> bytes:
        sent = bytearray()
        for _ in range(4):
            n = t.pending()
            if n > 0:
                data = t.peek(n)
                t.pop(n)
                sent += data
                ad.receive_data(data)
            back = drain(ad)
            if back:
                t.push(back)
            if n <= 0 and not back:
                break
        return bytes(sent)

    setup = bytearray()
    for _ in range(5):
        setup += pump()
        await asyncio.sleep(0)
    assert link.credit > 0, "no credit from the broker"
    m = Message(body=BODY, durable=persistent)
    m.inferred = True
    encoded = m.encode()
    chunks = []
    seq = 0
    while seq < count:
        for _ in range(BATCH):
            dlv = link.delivery(b"%d" % seq)
            link.send(encoded)
            link.advance()
            if not persistent:
                dlv.settle()
            seq += 1
        chunks.append(pump())
        await asyncio.sleep(0)
        pump()
    await broker.stop()
    return bytes(setup), chunks


def consumer_setup(persistent: bool) -> bytes:
    mode = SND_UNSETTLED if persistent else SND_SETTLED
    return b"".join(
        [
            AMQP_HEADER,
            encode_frame(0, Open(container_id="bench-sub", max_frame_size=UInt(1 << 20))),
            encode_frame(
                0, Begin(next_outgoing_id=UInt(0), incoming_window=UInt(2048), outgoing_window=UInt(2048))
            ),
            encode_frame(
                0,
                Attach(
                    name="bench-receiver",
                    handle=UInt(0),
                    role=RECEIVER,
                    snd_settle_mode=mode,
                    source=Source(address=ADDRESS),
                    target=Target(),
                ),
            ),
            encode_frame(
                0,
                Flow(
                    next_incoming_id=UInt(0),
                    incoming_window=UInt(2048),
                    next_outgoing_id=UInt(0),
                    outgoing_window=UInt(2048),
                    handle=UInt(0),
                    delivery_count=UInt(0),
                    link_credit=UInt(CREDIT),
                ),
            ),
        ]
    )


_u32 = struct.Struct(">I").unpack_from


def count_transfers(data: bytes) -> int:
    n = 0
    pos = 0
    end = len(data)
    while pos + 8 <= end:
        size = _u32(data, pos)[0]
        body = pos + data[pos + 4] * 4
        if size > 8 and data[body : body + 3] == b"\x00\x53\x14":
            n += 1
        pos += size
    return n


async def run(persistent: bool, setup: bytes, chunks: list[bytes]) -> tuple[int, float, float]:
    loop = asyncio.get_running_loop()
    d = tempfile.mkdtemp()
    broker = Broker(SQLiteStore(d + "/s.db", loop=loop), LoopClock(loop))
    await broker.start()
    prod, cons = make_adapter(broker), make_adapter(broker)
    cons.receive_data(consumer_setup(persistent))
    prod.receive_data(setup)
    await asyncio.sleep(0)
    drain(prod)
    cons_out = drain(cons)
    got = count_transfers(cons_out)
    settled = 0
    granted = CREDIT
    total = len(chunks) * BATCH
    # the session windows we announced: keep them open as proton does
    next_in = got

    def consume() -> None:
        nonlocal got, settled, granted, next_in
        data = drain(cons)
        if not data:
            return
        k = count_transfers(data)
        got += k
        next_in += k
        frames = []
        if persistent and got > settled:
            frames.append(
                encode_frame(
                    0,
                    Disposition(
                        role=RECEIVER,
                        first=UInt(settled),
                        last=UInt(got - 1),
                        settled=True,
                        state=Accepted(),
                    ),
                )
            )
            settled = got
        if granted - got < CREDIT // 2:
            granted = got + CREDIT
            frames.append(
                encode_frame(
                    0,
                    Flow(
                        next_incoming_id=UInt(next_in),
                        incoming_window=UInt(2048),
                        next_outgoing_id=UInt(settled and 1),
                        outgoing_window=UInt(2048),
                        handle=UInt(0),
                        delivery_count=UInt(got),
                        link_credit=UInt(CREDIT),
                    ),
                )
            )
        if frames:
            cons.receive_data(b"".join(frames))

    t0 = time.perf_counter()
    c0 = time.process_time()
    for chunk in chunks:
        prod.receive_data(chunk)
        drain(prod)
        await asyncio.sleep(0)
        consume()
    deadline = time.monotonic() + 30
    while got < total and time.monotonic() < deadline:
        await asyncio.sleep(0.0005)
        drain(prod)
        consume()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    await broker.stop()
    return got, dt, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["p", "n"], help="p: durable+unsettled, n: pre-settled")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--default-gc", action="store_true", help="Python's default collector settings")
    args = ap.parse_args()
    persistent = args.mode == "p"
    install_loop()
    setup, chunks = asyncio.run(record_producer(persistent, args.count))
    if not args.default_gc:
        # what `ferrymq serve` does once started (app.run_broker)
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 50)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        got, dt, _cpu = asyncio.run(run(persistent, setup, chunks))
        prof.disable()
        print(f"persistent={persistent} {got} msgs {dt:.2f}s {got / dt:.0f}/s {dt / got * 1e6:.1f} us/msg")
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return
    best = None
    for _ in range(args.repeat):
        got, dt, cpu = asyncio.run(run(persistent, setup, chunks))
        us = dt / max(got, 1) * 1e6
        cus = cpu / max(got, 1) * 1e6
        print(
            f"persistent={persistent} {got} msgs {dt:.2f}s {got / dt:.0f}/s {us:.1f} us/msg wall,"
            f" {cus:.1f} us/msg cpu"
        )
        best = cus if best is None else min(best, cus)
    print(f"best {best:.1f} us/msg cpu")


if __name__ == "__main__":
    main()
