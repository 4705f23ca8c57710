"""STOMP frames and names to and from the core's message and names, as ActiveMQ maps them
(docs/mapping.md): ``content-length`` makes a bytes message, its absence a text message;
``persistent:true`` makes it durable (STOMP's default is non-persistent)."""

from __future__ import annotations

import json
from typing import Any

from ferrymq.core import (
    BYTES,
    EMPTY,
    MAP,
    QUEUE,
    STREAM,
    TEMP_QUEUE,
    TEMP_TOPIC,
    TEXT,
    TOPIC,
    DestinationName,
    InvalidRequest,
    Message,
    quick_message,
)

PREFIXES = (
    ("/queue/", QUEUE),
    ("/topic/", TOPIC),
    ("/temp-queue/", TEMP_QUEUE),
    ("/temp-topic/", TEMP_TOPIC),
    ("/remote-temp-queue/", TEMP_QUEUE),
    ("/remote-temp-topic/", TEMP_TOPIC),
)

#: headers that describe the frame, not the message, and never become properties
FRAME_HEADERS = frozenset({
    "destination", "content-length", "receipt", "transaction", "message-id", "timestamp",
    "persistent", "priority", "expires", "correlation-id", "reply-to", "type", "JMSXGroupID",
    "JMSXGroupSeq", "content-type", "amq-msg-type", "subscription", "ack", "redelivered",
    "login", "passcode", "host", "accept-version", "heart-beat", "id", "selector",
    "JMSXUserID", "transformation", "original-destination",
})

INTERNAL_PROPS = {"originalDestination": "original-destination"}


def parse_destination(text: str) -> tuple[str, str, bool]:
    """``/queue/a`` -> (kind, path, remote). ``remote`` is false for a connection's own
    ``/temp-queue/NAME`` (a name the connection chose, not a broker-wide path)."""
    for prefix, kind in PREFIXES:
        if text.startswith(prefix):
            path = text[len(prefix):]
            if not path:
                raise InvalidRequest(f"destination {text!r} has no name")
            return kind, path, prefix.startswith("/remote-")
    raise InvalidRequest(
        f"illegal destination name {text!r}: STOMP destinations must begin with one of "
        "/queue/ /topic/ /temp-queue/ /temp-topic/"
    )


def name_from_core(dest: DestinationName) -> str:
    kind = dest.kind
    if kind == QUEUE:
        return "/queue/" + dest.path
    if kind == TOPIC:
        return "/topic/" + dest.path
    if kind == TEMP_QUEUE:
        return "/remote-temp-queue/" + dest.path
    return "/remote-temp-topic/" + dest.path


def _int(headers: dict[str, str], name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
    v = headers.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v.strip())
    except ValueError:
        raise InvalidRequest(f"header {name} must be an integer, got {v!r}") from None
    if lo is not None and n < lo or hi is not None and n > hi:
        raise InvalidRequest(f"header {name} must be between {lo} and {hi}, got {n}")
    return n


class SendTemplate:
    """What a SEND's headers alone decide about its message, worked out once per header
    dict (a connection repeating the same headers reuses it; see FrameParser's head cache)."""

    __slots__ = ("headers", "as_bytes", "props", "persistent", "priority", "expiration",
                 "correlation_id", "type", "group_id", "group_seq", "content_type")

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        msg_type = headers.get("amq-msg-type")
        #: True: the body is bytes; False: text when it decodes as UTF-8
        self.as_bytes = msg_type == "bytes" or (msg_type != "text" and "content-length" in headers)
        self.props: dict[str, Any] = {k: v for k, v in headers.items()
                                      if k not in FRAME_HEADERS and not k.startswith("activemq.")}
        get = headers.get
        p = get("persistent")
        self.persistent = p == "true" or (p is not None and p.lower() == "true")
        self.priority = _int(headers, "priority", 4, 0, 9) if "priority" in headers else 4
        self.expiration = _int(headers, "expires", 0, 0) if "expires" in headers else 0
        self.correlation_id = get("correlation-id")
        self.type = get("type")
        self.group_id = get("JMSXGroupID")
        self.group_seq = _int(headers, "JMSXGroupSeq", 0, 0) if "JMSXGroupSeq" in headers else 0
        self.content_type = get("content-type")


