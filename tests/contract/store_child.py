"""Child process for the kill -9 test.

Usage: store_child.py DB_PATH [MASTER_KEY_FILE]. Submits persistent messages forever and
prints each message id on stdout only after its completion resolved (after the commit).
"""

from __future__ import annotations

import asyncio
import os
import sys

from ferrymq.core.completion import Completion
from ferrymq.core.message import Message
from ferrymq.core.names import queue
from ferrymq.core.ports import AddMessage, AddRef
from ferrymq.store.codec import RecordCipher, load_or_create_data_key
from ferrymq.store.keys import queue_key
from ferrymq.store.sqlite import SQLiteStore

KEY = queue_key("kill.test")


async def main() -> None:
    db = sys.argv[1]
    cipher = None
    if len(sys.argv) > 2:
        cipher = RecordCipher(load_or_create_data_key(os.path.dirname(db), sys.argv[2]))
    store = SQLiteStore(db, cipher=cipher)
    await store.open()
    out = sys.stdout
    outstanding = 0
    room = asyncio.Event()
    room.set()

    def acked(mid: str) -> object:
        def cb(c: Completion) -> None:
            nonlocal outstanding
            outstanding -= 1
            if c.ok:
                out.write(mid + "\n")
                out.flush()
            if outstanding < 100:
                room.set()

        return cb

    n = 0
    while True:
        await room.wait()
        for _ in range(10):  # ten submitters per tick
            n += 1
            m = Message(queue("kill.test"), os.urandom(64) + b"%d" % n, persistent=True)
            c = store.submit([AddMessage(m), AddRef(KEY, m.message_id)])
            outstanding += 1
            c.add_callback(acked(m.message_id))  # type: ignore[arg-type]
        if outstanding >= 100:
            room.clear()
        await asyncio.sleep(0)


if __name__ == "__main__":
    asyncio.run(main())
