"""The STOMP 1.0/1.1/1.2 codec: bytes to :class:`Frame` objects and back (DESIGN R1).

Pure and stdlib only. A frame on the wire is::

    command EOL *( header EOL ) EOL body NUL

where EOL is LF or CR LF. EOLs seen where a command may start are heart-beats and come
out of :meth:`FrameParser.feed` as the :data:`HEARTBEAT` sentinel, one per EOL.

Header names and values are UTF-8. From STOMP 1.1 on they are escaped (``\\\\``, ``\\n``,
``\\c``, and ``\\r`` from 1.2); STOMP 1.0 has no escaping, and CONNECT and CONNECTED frames
are never escaped in any version. When a header is repeated the first occurrence wins.
A ``content-length`` header gives the exact body size (the body may then hold NULs);
without one the body runs to the first NUL.

Every problem with peer bytes is a :class:`StompCodecError`; the parser refuses oversized
input as soon as the size is known instead of buffering it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ferrymq.protocols.errors import CodecError

__all__ = [
    "ALL_COMMANDS",
    "CLIENT_COMMANDS",
    "HEARTBEAT",
    "HEARTBEAT_BYTES",
    "SERVER_COMMANDS",
    "VERSIONS",
    "Frame",
    "FrameParser",
    "StompCodecError",
    "encode_frame",
]


class StompCodecError(CodecError):
    """Bytes (or, from :func:`encode_frame`, headers) that are not valid STOMP.

    ``frames`` holds the frames and heart-beats the failing :meth:`FrameParser.feed` call
    decoded before it met the bad bytes, in order, so an adapter may still act on them.
    """

    def __init__(self, message: str, *, fatal: bool = True, code: object = None) -> None:
        super().__init__(message, fatal=fatal, code=code)
        self.frames: list[Frame | object] = []


class _Heartbeat:
    __slots__ = ()

    def __repr__(self) -> str:
        return "HEARTBEAT"


#: Yielded by :meth:`FrameParser.feed` for every EOL received between frames.
HEARTBEAT: object = _Heartbeat()
#: What a heart-beat looks like on the wire.
HEARTBEAT_BYTES = b"\n"

VERSIONS = ("1.0", "1.1", "1.2")

CLIENT_COMMANDS = frozenset(
    {
        "SEND",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "BEGIN",
        "COMMIT",
        "ABORT",
        "ACK",
        "NACK",
        "DISCONNECT",
        "CONNECT",
        "STOMP",
    }
)
SERVER_COMMANDS = frozenset({"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"})
ALL_COMMANDS = CLIENT_COMMANDS | SERVER_COMMANDS

# frames whose headers are never escaped, whatever the version (STOMP 1.1/1.2 "Value Encoding")
_UNESCAPED_COMMANDS = frozenset({"CONNECT", "CONNECTED"})

# command line bytes (with or without the CR of a CR LF) -> command
_COMMAND_LINES: dict[bytes, str] = {}
for _c in ALL_COMMANDS:
    _COMMAND_LINES[_c.encode("ascii")] = _c
    _COMMAND_LINES[_c.encode("ascii") + b"\r"] = _c
del _c
# the command line's LF must come within this many bytes of the frame start
_COMMAND_SCAN = max(len(c) for c in ALL_COMMANDS) + 2

# end of the header section: an empty line, LF or CR LF terminated
_BLANK_LINE = re.compile(rb"\n\r?\n")


_NEEDS_ESCAPE_11 = re.compile(r"[\\\n:]").search
_NEEDS_ESCAPE_12 = re.compile(r"[\\\r\n:]").search
_ESCAPE_11 = str.maketrans({"\\": "\\\\", "\n": "\\n", ":": "\\c"})
_ESCAPE_12 = str.maketrans({"\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c"})
_RAW_BAD_NAME = re.compile(r"[:\n]").search


class Frame:
    """One STOMP frame: a command, its headers (decoded and unescaped) and a body."""

    __slots__ = ("command", "headers", "body")

    def __init__(self, command: str, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.command = command
        self.headers: dict[str, str] = {} if headers is None else headers
        self.body = body

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return self.command == other.command and self.headers == other.headers and self.body == other.body

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 64 else self.body[:64] + b"..."
        return f"Frame({self.command!r}, {self.headers!r}, {body!r})"


def _invalid_escape(part: str) -> StompCodecError:
    at = part.find("\\")
    shown = part[at : at + 2] if at + 1 < len(part) else "\\ at end of header"
    return StompCodecError(f"invalid header escape {shown!r}")


def _unescape_11(text: str) -> str:
    """Undo STOMP 1.1 escaping: \\\\ \\n \\c; anything else after a backslash is an error."""
    if "\\" not in text:
        return text
    if "\\\\" not in text:  # no escaped backslash: plain replaces are exact
        out = text.replace("\\n", "\n").replace("\\c", ":")
        if "\\" in out:
            raise _invalid_escape(out)
        return out
    parts = text.split("\\\\")  # escaped backslashes pair up from the left
    for i, part in enumerate(parts):
        if "\\" in part:
            part = part.replace("\\n", "\n").replace("\\c", ":")
            if "\\" in part:
                raise _invalid_escape(part)
            parts[i] = part
    return "\\".join(parts)


def _unescape_12(text: str) -> str:
    """Undo STOMP 1.2 escaping: 1.1's sequences plus \\r."""
    if "\\" not in text:
        return text
    if "\\\\" not in text:  # no escaped backslash: plain replaces are exact
        out = text.replace("\\n", "\n").replace("\\c", ":").replace("\\r", "\r")
        if "\\" in out:
            raise _invalid_escape(out)
        return out
    parts = text.split("\\\\")
    for i, part in enumerate(parts):
        if "\\" in part:
            part = part.replace("\\n", "\n").replace("\\c", ":").replace("\\r", "\r")
            if "\\" in part:
                raise _invalid_escape(part)
            parts[i] = part
    return "\\".join(parts)


