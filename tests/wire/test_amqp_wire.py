"""AMQP 1.0 on the wire: raw sockets against a real broker (bad headers, SASL failures,
malformed and oversized frames, missing authentication, heartbeats) and the adapter driven
in memory for its timers. Every failing connection must leave the broker serving others."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ferrymq.core import Completion, Principal
from ferrymq.protocols.amqp.adapter import AmqpAdapter
from ferrymq.protocols.amqp.framing import (
    AMQP_HEADER,
    SASL_HEADER,
    FrameParser,
    ProtocolHeader,
    encode_frame,
    encode_sasl_frame,
)
from ferrymq.protocols.amqp.performatives import Attach, Begin, Close, Open, Source
from ferrymq.protocols.amqp.sasl import SaslInit, SaslMechanisms, SaslOutcome, encode_plain
from ferrymq.protocols.amqp.types import Symbol, UInt
from ferrymq.protocols.base import AdapterContext, PeerInfo, ProtocolLimits
from support import BrokerProcess


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("amqpwire") / "data", ("amqp",)).start()
    yield b
    b.kill()


class Peer:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.parser = FrameParser(1 << 30)
        self.parser.expect_header()
        self.events: list[Any] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next(self, timeout: float = 5.0) -> Any:
        """The next event (header, performative, or None for a heartbeat); 'EOF' at close."""
        deadline = time.monotonic() + timeout
        while not self.events:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                return "EOF"
            self.events.extend(self.parser.feed(data))
        return self.events.pop(0).performative

    def expect_closed(self) -> None:
        while True:
            ev = self.next()
            if ev == "EOF":
                return

    def sasl_plain(self, user: str = "user", password: str = "password") -> Any:
        self.send(SASL_HEADER)
        assert self.next() == ProtocolHeader(SASL_HEADER)
        mechs = self.next()
        assert isinstance(mechs, SaslMechanisms) and Symbol("PLAIN") in mechs.sasl_server_mechanisms
        self.send(
            encode_sasl_frame(
                SaslInit(mechanism=Symbol("PLAIN"), initial_response=encode_plain(user, password))
            )
        )
        return self.next()

    def open(self, idle: int | None = None) -> Open:
        outcome = self.sasl_plain()
        assert isinstance(outcome, SaslOutcome) and outcome.code == 0
        self.parser.expect_header()
        self.send(
            AMQP_HEADER
            + encode_frame(0, Open(container_id="wire", idle_time_out=UInt(idle) if idle else None))
        )
        assert self.next() == ProtocolHeader(AMQP_HEADER)
        o = self.next()
        assert isinstance(o, Open)
        return o

    def close(self) -> None:
        self.sock.close()


def still_serving(b: BrokerProcess) -> None:
    p = Peer(b.ports["amqp"])
    o = p.open()
    assert o.max_frame_size >= 512
    p.send(encode_frame(0, Close()))
    assert isinstance(p.next(), Close)
    p.close()


def test_bad_protocol_header_gets_ours_and_a_close(broker: BrokerProcess) -> None:
    p = Peer(broker.ports["amqp"])
    p.send(b"GET / HTTP/1.1\r\n\r\n")
    ev = p.next()
    assert isinstance(ev, ProtocolHeader) and ev.valid
    p.expect_closed()
    still_serving(broker)


def test_unsupported_version_header(broker: BrokerProcess) -> None:
    p = Peer(broker.ports["amqp"])
    p.send(b"AMQP\x00\x00\x09\x01")  # AMQP 0-9-1
    ev = p.next()
    assert isinstance(ev, ProtocolHeader) and ev.supported
    p.expect_closed()


def test_sasl_wrong_password_fails_with_auth(broker: BrokerProcess) -> None:
    p = Peer(broker.ports["amqp"])
    outcome = p.sasl_plain(password="nope")
    assert isinstance(outcome, SaslOutcome) and outcome.code == 1
    p.expect_closed()
    still_serving(broker)


def test_sasl_unknown_mechanism(broker: BrokerProcess) -> None:
    p = Peer(broker.ports["amqp"])
    p.send(SASL_HEADER)
    p.next()
    p.next()
    p.send(encode_sasl_frame(SaslInit(mechanism=Symbol("CRAM-MD5"), initial_response=b"x")))
    outcome = p.next()
    assert isinstance(outcome, SaslOutcome) and outcome.code == 1
    p.expect_closed()


def test_no_sasl_and_no_anonymous_is_unauthorized(broker: BrokerProcess) -> None:
    p = Peer(broker.ports["amqp"])
    p.send(AMQP_HEADER + encode_frame(0, Open(container_id="anon")))
    assert p.next() == ProtocolHeader(AMQP_HEADER)
    assert isinstance(p.next(), Open)
    c = p.next()
    assert isinstance(c, Close) and c.error.condition == "amqp:unauthorized-access"
    p.expect_closed()


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x00\x00\x0c\x02\x00\x00\x00\xff\xff\xff\xff",  # undefined constructor
        b"\x00\x00\x00\x0c\x02\x00\x00\x00\xa1\x05ab",  # a string running past the frame
        b"\x00\x00\x00\x0b\x02\x00\x00\x00\x00\x53\x99",  # a described type nobody knows
        b"\x00\x00\x00\x0a\x02\x00\x00\x00\xa1\x00",  # a string, not a performative
        b"\x00\x00\x00\x08\x05\x00\x00\x00",  # data offset 5 past the frame end
        b"\x00\x00\x00\x04\x02\x00\x00\x00",  # size below the frame header
        b"\x00\x00\x00\x0a\x02\x07\x00\x00\x00\x00",  # unknown frame type
    ],
)
def test_malformed_frame_closes_with_an_error(broker: BrokerProcess, frame: bytes) -> None:
    p = Peer(broker.ports["amqp"])
    p.open()
    p.send(frame)
    c = p.next()
    assert isinstance(c, Close), c
    assert c.error.condition in ("amqp:decode-error", "amqp:connection:framing-error")
    p.expect_closed()
    still_serving(broker)


def test_oversized_frame_is_a_framing_error(broker: BrokerProcess) -> None:
    p = Peer(broker.ports["amqp"])
    o = p.open()
    p.send((int(o.max_frame_size) + 1).to_bytes(4, "big") + b"\x02\x00\x00\x00")
    c = p.next()
    assert isinstance(c, Close) and c.error.condition == "amqp:connection:framing-error"
    p.expect_closed()


def test_frames_before_open_and_unknown_session(broker: BrokerProcess) -> None:
    p = Peer(broker.ports["amqp"])
    p.open()
    # an attach on a channel with no session
    p.send(encode_frame(3, Attach(name="x", handle=0, role=True, source=Source(address="q"))))
    c = p.next()
    assert isinstance(c, Close) and c.error.condition == "amqp:illegal-state"
    p.expect_closed()


def test_channel_above_channel_max(broker: BrokerProcess) -> None:
    p = Peer(broker.ports["amqp"])
    o = p.open()
    p.send(
        encode_frame(
            int(o.channel_max) + 1, Begin(next_outgoing_id=0, incoming_window=10, outgoing_window=10)
        )
    )
    c = p.next()
    assert isinstance(c, Close) and c.error.condition == "amqp:resource-limit-exceeded"


def test_broker_heartbeats_at_half_our_idle_timeout(broker: BrokerProcess) -> None:
    p = Peer(broker.ports["amqp"])
    o = p.open(idle=1000)
    assert o.idle_time_out and o.idle_time_out >= 1000  # the broker's own idle timeout
    start = time.monotonic()
    beats = 0
    while time.monotonic() - start < 2.2:
        if p.next(timeout=3) is None:
            beats += 1
    assert beats >= 3  # every ~0.5 s
    p.close()


# -- the adapter in memory: timers --------------------------------------------------------------
class _Conn:
    id = "c-1"
    client_id = None
    max_subscriptions = 0

    def open_session(self) -> object:
        return object()

    def close(self) -> None:
        self.closed = True


class _Broker:
    name = "wire"

    def connect(self, *a: Any, **kw: Any) -> _Conn:
        return _Conn()


class _Auth:
    def authenticate(self, creds: Any) -> Completion:
        return Completion.done(Principal("u"))


def _adapter(**limits: Any) -> AmqpAdapter:
    ctx = AdapterContext(
        broker=_Broker(),
        authenticator=_Auth(),
        limits=ProtocolLimits(**limits),
        peer=PeerInfo("127.0.0.1", 1),
    )
    return AmqpAdapter(ctx)


def _events(data: list[bytes]) -> list[Any]:
    parser = FrameParser(1 << 30)
    parser.expect_header()
    return [e.performative for e in parser.feed(b"".join(data))]


def test_idle_peer_is_closed_after_the_idle_timeout() -> None:
    a = _adapter()
    plain = encode_plain("u", "p")
    a.receive_data(
        SASL_HEADER + encode_sasl_frame(SaslInit(mechanism=Symbol("PLAIN"), initial_response=plain))
    )
    a.receive_data(AMQP_HEADER + encode_frame(0, Open(container_id="x")))
    out = a.data_to_send()
    assert any(isinstance(e, Open) for e in _events(out))
    now = time.monotonic()
    assert a.tick(now + 5) is not None and not a.should_close()
    a.tick(now + 31)
    events = FrameParser(1 << 30).feed(b"".join(a.data_to_send()))
    closes = [e.performative for e in events if isinstance(e.performative, Close)]
    assert closes and closes[0].error.condition == "amqp:resource-limit-exceeded"
    assert a.should_close()


def test_connect_timeout_without_open() -> None:
    a = _adapter(connect_timeout=2.0)
    a.receive_data(AMQP_HEADER)
    a.data_to_send()
    a.tick(time.monotonic() + 3)
    events = FrameParser(1 << 30).feed(b"".join(a.data_to_send()))
    assert [type(e.performative).__name__ for e in events] == ["Open", "Close"]
    assert a.should_close()


def test_frames_pipelined_after_sasl_are_kept_in_order() -> None:
    a = _adapter()
    plain = encode_plain("u", "p")
    a.receive_data(
        SASL_HEADER
        + encode_sasl_frame(SaslInit(mechanism=Symbol("PLAIN"), initial_response=plain))
        + AMQP_HEADER
        + encode_frame(0, Open(container_id="x"))
        + encode_frame(0, Close())
    )
    kinds = [type(e).__name__ for e in _events(a.data_to_send())]
    assert kinds == ["ProtocolHeader", "SaslMechanisms", "SaslOutcome", "ProtocolHeader", "Open", "Close"]
    assert a.should_close()
