"""The one error door for codecs (DESIGN R8).

Every codec raises a subclass of :class:`CodecError` for bad peer bytes and nothing
else. This module is stdlib only so that codecs can import it and stay pure.
"""

from __future__ import annotations


class CodecError(Exception):
    """Peer bytes that cannot be decoded.

    ``fatal`` tells the adapter the stream cannot be resynchronised and the connection
    must close after the protocol's error reply. ``code`` is a protocol specific hint for
    that reply (an MQTT CONNACK return code, an AMQP error condition, ...).
    """

    def __init__(self, message: str, *, fatal: bool = True, code: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.fatal = fatal
        self.code = code

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message