def to_core(headers: dict[str, str], body: bytes, dest: DestinationName,
            reply_to: DestinationName | None, template: SendTemplate | None = None) -> Message:
    """The core message of a SEND. ``template`` (made from these very headers) saves the
    header work when a connection sends many messages with the same headers."""
    t = template if template is not None else SendTemplate(headers)
    value: str | bytes
    if t.as_bytes:
        kind, value = BYTES, body
    else:
        try:
            kind, value = TEXT, body.decode("utf-8")
        except UnicodeDecodeError:
            kind, value = BYTES, body
    m = quick_message(dest, value, kind, dict(t.props) if t.props else {}, t.persistent, "stomp", len(value))
    m.priority = t.priority
    m.expiration = t.expiration
    m.correlation_id = t.correlation_id
    m.reply_to = reply_to
    m.type = t.type
    m.group_id = t.group_id
    m.group_seq = t.group_seq
    m.content_type = t.content_type
    return m


def _prop_str(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, bytes | bytearray):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, DestinationName):
        return name_from_core(v)
    return str(v)


#: "destination:<escaped name>\nmessage-id:" per (destination, STOMP version); bounded
_DEST_LINES: dict[tuple[DestinationName, str], str] = {}


def encode_message_part(msg: Message, version: str, escape: Any) -> bytes:
    """The shared part of every MESSAGE frame for ``msg``: message headers, the blank line,
    the body and the NUL. Cached per message and version; per-delivery headers
    (subscription, ack, redelivered) are written in front of it by the adapter."""
    # the numeric headers never need escaping
    key = (msg.destination, version)
    dest_line = _DEST_LINES.get(key)
    if dest_line is None:
        if len(_DEST_LINES) >= 4096:
            _DEST_LINES.clear()
        dest_line = _DEST_LINES[key] = f"destination:{escape(name_from_core(msg.destination))}\nmessage-id:"
    head = (f"{dest_line}{escape(msg.message_id)}\n"
            f"timestamp:{msg.timestamp}\nexpires:{msg.expiration}\npriority:{msg.priority}\n")
    h: list[tuple[str, str]] = []
    if msg.persistent:
        h.append(("persistent", "true"))
    if msg.correlation_id is not None:
        h.append(("correlation-id", msg.correlation_id))
    if msg.reply_to is not None:
        h.append(("reply-to", name_from_core(msg.reply_to)))
    if msg.type is not None:
        h.append(("type", msg.type))
    if msg.content_type is not None:
        h.append(("content-type", msg.content_type))
    if msg.group_seq:
        h.append(("JMSXGroupSeq", str(msg.group_seq)))
    if msg.user_id is not None:
        h.append(("JMSXUserID", msg.user_id))
    for k, v in msg.properties.items():
        name = INTERNAL_PROPS.get(k, k)
        if name in FRAME_HEADERS and name not in INTERNAL_PROPS.values():
            continue
        if isinstance(v, str) and k == "originalDestination" and "://" in v:
            kind, _, path = v.partition("://")
            v = name_from_core(DestinationName(kind, path))
        h.append((name, _prop_str(v)))
    kind = msg.body_kind
    body = msg.body
    if kind == TEXT:
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        need_length = b"\x00" in data
    elif kind == BYTES:
        data = bytes(body)
        need_length = True
    elif kind == EMPTY:
        data = b""
        need_length = False
    elif kind in (MAP, STREAM):
        data = json.dumps(body, default=_json_default).encode("utf-8")
        h.append(("transformation", "jms-map-json" if kind == MAP else "jms-stream-json"))
        need_length = False
    else:  # object messages travel as opaque bytes
        data = bytes(body) if isinstance(body, bytes | bytearray) else str(body).encode()
        need_length = True
    if not h:  # the common case: only the content-length, which needs no escaping
        tail = f"content-length:{len(data)}\n\n" if need_length else "\n"
        return (head + tail).encode("utf-8") + data + b"\x00"
    if need_length:
        h.append(("content-length", str(len(data))))
    parts = [head]
    for k, v in h:
        parts.append(escape(k))
        parts.append(":")
        parts.append(escape(v))
        parts.append("\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8") + data + b"\x00"


def _json_default(o: Any) -> Any:
    if isinstance(o, bytes | bytearray):
        return bytes(o).decode("latin-1")
    return str(o)
