"""The store's record format and its encryption at rest.

``encode_message`` / ``decode_message`` turn a core :class:`Message` into one compact,
versioned binary record and back. The record is a fixed struct header followed by
length-prefixed strings and typed values::

    header   <B version><B flags><B dest kind><B body kind><H string mask>
             <i priority><q expiration><q timestamp><q group_seq>
    strings  message id, destination path, then each optional string whose bit is set in
             the mask: correlation id, type, group id, content type, user id, origin,
             reply-to (kind byte + path)
    body     one typed value
    props    u32 count, then (str name, typed value) pairs
    native   only when flag NATIVE is set: one typed value

A typed value is a tag byte and its payload: ``N`` None, ``T``/``F`` booleans, ``i``
int64, ``I`` big int, ``d`` float64, ``s`` UTF-8 string, ``b`` bytes, ``u`` UUID, ``m``
map (str keys), ``l`` list. Subclasses of str/int/float/bytes (protocol symbol types and
the like) are stored as their base type; tuples come back as lists.

``native`` (protocol extras for same-protocol pass-through) is persisted only when it is
bytes or a dict that this value encoding accepts; anything else is dropped, and the
recovered message has ``native=None``.

:class:`RecordCipher` is AES-256-GCM with a random 96-bit nonce per record stored in front
of the ciphertext; the caller gives the associated data (the message id, the meta key) so
a record cannot be swapped for another. :func:`load_or_create_data_key` keeps a random
data key in the store directory, wrapped with a master key read from a key file (the
local stand-in for a KMS).
"""

from __future__ import annotations

import os
import struct
import uuid
from pathlib import Path
from typing import Any

from ferrymq.core.errors import StoreFailure
from ferrymq.core.message import BODY_KINDS, Message
from ferrymq.core.names import KINDS, DestinationName

VERSION = 1

_F_PERSISTENT = 0x01
_F_NATIVE = 0x02

_S_CORRELATION = 0x01
_S_TYPE = 0x02
_S_GROUP = 0x04
_S_CONTENT_TYPE = 0x08
_S_USER = 0x10
_S_ORIGIN = 0x20
_S_REPLY_TO = 0x40

_HEADER = struct.Struct("<BBBBHiqqq")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1

_OTHER = 255  # a kind code outside the tables: the kind follows as a string
_DEST_CODES = {k: i for i, k in enumerate(KINDS)}
_BODY_CODES = {k: i for i, k in enumerate(BODY_KINDS)}

_MAX_DEPTH = 32


class RecordError(StoreFailure):
    """A record that cannot be encoded, decoded or decrypted."""


class EncryptionKeyError(StoreFailure):
    """The master key or data key is missing, malformed or wrong."""


# ----------------------------------------------------------------------------- encode
def _put_str(out: list[bytes], s: str) -> None:
    b = s.encode("utf-8")
    out.append(_U32.pack(len(b)))
    out.append(b)


def _put_value(out: list[bytes], v: Any, depth: int = 0) -> None:
    t = type(v)
    if t is str:
        b = v.encode("utf-8")
        out.append(b"s" + _U32.pack(len(b)))
        out.append(b)
    elif t is bytes:
        out.append(b"b" + _U32.pack(len(v)))
        out.append(v)
    elif v is None:
        out.append(b"N")
    elif t is bool:
        out.append(b"T" if v else b"F")
    elif t is int:
        if _I64_MIN <= v <= _I64_MAX:
            out.append(b"i" + _I64.pack(v))
        else:
            n = (v.bit_length() + 8) // 8
            out.append(b"I" + _U32.pack(n))
            out.append(v.to_bytes(n, "little", signed=True))
    elif t is float:
        out.append(b"d" + _F64.pack(v))
    elif isinstance(v, dict):
        if depth >= _MAX_DEPTH:
            raise RecordError("value nested too deeply")
        out.append(b"m" + _U32.pack(len(v)))
        for k, item in v.items():
            if not isinstance(k, str):
                raise RecordError(f"map key {k!r} is not a string")
            _put_str(out, str(k))
            _put_value(out, item, depth + 1)
    elif isinstance(v, list | tuple):
        if depth >= _MAX_DEPTH:
            raise RecordError("value nested too deeply")
        out.append(b"l" + _U32.pack(len(v)))
        for item in v:
            _put_value(out, item, depth + 1)
    elif isinstance(v, uuid.UUID):
        out.append(b"u" + v.bytes)
    elif isinstance(v, bool):
        out.append(b"T" if v else b"F")
    elif isinstance(v, str):
        _put_value(out, str(v), depth)
    elif isinstance(v, int):
        _put_value(out, int(v), depth)
    elif isinstance(v, float):
        _put_value(out, float(v), depth)
    elif isinstance(v, bytes | bytearray | memoryview):
        _put_value(out, bytes(v), depth)
    else:
        raise RecordError(f"cannot store a value of type {t.__name__}")


