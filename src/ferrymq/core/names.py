"""Destination names in ActiveMQ syntax: ``.`` separates segments, ``*`` matches one
segment and ``>`` the rest (R5). Protocol mappings translate their own syntax to these."""

from __future__ import annotations

from typing import NamedTuple

QUEUE = "queue"
TOPIC = "topic"
TEMP_QUEUE = "temp-queue"
TEMP_TOPIC = "temp-topic"
KINDS = (QUEUE, TOPIC, TEMP_QUEUE, TEMP_TOPIC)

DLQ_SHARED = "ActiveMQ.DLQ"
ADVISORY_PREFIX = "ActiveMQ.Advisory."


class DestinationName(NamedTuple):
    kind: str
    path: str

    @property
    def is_queue(self) -> bool:
        return self.kind == QUEUE or self.kind == TEMP_QUEUE

    @property
    def is_topic(self) -> bool:
        return self.kind == TOPIC or self.kind == TEMP_TOPIC

    @property
    def is_temporary(self) -> bool:
        return self.kind == TEMP_QUEUE or self.kind == TEMP_TOPIC

    @property
    def is_wildcard(self) -> bool:
        return has_wildcard(self.path)

    def __str__(self) -> str:
        return f"{self.kind}://{self.path}"


def queue(path: str) -> DestinationName:
    return DestinationName(QUEUE, path)


def topic(path: str) -> DestinationName:
    return DestinationName(TOPIC, path)


def has_wildcard(path: str) -> bool:
    if "*" not in path and ">" not in path:
        return False
    return any(seg == "*" or seg == ">" for seg in path.split("."))


def validate_path(path: str) -> str | None:
    """Why ``path`` is not a usable destination path, or ``None`` when it is."""
    if not path:
        return "destination name is empty"
    if len(path) > 1024:
        return "destination name is longer than 1024 characters"
    if "\x00" in path:
        return "destination name contains NUL"
    segs = path.split(".")
    for i, s in enumerate(segs):
        if s == ">" and i != len(segs) - 1:
            return "'>' may only be the last segment"
    return None


def parse_uri(text: str) -> DestinationName:
    """``queue://a``, ``topic://a``, ``temp-queue://a``; a bare name is a queue."""
    for kind in KINDS:
        prefix = kind + "://"
        if text.startswith(prefix):
            return DestinationName(kind, text[len(prefix):])
    return DestinationName(QUEUE, text)
