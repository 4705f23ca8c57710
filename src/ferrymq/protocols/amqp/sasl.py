"""AMQP 1.0 SASL frame bodies (part 5.3) and PLAIN/ANONYMOUS helpers.

The SASL performatives are table-driven composites like the transport performatives and
travel in frames of type 1 (see :func:`ferrymq.protocols.amqp.framing.encode_sasl_frame`).
"""

from __future__ import annotations

import enum

from ferrymq.protocols.amqp.performatives import MM, Composite, M, build_table
from ferrymq.protocols.amqp.types import AmqpCodecError, Symbol

__all__ = [
    "SASL_TABLE",
    "SaslChallenge",
    "SaslCode",
    "SaslInit",
    "SaslMechanisms",
    "SaslOutcome",
    "SaslPerformative",
    "SaslResponse",
    "encode_plain",
    "parse_plain",
]

ANONYMOUS = Symbol("ANONYMOUS")
PLAIN = Symbol("PLAIN")
EXTERNAL = Symbol("EXTERNAL")


class SaslCode(enum.IntEnum):
    """sasl-code: the outcome of the exchange."""

    OK = 0
    AUTH = 1  # bad credentials
    SYS = 2  # system error
    SYS_PERM = 3  # permanent system error
    SYS_TEMP = 4  # transient system error


SASL_TABLE = build_table(
    [
        ("SaslMechanisms", 0x40, "amqp:sasl-mechanisms:list", [
            ("sasl-server-mechanisms", "symbol", None, MM),
        ]),
        ("SaslInit", 0x41, "amqp:sasl-init:list", [
            ("mechanism", "symbol", None, M),
            ("initial-response", "binary", None, ""),
            ("hostname", "string", None, ""),
        ]),
        ("SaslChallenge", 0x42, "amqp:sasl-challenge:list", [
            ("challenge", "binary", None, M),
        ]),
        ("SaslResponse", 0x43, "amqp:sasl-response:list", [
            ("response", "binary", None, M),
        ]),
        ("SaslOutcome", 0x44, "amqp:sasl-outcome:list", [
            ("code", "ubyte", None, M),
            ("additional-data", "binary", None, ""),
        ]),
    ]
)  # fmt: skip


class SaslPerformative(Composite):
    """The body of a SASL (type 1) frame."""

    __slots__ = ()


class SaslMechanisms(SaslPerformative):
    SPEC = SASL_TABLE["SaslMechanisms"]
    __slots__ = SPEC.slots


class SaslInit(SaslPerformative):
    SPEC = SASL_TABLE["SaslInit"]
    __slots__ = SPEC.slots


class SaslChallenge(SaslPerformative):
    SPEC = SASL_TABLE["SaslChallenge"]
    __slots__ = SPEC.slots


class SaslResponse(SaslPerformative):
    SPEC = SASL_TABLE["SaslResponse"]
    __slots__ = SPEC.slots


class SaslOutcome(SaslPerformative):
    SPEC = SASL_TABLE["SaslOutcome"]
    __slots__ = SPEC.slots


def parse_plain(initial_response: bytes | None) -> tuple[str, str, str]:
    """Split a PLAIN initial response (RFC 4616: ``authzid NUL authcid NUL passwd``).

    Returns ``(authzid, authcid, password)``; authzid is ``""`` when absent. Raises
    ``AmqpCodecError`` when the response is not three UTF-8 parts or authcid is empty.
    """
    if not initial_response:
        raise AmqpCodecError("PLAIN needs an initial response")
    parts = bytes(initial_response).split(b"\x00")
    if len(parts) != 3 or not parts[1]:
        raise AmqpCodecError("PLAIN response must be authzid NUL authcid NUL password")
    try:
        authzid, authcid, passwd = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        raise AmqpCodecError("PLAIN response is not UTF-8") from None
    return authzid, authcid, passwd


def encode_plain(authcid: str, password: str, authzid: str = "") -> bytes:
    """The PLAIN initial response for these credentials."""
    return b"\x00".join(s.encode("utf-8") for s in (authzid, authcid, password))
