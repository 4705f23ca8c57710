"""A producer flooding a queue nobody consumes: the broker stays within its memory budget
(RSS read from /proc, not timed) and keeps serving other destinations."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from stomp_util import connect

from support import BrokerProcess

BUDGET = 32 * 1024 * 1024
MARGIN = 64 * 1024 * 1024  # interpreter, buffers, held sends and allocator slack


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_flood_stays_within_memory_budget(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "data", ("stomp",), config=f"memory_limit: {BUDGET}\n").start()
    assert b.proc is not None
    pid = b.proc.pid
    base = rss(pid)
    s = socket.create_connection(("127.0.0.1", b.port))
    s.sendall(b"CONNECT\naccept-version:1.2\nlogin:user\npasscode:password\n\n\x00")
    body = b"z" * 10_000
    frame = b"SEND\ndestination:/queue/flood\n\n" + body + b"\x00"
    sent = 0
    stop = threading.Event()

    def flood() -> None:
        nonlocal sent
        s.settimeout(0.5)
        while not stop.is_set() and sent < 20_000:  # 200 MB offered
            try:
                s.sendall(frame * 10)
                sent += 10
            except (TimeoutError, OSError):
                continue

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    peak = 0
    deadline = time.monotonic() + 12
    served = False
    while time.monotonic() < deadline and t.is_alive():
        peak = max(peak, rss(pid))
        time.sleep(0.1)
        if not served and time.monotonic() > deadline - 8:
            # another destination keeps working while the flood is held back
            c, col = connect(b.port)
            c.subscribe("/queue/other", id="o", ack="auto")
            c.send("/queue/other", "still served")
            assert [m.body for m in col.wait_messages(1)] == ["still served"]
            c.disconnect()
            served = True
    stop.set()
    t.join(2)
    peak = max(peak, rss(pid))
    print(f"flood: offered {sent * 10_000 >> 20} MiB, broker RSS {base >> 20} -> peak {peak >> 20} MiB")
    assert served
    assert sent < 20_000, "the producer was never slowed"
    assert peak - base < BUDGET + MARGIN, f"RSS grew by {(peak - base) >> 20} MiB"
    s.close()
    b.kill()
