"""Store keys: the names of the ordered reference lists the store keeps.

The core and every store backend agree on these spellings; they are part of the on-disk
format, so never change them without a migration.
"""

from __future__ import annotations

QUEUE_PREFIX = "q:"
DURABLE_PREFIX = "d:"
SCHEDULED_KEY = "$sched"
RETAINED_KEY = "$retained"


def queue_key(path: str) -> str:
    """The store key of a queue: ``q:<path>``."""
    return QUEUE_PREFIX + path


def durable_key(client_id: str, name: str) -> str:
    """The store key of a durable topic subscription: ``d:<client id>:<name>``."""
    return DURABLE_PREFIX + client_id + ":" + name