def _unescape_line(line: str, unescape: Callable[[str], str]) -> list[str]:
    name, value = line.split(":", 1)  # ValueError without ':', reported by the caller
    return [unescape(name), unescape(value)]


#: frame heads cached per parser, and the longest head cached
_HEAD_CACHE_SIZE = 32
_HEAD_CACHE_MAX = 1024
_new_frame = object.__new__


def _parse_content_length(value: str) -> int:
    text = value.strip(" \t")
    if not text or not text.isascii() or not text.isdigit() or len(text) > 18:
        raise StompCodecError(f"invalid content-length {value[:40]!r}")
    return int(text)


class FrameParser:
    """Incremental STOMP frame decoder.

    ``feed`` parses every complete frame in the buffer at once and keeps the incomplete
    tail. Consumed bytes are dropped once per call; the scans for the end of the header
    section and for the NUL resume where the previous call stopped, so feeding a large
    frame in small pieces stays linear. After a :class:`StompCodecError` the parser is
    dead: every later ``feed`` raises again.
    """

    def __init__(
        self,
        *,
        max_frame_size: int = 100 * 1024 * 1024,
        max_headers: int = 1000,
        max_header_length: int = 65536,
    ) -> None:
        self.max_frame_size = max_frame_size
        self.max_headers = max_headers
        self.max_header_length = max_header_length
        self._version = "1.0"
        #: stop parsing after a CONNECT/STOMP/CONNECTED frame (a server sets the negotiated
        #: version, then calls ``feed(b"")`` to parse what was pipelined behind it)
        self.stop_after_connect = False
        self._buf = bytearray()
        self._error: StompCodecError | None = None
        #: (command, headers, content-length) by the raw bytes of a frame's head: a client
        #: repeating the same head frame after frame has it parsed once. Bounded; the header
        #: dicts handed out are shared, so frames from this parser have read-only headers.
        self._head_cache: dict[bytes, tuple[str, dict[str, str], int]] = {}
        self._reset_partial()

    def _reset_partial(self) -> None:
        # state of the incomplete frame at the start of self._buf (offsets relative to it)
        self._pending: tuple[str, dict[str, str], int, int] | None = None  # command, headers, body at, length
        self._scan = 0  # where the next search for the blank line / the NUL starts
        self._hdr_scanned = 0  # header bytes already counted for the line limits
        self._hdr_lines = 0  # complete header lines seen so far
        self._line_start = 0  # start of the header line being received

    @property
    def version(self) -> str:
        return self._version

    @version.setter
    def version(self, value: str) -> None:
        if value not in VERSIONS:
            raise ValueError(f"unsupported STOMP version {value!r}")
        self._version = value
        self._head_cache.clear()  # escaping depends on the version

    @property
    def buffered(self) -> int:
        """Bytes of incomplete input held."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | object]:
        """Parse every complete frame in the buffer; return frames and heart-beats in order.

        Keeps incomplete data buffered. Raises :class:`StompCodecError` on bad input.
        """
        if self._error is not None:
            raise StompCodecError(f"STOMP parser already failed: {self._error.message}")
        if type(data) is not bytes:
            data = bytes(data)
        buf = self._buf
        src: bytes | bytearray
        if buf:
            buf += data
            src = buf
        else:
            src = data
        out: list[Frame | object] = []
        try:
            pos = self._parse(src, out)
        except StompCodecError as exc:
            exc.frames = out
            self._error = exc
            self._buf = bytearray()
            self._reset_partial()
            raise
        if src is buf:
            del buf[:pos]
        elif pos < len(src):
            self._buf = bytearray(memoryview(src)[pos:])
        return out

    def _too_big(self, size: int) -> StompCodecError:
        return StompCodecError(f"frame of {size} bytes exceeds max_frame_size of {self.max_frame_size} bytes")

    def _parse(self, src: bytes | bytearray, out: list[Frame | object]) -> int:
        n = len(src)
        pos = 0
        max_frame = self.max_frame_size
        version = self._version
        head_cache = self._head_cache
        while pos < n:
            pending = self._pending
            if pending is None:
                if head_cache:
                    # Fast path: the same head (command line and headers, LF line ends, a
                    # content-length) as an earlier frame: no header parsing, no checks that
                    # depend only on the head (they passed for the same bytes before).
                    x = src.find(b"\n\n", pos, pos + _HEAD_CACHE_MAX + 1)
                    if x > pos:
                        hit = head_cache.get(src[pos:x] if type(src) is bytes else bytes(src[pos:x]))
                        if hit is not None:
                            end = x + 2 + hit[2]
                            if end < n:
                                if src[end] != 0:
                                    raise StompCodecError("frame not terminated by NUL after content-length bytes")
                                f = _new_frame(Frame)
                                f.command = hit[0]
                                f.headers = hit[1]
                                f.body = bytes(src[x + 2 : end])
                                out.append(f)
                                pos = end + 1
                                if self._hdr_scanned:
                                    # its head had arrived in pieces: forget the partial scan
                                    self._reset_partial()
                                continue
                c = src[pos]
                if c == 10:
                    out.append(HEARTBEAT)
                    pos += 1
                    continue
                if c == 13:
                    if pos + 1 >= n:
                        return pos  # a CR alone: wait for its LF
                    if src[pos + 1] == 10:
                        out.append(HEARTBEAT)
                        pos += 2
                        continue
                # command line
                nl = src.find(b"\n", pos, pos + _COMMAND_SCAN)
                if nl < 0:
                    if n - pos >= _COMMAND_SCAN:
                        raise StompCodecError(f"unknown command {self._show(src[pos : pos + _COMMAND_SCAN])}")
                    return pos
                command = _COMMAND_LINES.get(bytes(src[pos:nl]))
                if command is None:
                    raise StompCodecError(f"unknown command {self._show(src[pos:nl])}")
                # header section
                match = _BLANK_LINE.search(src, max(nl, pos + self._scan))
                if match is None:
                    self._check_partial_headers(src, pos, nl, n)
                    return pos
                hdr_end = match.end()
                if hdr_end - pos > max_frame:
                    raise self._too_big(hdr_end - pos)
                block_end = match.start()
                headers, length = self._headers_and_length(src, nl + 1, block_end, command, version)
                if length >= 0:
                    if hdr_end - pos + length > max_frame:
                        raise self._too_big(hdr_end - pos + length)
                    if (
                        block_end - pos <= _HEAD_CACHE_MAX
                        and hdr_end - block_end == 2
                        and command not in _UNESCAPED_COMMANDS
                    ):
                        # an LF-only head with a content-length: the fast path above may
                        # take the next frame with these very bytes
                        cache = self._head_cache
                        if len(cache) >= _HEAD_CACHE_SIZE:
                            cache.clear()
                        cache[bytes(src[pos:block_end])] = (command, headers, length)
                body_at = hdr_end
                scan_from = hdr_end
            else:
                command, headers, rel_body, length = pending
                body_at = pos + rel_body
                scan_from = pos + self._scan
            # body
            if length >= 0:
                end = body_at + length
                if end >= n:
                    self._pending = (command, headers, body_at - pos, length)
                    return pos
                if src[end] != 0:
                    raise StompCodecError("frame not terminated by NUL after content-length bytes")
            else:
                end = src.find(b"\0", scan_from)
                if end < 0:
                    if n - pos > max_frame:
                        raise self._too_big(n - pos)
                    self._pending = (command, headers, body_at - pos, length)
                    self._scan = n - pos
                    return pos
                if end - pos > max_frame:
                    raise self._too_big(end - pos)
            out.append(Frame(command, headers, bytes(src[body_at:end])))
            pos = end + 1
            if pending is not None or self._scan:
                self._reset_partial()
            if command in _UNESCAPED_COMMANDS and self.stop_after_connect:
                # the version (and so the escaping) of what follows depends on this frame:
                # leave the rest buffered until the caller sets it and feeds again
                return pos
        return pos

    def _headers_and_length(
        self, src: bytes | bytearray, start: int, end: int, command: str, version: str
    ) -> tuple[dict[str, str], int]:
        """The headers of a section (``start`` is past the command's LF, ``end`` at the
        blank line) and the content-length they give (-1: none)."""
        headers = self._parse_headers(src, start, end, command, version) if end >= start else {}
        cl_text = headers.get("content-length")
        return headers, (_parse_content_length(cl_text) if cl_text is not None else -1)

    @staticmethod
    def _show(raw: bytes | bytearray) -> str:
        return repr(bytes(raw).decode("utf-8", "replace")[:40])

    def _check_partial_headers(self, src: bytes | bytearray, pos: int, nl: int, n: int) -> None:
        """Enforce the limits on a header section whose end has not arrived yet."""
        if n - pos > self.max_frame_size:
            raise self._too_big(n - pos)
        start = max(nl + 1, pos + self._hdr_scanned)
        if self._hdr_scanned == 0:
            self._line_start = nl + 1 - pos
        self._hdr_lines += src.count(b"\n", start, n)
        if self._hdr_lines > self.max_headers:
            raise StompCodecError(f"more than max_headers ({self.max_headers}) headers in frame")
        last = src.rfind(b"\n", start, n)
        if last >= 0:
            self._line_start = last + 1 - pos
        # +1: the CR of a CR LF is not part of the line
        if n - (pos + self._line_start) > self.max_header_length + 1:
            raise StompCodecError(f"header line longer than max_header_length ({self.max_header_length})")
        self._hdr_scanned = n - pos
        self._scan = max(n - pos - 2, nl - pos)

    def _parse_headers(
        self, src: bytes | bytearray, start: int, end: int, command: str, version: str
    ) -> dict[str, str]:
        block = src[start:end]
        max_len = self.max_header_length
        if len(block) > max_len:
            for raw in bytes(block).split(b"\n"):
                if len(raw) - raw.endswith(b"\r") > max_len:
                    raise StompCodecError(f"header line longer than max_header_length ({max_len})")
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StompCodecError(
                f"invalid UTF-8 in headers of {command} frame at byte {exc.start}"
            ) from None
        if "\r" in text:  # CR LF line ends: drop the CR of each EOL (the block's last EOL is cut off)
            text = text.replace("\r\n", "\n")
            if text[-1:] == "\r":
                text = text[:-1]
        lines = text.split("\n")
        if len(lines) > self.max_headers:
            raise StompCodecError(f"more than max_headers ({self.max_headers}) headers in frame")
        pairs: list[list[str]]
        try:
            if version != "1.0" and command not in _UNESCAPED_COMMANDS and "\\" in text:
                unescape = _unescape_12 if version == "1.2" else _unescape_11
                pairs = [
                    line.split(":", 1) if "\\" not in line else _unescape_line(line, unescape)
                    for line in lines
                ]
                headers = dict(pairs)
            else:
                pairs = [line.split(":", 1) for line in lines]  # one-item lists make dict() fail
                headers = dict(pairs)
        except ValueError:  # a line without ':' (a one-item split)
            bad = next(line for line in lines if ":" not in line)
            raise StompCodecError(f"header line without ':' in {command} frame: {bad[:40]!r}") from None
        if len(headers) != len(pairs):  # repeated headers: the first occurrence wins
            headers = {}
            for name, value in pairs:
                if name not in headers:
                    headers[name] = value
        if "" in headers:
            raise StompCodecError(f"empty header name in {command} frame")
        return headers


def encode_frame(
    command: str,
    headers: dict[str, str] | Iterable[tuple[str, str]],
    body: bytes = b"",
    version: str = "1.2",
) -> bytes:
    """Encode one frame for ``version``; the result decodes back to the same frame.

    Headers are escaped as the version requires (never for CONNECT/CONNECTED). Headers
    that the version cannot carry (a ':' or LF in a 1.0 name, a LF in a 1.0 value, a
    value ending in CR before 1.2, an empty name) raise :class:`StompCodecError`, as do a
    body holding NUL without ``content-length`` and a ``content-length`` that is not the
    body's length. No ``content-length`` is added: the caller decides.
    """
    if command not in ALL_COMMANDS:
        raise StompCodecError(f"unknown command {command!r}")
    if version == "1.2":
        needs, table, raw = _NEEDS_ESCAPE_12, _ESCAPE_12, False
    elif version == "1.1":
        needs, table, raw = _NEEDS_ESCAPE_11, _ESCAPE_11, False
    elif version == "1.0":
        needs, table, raw = _NEEDS_ESCAPE_11, _ESCAPE_11, True
    else:
        raise ValueError(f"unsupported STOMP version {version!r}")
    if command in _UNESCAPED_COMMANDS:
        raw = True
    items = headers.items() if isinstance(headers, dict) else headers
    parts = [command, "\n"]
    append = parts.append
    content_length: str | None = None
    for name, value in items:
        if not name:
            raise StompCodecError("empty header name")
        if content_length is None and name == "content-length":
            content_length = value
        if raw:
            if _RAW_BAD_NAME(name) or "\n" in value:
                raise StompCodecError(
                    f"header {name!r} cannot be sent unescaped in a STOMP {version} {command} frame"
                )
        else:
            if needs(name):
                name = name.translate(table)
            if needs(value):
                value = value.translate(table)
        if value[-1:] == "\r" and (raw or version == "1.1"):
            raise StompCodecError(f"header {name!r} ends with CR, which STOMP {version} cannot carry")
        append(name)
        append(":")
        append(value)
        append("\n")
    append("\n")
    if content_length is not None:
        if content_length.strip(" \t") != str(len(body)):
            raise StompCodecError(
                f"content-length {content_length!r} does not match body of {len(body)} bytes"
            )
    elif body and b"\0" in body:
        raise StompCodecError("body contains NUL; a content-length header is required")
    try:
        head = "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise StompCodecError(f"header not encodable as UTF-8: {exc.reason}") from None
    return b"".join((head, body, b"\0"))
