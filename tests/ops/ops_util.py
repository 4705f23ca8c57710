"""Helpers for the operations tests: an HTTP client for the admin API and stomp.py glue."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import stomp


class Http:
    """A tiny urllib client: returns (status, headers, parsed JSON or text)."""

    def __init__(self, port: int, user: str | None = "admin", password: str = "secret") -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.user = user
        self.password = password

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        auth: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if auth is not None:
            req.add_header("Authorization", auth)
        elif self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, hdrs, payload = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, hdrs, payload = e.code, e.headers, e.read()
        ctype = hdrs.get("Content-Type", "")
        parsed: Any = json.loads(payload) if "json" in ctype else payload.decode("utf-8", "replace")
        return status, hdrs, parsed

    def get(self, path: str, **kw: Any) -> Any:
        status, _, body = self.request("GET", path, **kw)
        assert status == 200, (status, body)
        return body

    def post(self, path: str, body: Any = None, expect: int = 200) -> Any:
        status, _, out = self.request("POST", path, body)
        assert status == expect, (status, out)
        return out


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class Listener(stomp.ConnectionListener):
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.receipts: list[str] = []
        self.errors: list[Any] = []
        self._cv = threading.Condition()

    def on_message(self, frame: Any) -> None:
        with self._cv:
            self.messages.append(frame)
            self._cv.notify_all()

    def on_receipt(self, frame: Any) -> None:
        with self._cv:
            self.receipts.append(frame.headers["receipt-id"])
            self._cv.notify_all()

    def on_error(self, frame: Any) -> None:
        with self._cv:
            self.errors.append(frame)
            self._cv.notify_all()

    def wait(self, pred: Any, what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cv:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out waiting for {what}; errors: {[e.body for e in self.errors]}"
                    )
                self._cv.wait(left)

    def wait_messages(self, n: int, timeout: float = 10.0) -> list[Any]:
        self.wait(lambda: len(self.messages) >= n, f"{n} messages", timeout)
        return list(self.messages)

    def wait_receipt(self, rid: str) -> None:
        self.wait(lambda: rid in self.receipts, f"receipt {rid}")


def stomp_connect(
    port: int, user: str = "admin", password: str = "secret", client_id: str | None = None
) -> tuple[stomp.Connection, Listener]:
    c = stomp.Connection12([("127.0.0.1", port)], heartbeats=(0, 0))
    lst = Listener()
    c.set_listener("l", lst)
    headers = {"client-id": client_id} if client_id else {}
    c.connect(user, password, wait=True, headers=headers)
    return c, lst


def send_persistent(c: stomp.Connection, lst: Listener, dest: str, body: str, **headers: str) -> None:
    rid = f"r-{time.monotonic_ns()}"
    c.send(dest, body, headers={"persistent": "true", **headers}, receipt=rid)
    lst.wait_receipt(rid)


def wait_until(pred: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
