"""In-process MQTT adapter micro benchmark: no sockets, the real broker and SQLite store.

A publisher adapter is fed pre-encoded PUBLISH packets (50 per feed); a subscriber adapter
receives them and, at QoS 1, answers every delivery with a PUBACK. Prints msgs/s and
microseconds per message (publish + route + deliver + encode + acknowledge).

    python bench/micro/mqtt_inproc.py [--qos 0|1] [--count N] [--profile] [--fanout K]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import tempfile
import time

from ferrymq.app import LoopClock
from ferrymq.core import Broker, Completion, Credentials, Principal
from ferrymq.protocols.base import AdapterContext, PeerInfo, ProtocolLimits
from ferrymq.protocols.mqtt.adapter import MqttAdapter
from ferrymq.protocols.mqtt.packets import Connect, Publish, Subscribe, encode
from ferrymq.store.sqlite import SQLiteStore


class _Auth:
    def authenticate(self, creds: Credentials) -> Completion:
        return Completion.done(Principal("u"))


def _scan(data: bytes) -> list[bytes]:
    """Packet ids (b"" for QoS 0) of the PUBLISH packets in ``data``: a cheap client side."""
    pids = []
    pos, n = 0, len(data)
    while pos < n:
        b0 = data[pos]
        rl, shift, i = 0, 0, pos + 1
        while True:
            b = data[i]
            i += 1
            rl |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        if b0 >> 4 == 3:
            if b0 & 6:
                t = i + 2 + ((data[i] << 8) | data[i + 1])
                pids.append(data[t : t + 2])
            else:
                pids.append(b"")
        pos = i + rl
    return pids


async def run(qos: int, count: int, fanout: int) -> tuple[int, float, float]:
    loop = asyncio.get_running_loop()
    d = tempfile.mkdtemp(prefix="mqtt-micro-")
    store = SQLiteStore(d + "/s.db", loop=loop)
    broker = Broker(store, LoopClock(loop))
    await broker.start()

    def make() -> MqttAdapter:
        ctx = AdapterContext(
            broker=broker, authenticator=_Auth(), limits=ProtocolLimits(), peer=PeerInfo("x", 1)
        )
        return MqttAdapter(ctx)

    subs: list[MqttAdapter] = []
    for i in range(fanout):
        sub = make()
        sub.receive_data(
            encode(Connect(client_id=f"sub{i}", clean_session=qos == 0))
            + encode(Subscribe(1, [("bench/q", qos)]))
        )
        sub.data_to_send()
        subs.append(sub)
    pub = make()
    pub.receive_data(encode(Connect(client_id="pub")))
    pub.data_to_send()
    body = b"x" * 256
    batch = 50
    n_batches = count // batch
    feeds = [
        b"".join(
            encode(Publish("bench/q", body, qos, packet_id=(i * batch + j) % 65535 + 1 if qos else None))
            for j in range(batch)
        )
        for i in range(min(n_batches, 1311))
    ]
    got = 0

    def drain() -> int:
        n = 0
        for sub in subs:
            out = sub.data_to_send()
            if not out:
                continue
            data = b"".join(out)
            pids = _scan(data)
            n += len(pids)
            if qos:
                acks = [b"\x40\x02" + pid for pid in pids if pid]
                if acks:
                    sub.receive_data(b"".join(acks))
        return n

    t0 = time.perf_counter()
    c0 = time.process_time()
    for i in range(n_batches):
        pub.receive_data(feeds[i % len(feeds)])
        await asyncio.sleep(0)
        pub.data_to_send()
        got += drain()
    expected = n_batches * batch * fanout
    for _ in range(2000):
        if got >= expected:
            break
        await asyncio.sleep(0.001)
        pub.data_to_send()
        got += drain()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    await broker.stop()
    shutil.rmtree(d, ignore_errors=True)
    return got, dt, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--qos", type=int, default=0)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--fanout", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="runs; the best one is reported")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    if a.profile:
        prof = cProfile.Profile()
        prof.enable()
    runs = [asyncio.run(run(a.qos, a.count, a.fanout)) for _ in range(a.repeat)]
    if a.profile:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    got = runs[0][0]
    dt = min(r[1] for r in runs)
    cpu = min(r[2] for r in runs)
    print(
        f"qos={a.qos} fanout={a.fanout}: {got} deliveries, best of {a.repeat}: {got / dt:.0f}/s,"
        f" {dt / got * 1e6:.1f} us/delivery wall, {cpu / got * 1e6:.1f} us/delivery CPU (all threads)"
    )


if __name__ == "__main__":
    main()