def _kind_code(table: dict[str, int], kind: str, extra: list[bytes]) -> int:
    code = table.get(kind)
    if code is None:
        _put_str(extra, kind)
        return _OTHER
    return code


def encode_message(m: Message) -> bytes:
    """The message as one record. Raises :class:`RecordError` for values it cannot store."""
    try:
        return _encode(m)
    except RecordError:
        raise
    except (struct.error, UnicodeEncodeError, OverflowError, TypeError, ValueError) as e:
        raise RecordError(f"cannot encode message {m.message_id!r}: {e}") from None


def _encode(m: Message) -> bytes:
    out: list[bytes] = [b""]  # header placeholder
    kinds: list[bytes] = []
    dest = m.destination
    dest_code = _kind_code(_DEST_CODES, dest.kind, kinds)
    body_code = _kind_code(_BODY_CODES, m.body_kind, kinds)
    out.extend(kinds)
    _put_str(out, m.message_id)
    _put_str(out, dest.path)
    mask = 0
    if m.correlation_id is not None:
        mask |= _S_CORRELATION
        _put_str(out, m.correlation_id)
    if m.type is not None:
        mask |= _S_TYPE
        _put_str(out, m.type)
    if m.group_id is not None:
        mask |= _S_GROUP
        _put_str(out, m.group_id)
    if m.content_type is not None:
        mask |= _S_CONTENT_TYPE
        _put_str(out, m.content_type)
    if m.user_id is not None:
        mask |= _S_USER
        _put_str(out, m.user_id)
    if m.origin:
        mask |= _S_ORIGIN
        _put_str(out, m.origin)
    if m.reply_to is not None:
        mask |= _S_REPLY_TO
        rk: list[bytes] = []
        code = _kind_code(_DEST_CODES, m.reply_to.kind, rk)
        out.append(bytes((code,)))
        out.extend(rk)
        _put_str(out, m.reply_to.path)
    _put_value(out, m.body)
    props = m.properties
    out.append(_U32.pack(len(props)))
    for k, v in props.items():
        _put_str(out, k)
        _put_value(out, v)
    flags = _F_PERSISTENT if m.persistent else 0
    native = m.native
    if native is not None and isinstance(native, bytes | dict):
        tail: list[bytes] = []
        try:
            _put_value(tail, native)
        except RecordError:
            tail = []
        if tail:
            flags |= _F_NATIVE
            out.extend(tail)
    out[0] = _HEADER.pack(
        VERSION, flags, dest_code, body_code, mask, m.priority, m.expiration, m.timestamp, m.group_seq
    )
    return b"".join(out)


# ----------------------------------------------------------------------------- decode
class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos

    def take(self, n: int) -> bytes:
        p = self.pos
        end = p + n
        if end > len(self.buf):
            raise RecordError("record is truncated")
        self.pos = end
        return self.buf[p:end]

    def u32(self) -> int:
        p = self.pos
        if p + 4 > len(self.buf):
            raise RecordError("record is truncated")
        self.pos = p + 4
        return int(_U32.unpack_from(self.buf, p)[0])

    def string(self) -> str:
        return self.take(self.u32()).decode("utf-8")

    def kind(self, code: int, kinds: tuple[str, ...]) -> str:
        if code == _OTHER:
            return self.string()
        if code >= len(kinds):
            raise RecordError(f"unknown kind code {code}")
        return kinds[code]

    def value(self, depth: int = 0) -> Any:
        tag = self.take(1)
        if tag == b"s":
            return self.string()
        if tag == b"b":
            return self.take(self.u32())
        if tag == b"N":
            return None
        if tag == b"T":
            return True
        if tag == b"F":
            return False
        if tag == b"i":
            return _I64.unpack(self.take(8))[0]
        if tag == b"d":
            return _F64.unpack(self.take(8))[0]
        if tag == b"I":
            return int.from_bytes(self.take(self.u32()), "little", signed=True)
        if tag == b"u":
            return uuid.UUID(bytes=self.take(16))
        if tag == b"m" or tag == b"l":
            if depth >= _MAX_DEPTH:
                raise RecordError("value nested too deeply")
            n = self.u32()
            if n > len(self.buf) - self.pos:  # every item takes at least one byte
                raise RecordError("record is truncated")
            if tag == b"l":
                return [self.value(depth + 1) for _ in range(n)]
            d: dict[str, Any] = {}
            for _ in range(n):
                k = self.string()
                d[k] = self.value(depth + 1)
            return d
        raise RecordError(f"unknown value tag {tag!r}")


def decode_message(data: bytes) -> Message:
    """The message in ``data``. Raises :class:`RecordError` and nothing else for bad bytes."""
    try:
        return _decode(bytes(data))
    except RecordError:
        raise
    except (struct.error, UnicodeDecodeError, ValueError, TypeError, IndexError) as e:
        raise RecordError(f"corrupt message record: {e}") from None


