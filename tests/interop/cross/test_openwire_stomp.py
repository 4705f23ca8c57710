"""STOMP <-> OpenWire (the unchanged ActiveMQ JMS client) both ways, as ActiveMQ maps them:
a STOMP frame without content-length is a TextMessage, with content-length a BytesMessage;
JMS Text, Bytes and Map messages reach STOMP as text, as bytes with content-length, and as
a JSON map with the jms-map-json transformation header."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "openwire"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

import jms_harness  # noqa: E402

from ferrymq.protocols.stomp.frames import Frame, FrameParser  # noqa: E402
from support import BrokerProcess  # noqa: E402

VARIANTS = {
    "tight": "wireFormat.tightEncodingEnabled=true",
    "loose": "wireFormat.tightEncodingEnabled=false&wireFormat.cacheEnabled=false",
}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("cross-ow") / "data", ("openwire", "stomp")).start()
    yield b
    b.kill()


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return jms_harness.compile_jms(tmp_path_factory.mktemp("openwire-jms-cross"))


class Stomp:
    def __init__(self, port: int) -> None:
        self.parser = FrameParser()
        self.frames: list[Frame] = []
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:user\npasscode:password\n\n\x00")
        assert self.expect().command == "CONNECTED"

    def expect(self, timeout: float = 5.0) -> Frame:
        deadline = time.monotonic() + timeout
        while not self.frames:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            assert data, "connection closed"
            self.frames += [f for f in self.parser.feed(data) if isinstance(f, Frame)]
        return self.frames.pop(0)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def runs(broker: BrokerProcess, classes: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant, options in VARIANTS.items():
        s = Stomp(broker.ports["stomp"])
        dest = f"/queue/ow.{variant}.from-stomp"
        s.sock.sendall(
            f"SEND\ndestination:{dest}\ncolor:blue\ncorrelation-id:s-1\npriority:8\npersistent:true"
            f"\nreceipt:1\n\nhello from stomp\x00".encode()
        )
        assert s.expect().command == "RECEIPT"
        body = b"raw\x00bytes"
        s.sock.sendall(
            f"SEND\ndestination:{dest}\ncontent-length:{len(body)}\nreceipt:2\n\n".encode() + body + b"\x00"
        )
        assert s.expect().command == "RECEIPT"
        got, log = jms_harness.run(
            classes, f"tcp://127.0.0.1:{broker.ports['openwire']}", options, variant, ["crossin", "crossout"]
        )
        s.sock.sendall(
            f"SUBSCRIBE\nid:1\ndestination:/queue/ow.{variant}.to-stomp\nack:auto\n\n\x00".encode()
        )
        frames = [s.expect() for _ in range(3)]
        s.close()
        out[variant] = (got, log, frames)
    return out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_stomp_to_jms(runs: dict[str, Any], variant: str) -> None:
    got, log, _ = runs[variant]
    assert ("crossin", "error") not in got, log
    assert got[("crossin", "received")] == [
        "text:hello from stomp|blue|s-1|8|true",
        "bytes:raw\x00bytes|null|null|4|false",
    ]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_jms_to_stomp(runs: dict[str, Any], variant: str) -> None:
    got, log, frames = runs[variant]
    assert got[("crossout", "sent")] == 3, log
    text, data, mapped = frames
    assert text.command == "MESSAGE"
    assert text.body == "text from jms \u00e9".encode()
    assert "content-length" not in text.headers
    assert text.headers["color"] == "red" and text.headers["n"] == "5"
    assert text.headers["correlation-id"] == "c-1" and text.headers["type"] == "kind"
    assert text.headers["priority"] == "7" and text.headers["persistent"] == "true"
    assert text.headers["message-id"].replace("\\c", ":").startswith("ID:")  # raw 1.2 escaping
    assert data.body == b"\x00\x01\x02\x03" and data.headers["content-length"] == "4"
    assert mapped.headers["transformation"] == "jms-map-json"
    assert json.loads(mapped.body) == {"name": "widget", "qty": 42}
