"""AMQP 1.0 SASL frame bodies and the PLAIN helpers."""

from __future__ import annotations

import pytest

from ferrymq.protocols.amqp.framing import SASL_HEADER, FrameParser, encode_sasl_frame
from ferrymq.protocols.amqp.sasl import (
    SaslChallenge,
    SaslCode,
    SaslInit,
    SaslMechanisms,
    SaslOutcome,
    SaslResponse,
    encode_plain,
    parse_plain,
)
from ferrymq.protocols.amqp.types import AmqpCodecError, Symbol


def test_sasl_exchange_frames_roundtrip() -> None:
    frames = [
        SaslMechanisms(sasl_server_mechanisms=[Symbol("PLAIN"), Symbol("ANONYMOUS")]),
        SaslInit(
            mechanism=Symbol("PLAIN"), initial_response=encode_plain("alice", "s3cret"), hostname="broker"
        ),
        SaslChallenge(challenge=b"nonce"),
        SaslResponse(response=b"answer"),
        SaslOutcome(code=SaslCode.AUTH, additional_data=b"no"),
    ]
    data = SASL_HEADER + b"".join(encode_sasl_frame(f) for f in frames)
    p = FrameParser(512)
    p.expect_header()
    events = p.feed(data)
    assert events[0].performative.is_sasl
    assert [e.performative for e in events[1:]] == frames
    assert all(e.payload == b"" for e in events)
    assert events[-1].performative.code == 1


def test_outcome_codes() -> None:
    assert [int(c) for c in SaslCode] == [0, 1, 2, 3, 4]
    assert [c.name for c in SaslCode] == ["OK", "AUTH", "SYS", "SYS_PERM", "SYS_TEMP"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x00alice\x00pw", ("", "alice", "pw")),
        (b"admin\x00alice\x00pw", ("admin", "alice", "pw")),
        (b"\x00alice\x00", ("", "alice", "")),
        ("\x00j\u00fcrgen\x00p\u00e4ss".encode(), ("", "j\u00fcrgen", "p\u00e4ss")),
    ],
)
def test_parse_plain(raw: bytes, expected: tuple[str, str, str]) -> None:
    assert parse_plain(raw) == expected
    assert encode_plain(expected[1], expected[2], expected[0]) == raw


@pytest.mark.parametrize(
    "raw", [None, b"", b"alice", b"\x00alice", b"\x00\x00pw", b"a\x00b\x00c\x00d", b"\x00\xff\x00x"]
)
def test_parse_plain_rejects(raw: bytes | None) -> None:
    with pytest.raises(AmqpCodecError):
        parse_plain(raw)
