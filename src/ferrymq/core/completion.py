"""A tiny synchronous future: the core's answer to "this will be durable later" (R2).

A ``Completion`` is resolved once, by the store's batcher (on the event loop thread) or
at once for work that needs no I/O. Callbacks run synchronously in resolution order; a
callback added after resolution runs immediately. No asyncio, no locks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_PENDING = 0
_DONE = 1
_FAILED = 2


class Completion:
    __slots__ = ("_state", "_result", "_error", "_callbacks")

    #: true for a send held back by producer flow control (the adapter stops reading)
    held = False

    def __init__(self) -> None:
        self._state = _PENDING
        self._result: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Completion], None]] | None = None

    # -- construction helpers -------------------------------------------------------
    @classmethod
    def done(cls, result: Any = None) -> Completion:
        c = cls()
        c._state = _DONE
        c._result = result
        return c

    @classmethod
    def failed(cls, error: BaseException) -> Completion:
        c = cls()
        c._state = _FAILED
        c._error = error
        return c

    @classmethod
    def all(cls, parts: list[Completion]) -> Completion:
        """Resolved when every part is; fails with the first failure."""
        pending = [p for p in parts if p._state == _PENDING]
        for p in parts:
            if p._state == _FAILED:
                return cls.failed(p._error)  # type: ignore[arg-type]
        if not pending:
            return DONE
        out = cls()
        remaining = [len(pending)]

        def one(p: Completion) -> None:
            if out._state != _PENDING:
                return
            if p._state == _FAILED:
                out.fail(p._error)  # type: ignore[arg-type]
                return
            remaining[0] -= 1
            if remaining[0] == 0:
                out.resolve()

        for p in pending:
            p.add_callback(one)
        return out

    # -- state ---------------------------------------------------------------------
    @property
    def is_done(self) -> bool:
        return self._state != _PENDING

    @property
    def ok(self) -> bool:
        return self._state == _DONE

    @property
    def result(self) -> Any:
        if self._state == _FAILED:
            raise self._error  # type: ignore[misc]
        return self._result

    @property
    def error(self) -> BaseException | None:
        return self._error

    def add_callback(self, cb: Callable[[Completion], None]) -> None:
        if self._state != _PENDING:
            cb(self)
            return
        if self._callbacks is None:
            self._callbacks = [cb]
        else:
            self._callbacks.append(cb)

    def resolve(self, result: Any = None) -> None:
        if self._state != _PENDING:
            return
        self._state = _DONE
        self._result = result
        self._run()

    def fail(self, error: BaseException) -> None:
        if self._state != _PENDING:
            return
        self._state = _FAILED
        self._error = error
        self._run()

    def _run(self) -> None:
        cbs = self._callbacks
        self._callbacks = None
        if cbs:
            for cb in cbs:
                cb(self)

    def __repr__(self) -> str:  # pragma: no cover
        s = {0: "pending", 1: "done", 2: "failed"}[self._state]
        return f"<Completion {s}>"


class HeldCompletion(Completion):
    """A send waiting for memory: resolves once the message was routed and is durable."""

    __slots__ = ()
    held = True


DONE = Completion.done()
