"""Persistence across kill -9: receipted messages and durable subscriptions survive."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from stomp_util import connect

from ferrymq.protocols.stomp.frames import Frame, FrameParser
from support import BrokerProcess


def test_kill_9_during_persistent_stream_loses_nothing_receipted(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "data", ("stomp",)).start()
    receipted: set[str] = set()
    s = socket.create_connection(("127.0.0.1", b.port))
    s.sendall(b"CONNECT\naccept-version:1.2\nlogin:user\npasscode:password\n\n\x00")
    parser = FrameParser()
    stop = threading.Event()

    def reader() -> None:
        while True:
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            for f in parser.feed(data):
                if isinstance(f, Frame) and f.command == "RECEIPT":
                    receipted.add(f.headers["receipt-id"])

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    sent = 0

    def writer() -> None:
        nonlocal sent
        try:
            while not stop.is_set():
                batch = b"".join(
                    b"SEND\ndestination:/queue/durable\npersistent:true\nreceipt:m%d\n\nbody-%d\x00" % (i, i)
                    for i in range(sent, sent + 50))
                s.sendall(batch)
                sent += 50
                time.sleep(0.002)
        except OSError:
            return

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    deadline = time.monotonic() + 20
    while len(receipted) < 2000 and time.monotonic() < deadline:
        time.sleep(0.01)
    b.kill()  # SIGKILL in the middle of the stream
    stop.set()
    t.join(2)
    s.close()
    assert len(receipted) >= 2000, "the broker confirmed too few messages before the kill"
    assert sent > len(receipted)  # the kill really was mid-stream
    b.start()
    c, col = connect(b.port)
    c.subscribe("/queue/durable", id="s", ack="auto")
    deadline = time.monotonic() + 30
    while True:
        n = len(col.messages)
        time.sleep(0.5)
        if len(col.messages) == n or time.monotonic() > deadline:
            break
    bodies = [m.body for m in col.messages]
    got = {x.split("-")[1] for x in bodies}
    missing = {r[1:] for r in receipted} - got
    assert not missing, f"{len(missing)} receipted messages were lost, e.g. {sorted(missing)[:5]}"
    # exactly once: no duplicates among the recovered messages
    assert len(bodies) == len(set(bodies))
    c.disconnect()
    b.kill()


def test_durable_subscription_and_delivery_count_survive_restart(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "data", ("stomp",)).start()
    c, col = connect(b.port, client_id="app-1")
    c.subscribe("/topic/prices", id="d", ack="client-individual",
                headers={"activemq.subscriptionName": "feed"}, receipt="s")
    col.wait_receipt("s")
    c.disconnect()
    p, pc = connect(b.port)
    p.send("/topic/prices", "p1", headers={"persistent": "true"})
    p.send("/topic/prices", "p2", headers={"persistent": "true"}, receipt="r")
    pc.wait_receipt("r")
    p.send("/queue/work", "job", headers={"persistent": "true"}, receipt="r2")
    pc.wait_receipt("r2")
    p.disconnect()
    # deliver the queued job once without acknowledging it, then crash
    w, wcol = connect(b.port)
    w.subscribe("/queue/work", id="w", ack="client-individual")
    wcol.wait_messages(1)
    w.disconnect()
    time.sleep(0.5)
    b.kill()
    b.start()
    c2, col2 = connect(b.port, client_id="app-1")
    c2.subscribe("/topic/prices", id="d", ack="client-individual", headers={"activemq.subscriptionName": "feed"})
    assert [m.body for m in col2.wait_messages(2)] == ["p1", "p2"]
    w2, wcol2 = connect(b.port)
    w2.subscribe("/queue/work", id="w", ack="client-individual")
    (job,) = wcol2.wait_messages(1)
    assert job.body == "job" and job.headers.get("redelivered") == "true"
    c2.disconnect()
    w2.disconnect()
    b.stop()


def test_non_persistent_messages_do_not_survive_restart(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "data", ("stomp",)).start()
    p, pc = connect(b.port)
    p.send("/queue/np", "gone", receipt="a")
    p.send("/queue/np", "kept", headers={"persistent": "true"}, receipt="b")
    pc.wait_receipt("b")
    p.disconnect()
    assert b.stop() == 0  # SIGTERM: a clean exit
    b.start()
    c, col = connect(b.port)
    c.subscribe("/queue/np", id="s", ack="auto")
    assert [m.body for m in col.wait_messages(1)] == ["kept"]
    assert col.quiet(0.3) == 1
    c.disconnect()
    b.kill()
