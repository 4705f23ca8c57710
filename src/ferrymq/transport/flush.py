"""One write per connection per loop tick (R6): connections mark themselves dirty and a
single ``call_soon`` writes every dirty connection's output at the end of the tick."""

from __future__ import annotations

import asyncio
from typing import Protocol


class Flushable(Protocol):
    def flush(self) -> None: ...


class FlushScheduler:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: dict[Flushable, None] = {}
        self._scheduled = False

    def mark(self, conn: Flushable) -> None:
        self._dirty[conn] = None
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        # flushing may dirty connections again (a receipt resolving, a dispatch); they
        # are written on the next pass of this same mechanism
        dirty, self._dirty = self._dirty, {}
        for conn in dirty:
            conn.flush()
