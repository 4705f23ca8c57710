"""stomp.py helpers for the STOMP interop tests."""

from __future__ import annotations

import threading
import time
from typing import Any

import stomp


class Collector(stomp.ConnectionListener):
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.errors: list[Any] = []
        self.receipts: list[str] = []
        self.disconnected = threading.Event()
        self._cv = threading.Condition()

    def on_message(self, frame: Any) -> None:
        with self._cv:
            self.messages.append(frame)
            self._cv.notify_all()

    def on_error(self, frame: Any) -> None:
        with self._cv:
            self.errors.append(frame)
            self._cv.notify_all()

    def on_receipt(self, frame: Any) -> None:
        with self._cv:
            self.receipts.append(frame.headers["receipt-id"])
            self._cv.notify_all()

    def on_disconnected(self) -> None:
        self.disconnected.set()

    def wait_messages(self, n: int, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {n} messages, got {len(self.messages)}")
                self._cv.wait(left)
            return list(self.messages)

    def wait_receipt(self, rid: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cv:
            while rid not in self.receipts:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no receipt {rid}; errors: {[e.body for e in self.errors]}")
                self._cv.wait(left)

    def wait_error(self, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        with self._cv:
            while not self.errors:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("expected an ERROR frame")
                self._cv.wait(left)
            return self.errors[0]

    def quiet(self, seconds: float = 0.5) -> int:
        time.sleep(seconds)
        return len(self.messages)


def connect(port: int, version: str = "1.2", user: str = "user", password: str = "password",
            client_id: str | None = None, heartbeats: tuple[int, int] = (0, 0),
            auto_content_length: bool = True) -> tuple[Any, Collector]:
    cls = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}[version]
    kw: dict[str, Any] = {"auto_content_length": auto_content_length}
    if version != "1.0":
        kw["heartbeats"] = heartbeats
    c = cls([("127.0.0.1", port)], **kw)
    col = Collector()
    c.set_listener("c", col)
    headers = {"client-id": client_id} if client_id else {}
    c.connect(user, password, wait=True, headers=headers)
    return c, col
