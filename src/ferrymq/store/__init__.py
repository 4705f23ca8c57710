"""Durable message stores behind :class:`ferrymq.core.ports.MessageStore`."""

from ferrymq.store.batcher import GroupCommitBatcher, StoreStats
from ferrymq.store.codec import (
    EncryptionKeyError,
    RecordCipher,
    RecordError,
    decode_message,
    encode_message,
    load_or_create_data_key,
)
from ferrymq.store.keys import durable_key, queue_key
from ferrymq.store.sqlite import SQLiteStore

__all__ = [
    "EncryptionKeyError",
    "GroupCommitBatcher",
    "RecordCipher",
    "RecordError",
    "SQLiteStore",
    "StoreStats",
    "decode_message",
    "durable_key",
    "encode_message",
    "load_or_create_data_key",
    "queue_key",
]
