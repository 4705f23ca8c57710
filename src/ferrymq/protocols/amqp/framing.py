"""AMQP 1.0 framing (part 2.2-2.3): protocol headers, frames, heartbeats.

A frame is ``size:uint32 doff:uint8 type:uint8 channel:uint16``, ``doff*4-8`` bytes of
extended header (ignored), then the body: one performative (type 0, AMQP) or one SASL
frame body (type 1, SASL), then, for a transfer, the message payload. A frame with an empty
body is a heartbeat.

:class:`FrameParser` is incremental: ``feed(data)`` returns every complete event in the
buffer at once as :class:`FrameEvent` ``(channel, performative, payload)`` tuples:

* a heartbeat is ``(channel, None, b"")``;
* a protocol header is ``(0, ProtocolHeader, b"")``. After :meth:`FrameParser.expect_header`
  the next 8 bytes are a header; a peer whose first bytes cannot be a header yields a header
  event with ``valid == False`` and the parser then ignores all further input (the adapter
  answers with its own header and closes, as part 2.2 asks). Eight bytes starting ``AMQP`` at
  a frame boundary are also reported as a header (a frame that large, 1 GB, is never
  accepted), so a client that pipelines its AMQP header after the SASL exchange parses.
* any other frame is ``(channel, performative, payload)``; ``payload`` is the transfer's
  message bytes (``bytes``, or a ``memoryview`` over the parsed chunk, valid after the
  call) or ``b""``.

Errors raise ``AmqpCodecError``: frame structure and sizes over ``max_frame_size`` with
condition ``amqp:connection:framing-error``, undecodable bodies with ``amqp:decode-error``.
After an error the parser's state is undefined: close the connection.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from ferrymq.protocols.amqp.performatives import Performative, Transfer
from ferrymq.protocols.amqp.sasl import SaslPerformative
from ferrymq.protocols.amqp.types import (
    _LOW_LEVEL_ERRORS,
    FRAMING_ERROR,
    AmqpCodecError,
    UInt,
    _list_items,
    decode_value,
    encode_value,
)

__all__ = [
    "AMQP_HEADER",
    "FRAME_AMQP",
    "FRAME_SASL",
    "HEARTBEAT",
    "SASL_HEADER",
    "TLS_HEADER",
    "FrameEvent",
    "FrameParser",
    "ProtocolHeader",
    "encode_frame",
    "encode_frame_into",
    "encode_sasl_frame",
    "encode_transfer",
]

AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
TLS_HEADER = b"AMQP\x02\x01\x00\x00"
SASL_HEADER = b"AMQP\x03\x01\x00\x00"
PROTO_AMQP = 0
PROTO_TLS = 2
PROTO_SASL = 3
FRAME_AMQP = 0
FRAME_SASL = 1
FRAME_HEADER_SIZE = 8
#: an empty AMQP frame on channel 0
HEARTBEAT = b"\x00\x00\x00\x08\x02\x00\x00\x00"

_frame_head = struct.Struct(">IBBH")
_u32 = struct.Struct(">I").unpack_from
_u16 = struct.Struct(">H").unpack_from
_pack_head = _frame_head.pack
_pack_into_head = _frame_head.pack_into
#: decoders of the performatives (codes 0x10-0x18) from their field lists
_PERFORMATIVES: dict[int, Any] = {
    cls.SPEC.code: cls._decode_fields for cls in Performative.__subclasses__() if "SPEC" in cls.__dict__
}


class ProtocolHeader(NamedTuple):
    """The 8-byte protocol header as received (possibly shorter when invalid)."""

    raw: bytes

    @property
    def valid(self) -> bool:
        """Eight bytes starting with ``AMQP``."""
        return len(self.raw) == 8 and self.raw[:4] == b"AMQP"

    @property
    def protocol_id(self) -> int | None:
        return self.raw[4] if self.valid else None

    @property
    def version(self) -> tuple[int, int, int] | None:
        return (self.raw[5], self.raw[6], self.raw[7]) if self.valid else None

    @property
    def supported(self) -> bool:
        """One of the AMQP, TLS or SASL headers of version 1.0.0."""
        return self.raw in (AMQP_HEADER, TLS_HEADER, SASL_HEADER)

    @property
    def is_amqp(self) -> bool:
        return self.raw == AMQP_HEADER

    @property
    def is_sasl(self) -> bool:
        return self.raw == SASL_HEADER

    @property
    def is_tls(self) -> bool:
        return self.raw == TLS_HEADER


class FrameEvent(NamedTuple):
    channel: int
    #: Performative, SaslPerformative, ProtocolHeader, or None for a heartbeat
    performative: Any
    payload: bytes | memoryview


def _framing(msg: str) -> AmqpCodecError:
    return AmqpCodecError(msg, FRAMING_ERROR)


class FrameParser:
    """Incremental frame parser; see the module documentation."""

    __slots__ = ("max_frame_size", "_buf", "_expect_header", "_dead")

    def __init__(self, max_frame_size: int) -> None:
        #: frames larger than this are a framing error; raise it once open is negotiated
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._expect_header = False
        self._dead = False

    def expect_header(self) -> None:
        """The next 8 bytes are a protocol header."""
        self._expect_header = True

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview = b"") -> list[FrameEvent]:
        if self._dead:
            return []
        buf = self._buf
        work: bytes | bytearray
        if buf:
            buf += data
            work = buf
        else:
            work = data if type(data) is bytes else bytes(data)
        n = len(work)
        # phase 1: find complete units without copying
        pos = 0
        units: list[int] = []  # end offsets; header units are negative (-end)
        bad_header = False
        max_size = self.max_frame_size
        expect = self._expect_header
        while pos < n:
            avail = n - pos
            # a header starts with "A" (0x41); a frame's size never does (it would be >= 1 GB)
            if expect or (work[pos] == 0x41 and work[pos : pos + 4] == b"AMQP"[: min(4, avail)]):
                if expect and work[pos : pos + min(4, avail)] != b"AMQP"[: min(4, avail)]:
                    bad_header = True
                    units.append(-(pos + min(avail, 8)))
                    pos = n
                    break
                if avail < 8:
                    break
                pos += 8
                units.append(-pos)
                expect = False
                continue
            if avail < 4:
                break
            size = _u32(work, pos)[0]
            if size < FRAME_HEADER_SIZE:
                raise _framing(f"frame size {size} is below the 8-byte frame header")
            if size > max_size:
                raise _framing(f"frame of {size} bytes exceeds the max-frame-size {max_size}")
            if avail < size:
                break
            pos += size
            units.append(pos)
        self._expect_header = expect
        if not units:
            if work is not buf:
                buf += work
            return []
        # phase 2: parse the complete units from one immutable chunk
        chunk: bytes
        if work is buf:
            chunk = bytes(buf[:pos])
            del buf[:pos]
        else:
            chunk = bytes(work) if pos == n else bytes(work[:pos])
            if pos < n:
                buf += work[pos:]
        if bad_header:
            self._dead = True
            buf.clear()
        view = memoryview(chunk)
        events: list[FrameEvent] = []
        append = events.append
        start = 0
        for end in units:
            if end < 0:
                end = -end
                append(FrameEvent(0, ProtocolHeader(chunk[start:end]), b""))
            else:
                append(_parse_frame(chunk, view, start, end))
            start = end
        return events


def _parse_frame(chunk: bytes, view: memoryview, start: int, end: int) -> FrameEvent:
    doff = chunk[start + 4]
    ftype = chunk[start + 5]
    channel = _u16(chunk, start + 6)[0]
    body = start + doff * 4
    if doff < 2 or body > end:
        raise _framing(f"invalid data offset {doff}")
    if ftype > FRAME_SASL:
        raise _framing(f"unknown frame type {ftype}")
    if body == end:
        return FrameEvent(channel, None, b"")
    perf = None
    if ftype == FRAME_AMQP and body + 5 < end and chunk[body] == 0 and chunk[body + 1] == 0x53:
        # a performative as a list8 under a smallulong descriptor (what peers send): decode
        # its fields straight from the list, without the generic described-value path
        code = chunk[body + 2]
        size = chunk[body + 4]
        if code == 0x14 and chunk[body + 3] == 0xC0:
            pos = body + 5 + size
            if pos <= end:
                try:
                    perf = _fast_transfer(chunk, body + 6, chunk[body + 5], pos)
                except (IndexError, struct.error):
                    perf = None  # overran its list: the generic decoder says how
                if perf is not None:
                    return FrameEvent(channel, perf, chunk[pos:end])
        conv = _PERFORMATIVES.get(code)
        if conv is not None and chunk[body + 3] == 0xC0 and size:
            try:
                items, pos = _list_items(chunk, body + 6, chunk[body + 5], body + 5 + size)
                perf = conv(items)
            except AmqpCodecError:
                raise
            except _LOW_LEVEL_ERRORS as exc:
                raise AmqpCodecError(f"malformed AMQP value: {type(exc).__name__}: {exc}") from None
    if perf is None:
        perf, pos = decode_value(chunk, body)
    if pos > end:
        raise AmqpCodecError("performative runs past the end of its frame")
    if ftype == FRAME_AMQP:
        if not isinstance(perf, Performative):
            raise _framing(f"AMQP frame body is not a performative: {type(perf).__name__}")
    elif not isinstance(perf, SaslPerformative):
        raise _framing(f"SASL frame body is not a SASL performative: {type(perf).__name__}")
    return FrameEvent(channel, perf, view[pos:end] if pos < end else b"")


_new = object.__new__
_UINT_SMALL = [UInt(i) for i in range(256)]


def _fast_transfer(b: bytes, q: int, count: int, stop: int) -> Transfer | None:
    """A transfer's list8 items (``q``..``stop``) when its first six fields use the common
    encodings (null, uint0/smalluint/uint, vbin8, the boolean forms) and no later field is
    present; None otherwise, and the generic decoder takes it (and raises its errors).
    The result equals what the generic decoder builds."""
    if count > 6 or count == 0:
        return None
    u = _UINT_SMALL
    # handle (mandatory uint)
    c = b[q]
    if c == 0x43:
        handle = u[0]
        q += 1
    elif c == 0x52:
        handle = u[b[q + 1]]
        q += 2
    elif c == 0x70:
        handle = UInt(_u32(b, q + 1)[0])
        q += 5
    else:
        return None
    did: Any = None
    tag: Any = None
    fmt: Any = None
    settled: Any = None
    more = False
    if count > 1:
        c = b[q]
        if c == 0x52:
            did = u[b[q + 1]]
            q += 2
        elif c == 0x70:
            did = UInt(_u32(b, q + 1)[0])
            q += 5
        elif c == 0x43:
            did = u[0]
            q += 1
        elif c == 0x40:
            q += 1
        else:
            return None
        if count > 2:
            c = b[q]
            if c == 0xA0:
                e = q + 2 + b[q + 1]
                if e > stop:
                    return None
                tag = b[q + 2 : e]
                q = e
            elif c == 0x40:
                q += 1
            else:
                return None
            if count > 3:
                c = b[q]
                if c == 0x43:
                    fmt = u[0]
                    q += 1
                elif c == 0x52:
                    fmt = u[b[q + 1]]
                    q += 2
                elif c == 0x70:
                    fmt = UInt(_u32(b, q + 1)[0])
                    q += 5
                elif c == 0x40:
                    q += 1
                else:
                    return None
                if count > 4:
                    c = b[q]
                    if c == 0x41:
                        settled = True
                    elif c == 0x42:
                        settled = False
                    elif c != 0x40:
                        return None
                    q += 1
                    if count > 5:
                        c = b[q]
                        if c == 0x41:
                            more = True
                        elif c != 0x42 and c != 0x40:
                            return None
                        q += 1
    if q != stop:
        return None
    t = _new(Transfer)
    t.handle = handle
    t.delivery_id = did
    t.delivery_tag = tag
    t.message_format = fmt
    t.settled = settled
    t.more = more
    t.rcv_settle_mode = None
    t.state = None
    t.resume = False
    t.aborted = False
    t.batchable = False
    return t  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- encoding


def encode_frame_into(
    out: bytearray,
    channel: int,
    performative: Any,
    payload: bytes | bytearray | memoryview = b"",
    frame_type: int = FRAME_AMQP,
) -> None:
    """Append one frame to ``out``; ``performative`` None makes a heartbeat."""
    start = len(out)
    out += _pack_head(0, 2, frame_type, channel)
    if performative is not None:
        performative.encode(out)
    if payload:
        out += payload
    _pack_into_head(out, start, len(out) - start, 2, frame_type, channel)


def encode_frame(channel: int, performative: Any, payload: bytes | bytearray | memoryview = b"") -> bytes:
    out = bytearray()
    encode_frame_into(out, channel, performative, payload)
    return bytes(out)


def encode_sasl_frame(performative: SaslPerformative) -> bytes:
    out = bytearray()
    encode_frame_into(out, 0, performative, b"", FRAME_SASL)
    return bytes(out)


def encode_transfer(
    out: bytearray,
    channel: int,
    transfer: Transfer,
    payload: bytes | bytearray | memoryview,
    max_frame_size: int,
) -> int:
    """Append ``transfer`` with ``payload``, split over as many frames as ``max_frame_size``
    needs (``more`` set on all but the last; continuations carry only handle and more).
    Returns the number of frames written. ``transfer`` is left unchanged."""
    view = memoryview(payload).cast("B")
    first = bytearray()
    transfer.encode(first)
    total = len(view)
    if FRAME_HEADER_SIZE + len(first) + total <= max_frame_size:
        start = len(out)
        out += _pack_head(0, 2, FRAME_AMQP, channel)
        out += first
        out += view
        _pack_into_head(out, start, len(out) - start, 2, FRAME_AMQP, channel)
        return 1
    saved_more = transfer.more
    try:
        transfer.more = True
        head = bytearray()
        transfer.encode(head)
    finally:
        transfer.more = saved_more
    cont_more = bytearray()
    Transfer(handle=transfer.handle, more=True).encode(cont_more)
    cont_last = bytearray()
    Transfer(handle=transfer.handle, more=saved_more).encode(cont_last)
    frames = 0
    offset = 0
    perf = head
    while True:
        room = max_frame_size - FRAME_HEADER_SIZE - len(perf)
        if room <= 0:
            raise ValueError("max_frame_size too small for the transfer performative")
        take = min(room, total - offset)
        start = len(out)
        out += _pack_head(0, 2, FRAME_AMQP, channel)
        out += perf
        out += view[offset : offset + take]
        _pack_into_head(out, start, len(out) - start, 2, FRAME_AMQP, channel)
        frames += 1
        offset += take
        if perf is cont_last:
            return frames
        if total - offset <= max_frame_size - FRAME_HEADER_SIZE - len(cont_last):
            perf = cont_last
        else:
            perf = cont_more


def encode_value_frame(channel: int, value: Any) -> bytes:
    """A frame whose body is an arbitrary AMQP value (for tests of peers' error handling)."""
    out = bytearray(_pack_head(0, 2, FRAME_AMQP, channel))
    encode_value(value, out)
    _pack_into_head(out, 0, len(out), 2, FRAME_AMQP, channel)
    return bytes(out)
