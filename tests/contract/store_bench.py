"""Quick throughput check of the SQLite store (not a test; results go in docs/store.md).

Usage: python tests/contract/store_bench.py [--seconds 3] [--dir DIR] [--encrypt]

N closed-loop producers: each submits AddMessage+AddRef of a 256-byte persistent message
and submits its next one when the completion of the previous one resolved (a producer
that waits for its receipt). Reports ops/s (one op = one message stored and referenced)
and the batch sizes observed (submits per transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from ferrymq.core.completion import Completion
from ferrymq.core.message import Message
from ferrymq.core.names import queue
from ferrymq.core.ports import AddMessage, AddRef
from ferrymq.store.codec import RecordCipher
from ferrymq.store.keys import queue_key
from ferrymq.store.sqlite import SQLiteStore

KEY = queue_key("bench")
BODY = os.urandom(256)


async def bench(
    db: Path, producers: int, seconds: float, synchronous: str, encrypt: bool, open_loop: bool
) -> str:
    cipher = RecordCipher(os.urandom(32)) if encrypt else None
    store = SQLiteStore(db, cipher=cipher, synchronous=synchronous)
    await store.open()
    loop = asyncio.get_running_loop()
    done = [0]
    stop_at = time.perf_counter() + seconds
    finished = loop.create_future()
    running = [producers]
    max_outstanding = 20000

    def send() -> None:
        m = Message(queue("bench"), BODY, persistent=True)
        store.submit([AddMessage(m), AddRef(KEY, m.message_id)]).add_callback(on_done)

    def on_done(c: Completion) -> None:
        if not c.ok:
            raise SystemExit(f"store failure: {c.error}")
        done[0] += 1
        if time.perf_counter() < stop_at:
            send()
        else:
            running[0] -= 1
            if running[0] == 0 and not finished.done():
                finished.set_result(None)

    t0 = time.perf_counter()
    if open_loop:
        # ``producers`` submits every loop tick without waiting (pipelined producers),
        # at most ``max_outstanding`` unresolved.
        outstanding = [0]

        def ack(c: Completion) -> None:
            outstanding[0] -= 1
            done[0] += 1

        def tick() -> None:
            if time.perf_counter() >= stop_at:
                if not finished.done():
                    finished.set_result(None)
                return
            if outstanding[0] < max_outstanding:
                for _ in range(producers):
                    m = Message(queue("bench"), BODY, persistent=True)
                    outstanding[0] += 1
                    store.submit([AddMessage(m), AddRef(KEY, m.message_id)]).add_callback(ack)
            loop.call_soon(tick)

        tick()
        await finished
    else:
        for _ in range(producers):  # all in one tick
            send()
        await finished
    await store.close()
    elapsed = time.perf_counter() - t0
    s = store.stats
    sizes = sorted(s.batch_sizes.items())
    mean = s.submits / max(s.batches, 1)
    common = sorted(s.batch_sizes.items(), key=lambda kv: -kv[1])[:3]
    return (
        f"{'open' if open_loop else 'closed'}-loop producers={producers:4d} sync={synchronous:6s} enc={int(encrypt)}  "
        f"{done[0] / elapsed:9.0f} msg/s  transactions={s.batches:6d}  "
        f"batch mean={mean:6.1f} max={s.largest_batch:4d} most common={common} "
        f"(distinct sizes {len(sizes)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--encrypt", action="store_true")
    ap.add_argument("--synchronous", default="FULL")
    ap.add_argument("--producers", type=int, nargs="*", default=[1, 10, 100])
    ap.add_argument("--open-loop", action="store_true", help="submit every tick without waiting")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        for n in args.producers:
            db = Path(d) / f"bench-{n}.db"
            line = asyncio.run(bench(db, n, args.seconds, args.synchronous, args.encrypt, args.open_loop))
            print(line, flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