def _decode(buf: bytes) -> Message:
    if len(buf) < _HEADER.size:
        raise RecordError("record is truncated")
    version, flags, dest_code, body_code, mask, priority, expiration, timestamp, group_seq = (
        _HEADER.unpack_from(buf, 0)
    )
    if version != VERSION:
        raise RecordError(f"unknown record version {version}")
    r = _Reader(buf, _HEADER.size)
    dest_kind = r.kind(dest_code, KINDS)
    body_kind = r.kind(body_code, BODY_KINDS)
    message_id = r.string()
    dest_path = r.string()
    correlation_id = r.string() if mask & _S_CORRELATION else None
    type_ = r.string() if mask & _S_TYPE else None
    group_id = r.string() if mask & _S_GROUP else None
    content_type = r.string() if mask & _S_CONTENT_TYPE else None
    user_id = r.string() if mask & _S_USER else None
    origin = r.string() if mask & _S_ORIGIN else ""
    reply_to = None
    if mask & _S_REPLY_TO:
        rk = r.kind(r.take(1)[0], KINDS)
        reply_to = DestinationName(rk, r.string())
    body = r.value()
    n = r.u32()
    if n > len(buf) - r.pos:
        raise RecordError("record is truncated")
    props: dict[str, Any] = {}
    for _ in range(n):
        k = r.string()
        props[k] = r.value()
    native = r.value() if flags & _F_NATIVE else None
    if r.pos != len(buf):
        raise RecordError("trailing bytes after the record")
    return Message(
        DestinationName(dest_kind, dest_path),
        body,
        body_kind,
        message_id=message_id,
        properties=props,
        persistent=bool(flags & _F_PERSISTENT),
        priority=priority,
        expiration=expiration,
        timestamp=timestamp,
        correlation_id=correlation_id,
        reply_to=reply_to,
        type=type_,
        group_id=group_id,
        group_seq=group_seq,
        content_type=content_type,
        user_id=user_id,
        origin=origin,
        native=native,
    )


# ----------------------------------------------------------------------------- encryption
_NONCE = 12
_TAG = 16


class RecordCipher:
    """AES-256-GCM per record: ``nonce(12) || ciphertext || tag(16)``."""

    __slots__ = ("_aead",)

    def __init__(self, data_key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(data_key) != 32:
            raise EncryptionKeyError("the data key must be 32 bytes (AES-256)")
        self._aead = AESGCM(bytes(data_key))

    def encrypt(self, plain: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plain, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        blob = bytes(blob)
        if len(blob) < _NONCE + _TAG:
            raise RecordError("encrypted record is truncated")
        try:
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)
        except InvalidTag:
            raise RecordError("cannot decrypt record: wrong data key or corrupt data") from None


WRAPPED_KEY_FILE = "datakey.wrapped"
_WRAP_MAGIC = b"FMQDK1"
_WRAP_AAD = b"ferrymq data key v1"


def read_master_key(master_key_file: str | os.PathLike[str]) -> bytes:
    """A master key file holds 32 raw bytes or 64 hex characters (whitespace ignored)."""
    try:
        raw = Path(master_key_file).read_bytes()
    except OSError as e:
        raise EncryptionKeyError(f"cannot read master key file {os.fspath(master_key_file)}: {e}") from None
    if len(raw) == 32:
        return raw
    text = raw.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    raise EncryptionKeyError(
        f"master key file {os.fspath(master_key_file)} must hold 32 raw bytes or 64 hex characters"
    )


def load_or_create_data_key(
    store_dir: str | os.PathLike[str], master_key_file: str | os.PathLike[str]
) -> bytes:
    """The store's data key, unwrapped with the master key; created on first use.

    Raises :class:`EncryptionKeyError` when the master key file is unusable or is not the
    key that wrapped the existing data key.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    master = read_master_key(master_key_file)
    aead = AESGCM(master)
    d = Path(store_dir)
    path = d / WRAPPED_KEY_FILE
    if path.exists():
        blob = path.read_bytes()
        if not blob.startswith(_WRAP_MAGIC) or len(blob) != len(_WRAP_MAGIC) + _NONCE + 32 + _TAG:
            raise EncryptionKeyError(f"{path} is not a ferrymq wrapped data key")
        nonce = blob[len(_WRAP_MAGIC) : len(_WRAP_MAGIC) + _NONCE]
        try:
            return aead.decrypt(nonce, blob[len(_WRAP_MAGIC) + _NONCE :], _WRAP_AAD)
        except InvalidTag:
            raise EncryptionKeyError(
                f"the master key in {os.fspath(master_key_file)} does not unwrap the data key in {path}: "
                "wrong master key"
            ) from None
    d.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    nonce = os.urandom(_NONCE)
    blob = _WRAP_MAGIC + nonce + aead.encrypt(nonce, key, _WRAP_AAD)
    tmp = d / (WRAPPED_KEY_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, blob)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    try:
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass
    return key
