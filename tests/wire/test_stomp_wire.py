"""Malformed STOMP input over raw sockets: each gets an ERROR frame with a message header,
the connection closes, and another client still works."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from ferrymq.protocols.stomp.frames import Frame, FrameParser
from support import BrokerProcess


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("wire") / "data", ("stomp",),
                      config="limits:\n  max_frame_size: 65536\n  max_headers: 20\n  max_header_length: 1024\n"
                             "  connect_timeout: 2\n").start()
    yield b
    b.kill()


CONNECT = b"CONNECT\naccept-version:1.2\nhost:x\nlogin:user\npasscode:password\n\n\x00"


def converse(port: int, data: bytes, timeout: float = 5.0, chunks: int = 1) -> tuple[list[Frame], bool]:
    """Send ``data``; read frames until the broker closes (True) or the timeout passes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    step = max(1, len(data) // chunks)
    for i in range(0, len(data), step):
        s.sendall(data[i:i + step])
    parser = FrameParser()
    frames: list[Frame] = []
    closed = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                buf = s.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not buf:
                closed = True
                break
            frames.extend(f for f in parser.feed(buf) if isinstance(f, Frame))
    finally:
        s.close()
    return frames, closed


def assert_error(frames: list[Frame], closed: bool, text: str) -> Frame:
    errors = [f for f in frames if f.command == "ERROR"]
    assert errors, f"no ERROR frame, got {frames}"
    assert closed, "the broker did not close the connection"
    msg = errors[0].headers["message"]
    assert text.lower() in msg.lower(), msg
    assert "Traceback" not in errors[0].body.decode(errors="replace")
    return errors[0]


def still_works(port: int) -> None:
    frames, _ = converse(port, CONNECT + b"SEND\ndestination:/queue/ok\nreceipt:r\n\nfine\x00", timeout=1.0)
    assert [f.command for f in frames][:2] == ["CONNECTED", "RECEIPT"]


BAD_INPUTS = [
    ("unknown command", CONNECT + b"FROB\n\n\x00", "unknown command"),
    ("frame before connect", b"SEND\ndestination:/queue/a\n\nx\x00", "CONNECT frame is expected"),
    ("bad header escape", CONNECT + b"SEND\ndestination:/queue/a\nh:bad\\tescape\n\nx\x00", "escape"),
    ("header without colon", CONNECT + b"SEND\ndestination:/queue/a\nnocolon\n\nx\x00", "header"),
    ("invalid utf-8 header", CONNECT + b"SEND\ndestination:/queue/a\nh:\xff\xfe\n\nx\x00", "utf-8"),
    ("missing NUL after content-length body", CONNECT + b"SEND\ndestination:/queue/a\ncontent-length:2\n\nabc\x00",
     "NUL"),
    ("bad content-length", CONNECT + b"SEND\ndestination:/queue/a\ncontent-length:x1\n\nabc\x00", "content-length"),
    ("frame too large", CONNECT + b"SEND\ndestination:/queue/a\ncontent-length:999999\n\n", "max_frame_size"),
    ("too many headers", CONNECT + b"SEND\ndestination:/queue/a\n" + b"".join(b"h%d:v\n" % i for i in range(30))
     + b"\nx\x00", "headers"),
    ("header too long", CONNECT + b"SEND\ndestination:/queue/a\nh:" + b"v" * 2000 + b"\n\nx\x00", "long"),
    ("bad heart-beat", b"CONNECT\naccept-version:1.2\nheart-beat:a,b\nlogin:user\npasscode:password\n\n\x00",
     "heart-beat"),
    ("unsupported version", b"CONNECT\naccept-version:2.0\nlogin:user\npasscode:password\n\n\x00", "version"),
    ("failed login", b"CONNECT\naccept-version:1.2\nlogin:user\npasscode:nope\n\n\x00", "authentication failed"),
    ("send without destination", CONNECT + b"SEND\n\nx\x00", "destination"),
    ("illegal destination", CONNECT + b"SEND\ndestination:nowhere\n\nx\x00", "illegal destination"),
    ("subscribe without id", CONNECT + b"SUBSCRIBE\ndestination:/queue/a\n\n\x00", "id"),
    ("bad ack mode", CONNECT + b"SUBSCRIBE\nid:1\ndestination:/queue/a\nack:sometimes\n\n\x00", "ack mode"),
    ("ack of unknown message", CONNECT + b"ACK\nid:nope\n\n\x00", "unknown"),
    ("commit without begin", CONNECT + b"COMMIT\ntransaction:t1\n\n\x00", "not active"),
    ("priority out of range", CONNECT + b"SEND\ndestination:/queue/a\npriority:12\n\nx\x00", "priority"),
    ("server frame from client", CONNECT + b"MESSAGE\ndestination:/queue/a\n\nx\x00", "MESSAGE"),
    ("wildcard send", CONNECT + b"SEND\ndestination:/topic/a.*\n\nx\x00", "wildcard"),
]


@pytest.mark.parametrize("name,data,text", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_error_and_close(broker: BrokerProcess, name: str, data: bytes, text: str) -> None:
    frames, closed = converse(broker.port, data)
    assert_error(frames, closed, text)
    still_works(broker.port)


def test_bad_input_byte_by_byte(broker: BrokerProcess) -> None:
    data = CONNECT + b"SEND\ndestination:/queue/a\nh:bad\\tescape\n\nx\x00"
    frames, closed = converse(broker.port, data, chunks=len(data))
    assert_error(frames, closed, "escape")


def test_error_carries_receipt_id(broker: BrokerProcess) -> None:
    frames, closed = converse(broker.port, CONNECT + b"SEND\nreceipt:77\n\nx\x00")
    err = assert_error(frames, closed, "destination")
    assert err.headers.get("receipt-id") == "77"


def test_connect_timeout_closes_idle_socket(broker: BrokerProcess) -> None:
    frames, closed = converse(broker.port, b"", timeout=5.0)
    assert_error(frames, closed, "connect timeout")


def test_frames_after_error_are_not_acted_on(broker: BrokerProcess) -> None:
    data = CONNECT + b"FROB\n\n\x00SEND\ndestination:/queue/never\n\nlost\x00"
    frames, closed = converse(broker.port, data)
    assert_error(frames, closed, "unknown command")
    frames, _ = converse(broker.port, CONNECT + b"SUBSCRIBE\nid:1\ndestination:/queue/never\n\n\x00", timeout=0.7)
    assert not [f for f in frames if f.command == "MESSAGE"]


def test_accepted_messages_survive_a_bad_client(broker: BrokerProcess) -> None:
    # a good producer's receipted messages are all delivered although a bad client came and went
    good = CONNECT + b"".join(b"SEND\ndestination:/queue/keep\npersistent:true\nreceipt:%d\n\nm%d\x00" % (i, i)
                              for i in range(20))
    frames, _ = converse(broker.port, good, timeout=1.5)
    assert len([f for f in frames if f.command == "RECEIPT"]) == 20
    converse(broker.port, CONNECT + b"\xff\xfe\xfd garbage\x00")
    frames, _ = converse(broker.port, CONNECT + b"SUBSCRIBE\nid:1\ndestination:/queue/keep\n\n\x00", timeout=1.5)
    assert [f.body for f in frames if f.command == "MESSAGE"] == [b"m%d" % i for i in range(20)]
