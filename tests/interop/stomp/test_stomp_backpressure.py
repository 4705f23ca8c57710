"""A consumer that stops reading is paused instead of buffered without bound: the queue
keeps the rest for the consumers that do read."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from stomp_util import connect

from support import BrokerProcess


def test_slow_reader_is_paused_and_others_take_the_rest(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "data", ("stomp",),
                      config="limits:\n  max_pending_outbound_bytes: 1048576\n").start()
    slow = socket.create_connection(("127.0.0.1", b.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    slow.sendall(b"CONNECT\naccept-version:1.2\nlogin:user\npasscode:password\n\n\x00"
                 b"SUBSCRIBE\nid:1\ndestination:/queue/bp\nack:auto\nreceipt:s\n\n\x00")
    time.sleep(0.5)  # the slow consumer is subscribed and never reads again
    fast, fcol = connect(b.port)
    fast.subscribe("/queue/bp", id="f", ack="auto", receipt="fs")
    fcol.wait_receipt("fs")
    p, pc = connect(b.port)
    body = "b" * 10_000
    n = 3000  # 30 MB
    for i in range(n):
        p.send("/queue/bp", body, receipt=f"r{i}" if i % 100 == 99 else None)
    pc.wait_receipt(f"r{n - 1}", timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        before = len(fcol.messages)
        time.sleep(0.5)
        if len(fcol.messages) == before:
            break
    got = len(fcol.messages)
    # the stalled consumer holds at most its outbound buffer plus the kernel's socket buffers
    assert got >= n - 900, f"the fast consumer got only {got} of {n}"
    slow.close()
    p.disconnect()
    fast.disconnect()
    b.kill()
