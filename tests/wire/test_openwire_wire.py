"""OpenWire over a raw socket against ``ferrymq serve``: negotiation, malformed and unknown
commands (ExceptionResponse where a response is wanted, else ConnectionError and close),
split input, keep-alive; other clients carry on. Run with tight and loose encoding."""

from __future__ import annotations

import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ferrymq.protocols.openwire import codec, props, spec  # noqa: E402
from support import BrokerProcess  # noqa: E402

CONN = spec.ConnectionId(value="ID:wire-test-1")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("ow-wire") / "data", ("openwire",)).start()
    yield b
    b.kill()


class Client:
    def __init__(self, port: int, tight: bool = True, handshake: bool = True) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.parser = codec.OpenWireParser(
            preferred=codec.make_wire_format_info(tight_encoding=tight, cache_enabled=tight, version=12)
        )
        self.got: list[Any] = []
        self.next_id = 1
        if handshake:
            self.send(self.parser.preferred)
            assert isinstance(self.expect(), spec.WireFormatInfo)
            assert isinstance(self.expect(), spec.BrokerInfo)

    def send(self, cmd: Any) -> Any:
        if getattr(cmd, "response_required", False):
            cmd.command_id = self.next_id
            self.next_id += 1
        self.sock.sendall(self.parser.encode(cmd))
        return cmd

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def expect(self, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while not self.got:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.got += self.parser.feed(data)
        return self.got.pop(0)

    def expect_type(self, cls: type, timeout: float = 5.0) -> Any:
        while True:
            c = self.expect(timeout)
            if not isinstance(c, spec.KeepAliveInfo):
                assert isinstance(c, cls), c
                return c

    def closed(self, timeout: float = 5.0) -> bool:
        try:
            while True:
                self.expect(timeout)
        except ConnectionError:
            return True
        except TimeoutError:
            return False

    def connect(self) -> None:
        info = self.send(
            spec.ConnectionInfo(
                connection_id=CONN, user_name="user", password="password", response_required=True
            )
        )
        r = self.expect_type(spec.Response)
        assert r.correlation_id == info.command_id

    def close(self) -> None:
        self.sock.close()


def still_serving(port: int) -> None:
    c = Client(port)
    c.connect()
    k = c.send(spec.KeepAliveInfo(response_required=True))
    assert isinstance(c.expect(), spec.KeepAliveInfo) and k
    c.close()


@pytest.fixture(params=[True, False], ids=["tight", "loose"])
def tight(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_negotiation_and_connect_byte_by_byte(broker: BrokerProcess, tight: bool) -> None:
    c = Client(broker.port, tight, handshake=False)
    data = c.parser.encode(c.parser.preferred)
    for i in range(len(data)):
        c.raw(data[i : i + 1])
    assert isinstance(c.expect(), spec.WireFormatInfo)
    assert isinstance(c.expect(), spec.BrokerInfo)
    assert c.parser.wire_format.tight_encoding is tight
    assert c.parser.wire_format.stack_trace_enabled is False
    frame = c.parser.encode(
        spec.ConnectionInfo(
            connection_id=CONN, user_name="user", password="password", command_id=1, response_required=True
        )
    )
    for i in range(len(frame)):
        c.raw(frame[i : i + 1])
    assert c.expect_type(spec.Response).correlation_id == 1
    c.close()


def test_older_version_is_negotiated(broker: BrokerProcess) -> None:
    c = Client(broker.port, handshake=False)
    c.parser = codec.OpenWireParser(preferred=codec.make_wire_format_info(version=6))
    c.send(c.parser.preferred)
    assert isinstance(c.expect(), spec.WireFormatInfo)
    assert c.parser.wire_format.version == 6
    assert isinstance(c.expect(), spec.BrokerInfo)
    c.connect()
    c.close()


def test_garbage_closes_with_connection_error(broker: BrokerProcess, tight: bool) -> None:
    c = Client(broker.port, tight)
    c.raw(b"\xff\xff\xff\xf0garbage")
    err = c.expect_type(spec.ConnectionError)
    assert err.exception.class_name == "java.io.IOException"
    assert c.closed()
    still_serving(broker.port)


def test_unknown_type_code_closes(broker: BrokerProcess, tight: bool) -> None:
    c = Client(broker.port, tight)
    c.connect()
    c.raw(struct.pack(">iB", 3, 77) + b"\x00\x00")
    assert isinstance(c.expect_type(spec.ConnectionError), spec.ConnectionError)
    assert c.closed()
    still_serving(broker.port)


def test_truncated_command_inside_frame_closes(broker: BrokerProcess, tight: bool) -> None:
    c = Client(broker.port, tight)
    c.raw(struct.pack(">iB", 2, spec.SessionInfo.type_code) + b"\x00")
    c.expect_type(spec.ConnectionError)
    assert c.closed()


def test_bad_magic_closes(broker: BrokerProcess) -> None:
    c = Client(broker.port, handshake=False)
    c.parser = codec.OpenWireParser()  # stays in the pre-negotiation form, as the broker does
    data = c.parser.encode(codec.make_wire_format_info())
    assert b"ActiveMQ" in data
    c.raw(data.replace(b"ActiveMQ", b"NotAMQ!!"))
    assert isinstance(c.expect(), spec.WireFormatInfo)
    assert isinstance(c.expect(), spec.ConnectionError)
    assert c.closed()


def test_command_a_client_may_not_send(broker: BrokerProcess, tight: bool) -> None:
    c = Client(broker.port, tight)
    c.connect()
    # response wanted: an ExceptionResponse, and the connection stays usable
    bad = c.send(spec.ControlCommand(command="shutdown", response_required=True))
    er = c.expect_type(spec.ExceptionResponse)
    assert er.correlation_id == bad.command_id and er.exception.class_name == "javax.jms.JMSException"
    c.send(spec.KeepAliveInfo(response_required=True))
    assert isinstance(c.expect(), spec.KeepAliveInfo)
    # no response wanted: ConnectionError, then the broker closes the connection
    c.send(spec.MessageDispatch(consumer_id=spec.ConsumerId(connection_id=CONN.value, session_id=1, value=1)))
    c.expect_type(spec.ConnectionError)
    assert c.closed()
    still_serving(broker.port)


def test_commands_before_connection_info(broker: BrokerProcess, tight: bool) -> None:
    c = Client(broker.port, tight)
    s = c.send(
        spec.SessionInfo(session_id=spec.SessionId(connection_id=CONN.value, value=1), response_required=True)
    )
    er = c.expect_type(spec.ExceptionResponse)
    assert er.correlation_id == s.command_id
    c.connect()
    c.close()


def test_bad_message_body_gets_exception_response(broker: BrokerProcess, tight: bool) -> None:
    c = Client(broker.port, tight)
    c.connect()
    pid = spec.ProducerId(connection_id=CONN.value, session_id=1, value=1)
    m = c.send(
        spec.ActiveMQTextMessage(
            producer_id=pid,
            destination=spec.ActiveMQQueue(physical_name="wire.bad"),
            message_id=spec.MessageId(producer_id=pid, producer_sequence_id=1),
            content=b"\x00\x00\x00\x50short",
            marshalled_properties=b"\x00\x00\x00\x01",
            persistent=True,
            response_required=True,
        )
    )
    er = c.expect_type(spec.ExceptionResponse)
    assert er.correlation_id == m.command_id
    ok = c.send(
        spec.ActiveMQTextMessage(
            producer_id=pid,
            destination=spec.ActiveMQQueue(physical_name="wire.good"),
            message_id=spec.MessageId(producer_id=pid, producer_sequence_id=2),
            content=props.encode_text_body("fine"),
            persistent=True,
            response_required=True,
        )
    )
    assert c.expect_type(spec.Response).correlation_id == ok.command_id
    c.close()


def test_bad_credentials(broker: BrokerProcess, tight: bool) -> None:
    c = Client(broker.port, tight)
    c.send(spec.ConnectionInfo(connection_id=CONN, user_name="user", password="nope", response_required=True))
    er = c.expect_type(spec.ExceptionResponse)
    assert er.exception.class_name == "java.lang.SecurityException"
    assert c.closed()


def test_keep_alive_is_answered_and_sent(broker: BrokerProcess) -> None:
    c = Client(broker.port, handshake=False)
    c.parser = codec.OpenWireParser(
        preferred=codec.make_wire_format_info(
            max_inactivity_duration=900, max_inactivity_duration_initial_delay=0
        )
    )
    c.send(c.parser.preferred)
    assert isinstance(c.expect(), spec.WireFormatInfo)
    assert isinstance(c.expect(), spec.BrokerInfo)
    c.connect()
    # the broker writes a KeepAliveInfo when it has been quiet for a third of the duration
    assert isinstance(c.expect(timeout=2.0), spec.KeepAliveInfo)
    # and closes a connection that stays silent past the inactivity duration
    assert c.closed(timeout=3.0)
