"""The SQLite message store: WAL mode, ``synchronous=FULL``, one transaction per batch.

Everything that touches the database runs in one writer thread owned by the store; the
loop thread only calls :meth:`SQLiteStore.submit` (never blocks) and awaits
:meth:`open` / :meth:`close`. See :mod:`ferrymq.store.batcher` for the group commit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ferrymq.core.completion import Completion
from ferrymq.core.errors import StoreFailure
from ferrymq.core.message import Message
from ferrymq.core.ports import (
    AddMessage,
    AddRef,
    DropKey,
    PutMeta,
    RecoveredRef,
    Recovery,
    RemoveRef,
    SetDeliveryCount,
    StoreOp,
)
from ferrymq.store.batcher import GroupCommitBatcher, StoreStats, Writer
from ferrymq.store.codec import EncryptionKeyError, RecordCipher, RecordError, decode_message, encode_message

log = logging.getLogger("ferrymq.store")

# Each entry upgrades the schema by one version; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE messages (
        id   TEXT PRIMARY KEY,
        data BLOB NOT NULL
    );
    CREATE TABLE refs (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        store_key      TEXT NOT NULL,
        message_id     TEXT NOT NULL,
        delivery_count INTEGER NOT NULL DEFAULT 0,
        UNIQUE (store_key, message_id)
    );
    CREATE INDEX refs_message_id ON refs (message_id);
    CREATE TABLE meta (
        namespace TEXT NOT NULL,
        key       TEXT NOT NULL,
        value     BLOB NOT NULL,
        PRIMARY KEY (namespace, key)
    );
    CREATE TABLE store_info (
        name  TEXT PRIMARY KEY,
        value BLOB
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

_KEY_CHECK_PLAIN = b"ferrymq store key check"
_KEY_CHECK_AAD = b"ferrymq:key-check"
_ENCRYPTION = "aes-256-gcm"

_SQL_SET_COUNT = "UPDATE refs SET delivery_count = ? WHERE store_key = ? AND message_id = ?"

#: the most rows one multi-row statement carries (3 parameters a row stays far below
#: SQLite's oldest variable limit, 999)
_ROWS_MAX = 64


def _rows_sql(kind: str, n: int) -> str:
    """One statement for ``n`` rows of ``kind``: a run is written with a few of these
    instead of one ``executemany`` step per row (each step is a round trip through the
    sqlite3 module and a GIL hand-off for the writer thread)."""
    if kind == "msg":
        return "INSERT OR IGNORE INTO messages (id, data) VALUES " + ",".join(["(?, ?)"] * n)
    if kind == "ref":
        return (
            "INSERT INTO refs (store_key, message_id, delivery_count) VALUES "
            + ",".join(["(?, ?, ?)"] * n)
            + " ON CONFLICT (store_key, message_id) DO UPDATE SET delivery_count = excluded.delivery_count"
        )
    if kind == "unref":
        # an OR of equalities: SQLite searches the unique index once per term, where a
        # row-value IN list would scan the whole table
        return "DELETE FROM refs WHERE " + " OR ".join(["(store_key = ? AND message_id = ?)"] * n)
    if kind == "gc":
        return (
            "DELETE FROM messages WHERE id IN (" + ", ".join(["?"] * n) + ") "
            "AND NOT EXISTS (SELECT 1 FROM refs WHERE refs.message_id = messages.id)"
        )
    raise ValueError(kind)


_ROWS_SQL: dict[tuple[str, int], str] = {}


def _write_rows(ex: Callable[..., Any], kind: str, rows: list[tuple[Any, ...]]) -> None:
    """Write ``rows`` as multi-row statements of 64, 32, ... 1 rows (a handful of distinct
    statements, so the connection's statement cache keeps them all prepared)."""
    i = 0
    left = len(rows)
    n = _ROWS_MAX
    while left:
        while n > left:
            n >>= 1
        sql = _ROWS_SQL.get((kind, n))
        if sql is None:
            sql = _ROWS_SQL[kind, n] = _rows_sql(kind, n)
        if n == 1:
            ex(sql, rows[i])
        else:
            ex(sql, [v for row in rows[i : i + n] for v in row])
        i += n
        left -= n


_SQL_DROP_KEY_MESSAGES = (
    "DELETE FROM messages WHERE id IN (SELECT message_id FROM refs WHERE store_key = ?) "
    "AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.message_id = messages.id AND r.store_key <> ?)"
)
_SQL_DROP_KEY_REFS = "DELETE FROM refs WHERE store_key = ?"
_SQL_PUT_META = "INSERT OR REPLACE INTO meta (namespace, key, value) VALUES (?, ?, ?)"
_SQL_DELETE_META = "DELETE FROM meta WHERE namespace = ? AND key = ?"


def meta_aad(namespace: str, key: str) -> bytes:
    """The associated data binding an encrypted meta value to its place."""
    return b"meta:" + namespace.encode("utf-8") + b"\x00" + key.encode("utf-8")


def message_aad(message_id: str) -> bytes:
    return b"msg:" + message_id.encode("utf-8")


def _plan(ops: list[StoreOp | None]) -> list[tuple[type, list[Any]]]:
    """The runs ``(op type, ops)`` a batch is written as, a few multi-row statements each.

    Between barriers (``DropKey``, ``PutMeta``, kept in place) the ops are grouped by kind:
    message records, then references, delivery counts, removals, each kind in submit order
    (so references of one key keep their order). Adding before removing never deletes a
    message that a later op of the batch still references. Where the order between two ops
    of one reference matters (a removal followed by a re-add or a new count, a count followed
    by a re-add, a record re-added after a removal), a barrier is put between them.
    """
    plan: list[tuple[type, list[Any]]] = []
    msgs: list[Any] = []
    refs: list[Any] = []
    counts: list[Any] = []
    removes: list[Any] = []
    removed: set[tuple[str, str]] = set()
    removed_ids: set[str] = set()
    counted: set[tuple[str, str]] = set()

    def close_segment() -> None:
        nonlocal msgs, refs, counts, removes
        for kind, run in ((AddMessage, msgs), (AddRef, refs), (SetDeliveryCount, counts), (RemoveRef, removes)):
            if run:
                plan.append((kind, run))
        msgs, refs, counts, removes = [], [], [], []
        removed.clear()
        removed_ids.clear()
        counted.clear()

    for op in ops:
        if op is None:
            continue
        t = type(op)
        if t is AddRef:
            key = (op.store_key, op.message_id)  # type: ignore[union-attr]
            if key in removed or key in counted:
                close_segment()
            refs.append(op)
        elif t is RemoveRef:
            removed.add((op.store_key, op.message_id))  # type: ignore[union-attr]
            removed_ids.add(op.message_id)  # type: ignore[union-attr]
            removes.append(op)
        elif t is AddMessage:
            if op.message.message_id in removed_ids:  # type: ignore[union-attr]
                close_segment()
            msgs.append(op)
        elif t is SetDeliveryCount:
            key = (op.store_key, op.message_id)  # type: ignore[union-attr]
            if key in removed:
                close_segment()
            counted.add(key)
            counts.append(op)
        else:  # DropKey, PutMeta and anything unknown: in place
            close_segment()
            plan.append((t, [op]))
    close_segment()
    return plan


class SQLiteStore:
    """:class:`ferrymq.core.ports.MessageStore` on one SQLite file.

    ``path`` is the database file; its directory is created on :meth:`open`. With a
    ``cipher`` every message record and meta value is encrypted (AES-256-GCM) with the
    message id / meta key as associated data. ``before_commit`` is a testing hook called
    in the writer thread just before each COMMIT; if it raises, that batch rolls back and
    its completions fail.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        cipher: RecordCipher | None = None,
        synchronous: str = "FULL",
    ) -> None:
        sync = synchronous.upper()
        if sync not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        self.path = Path(path)
        self._loop = loop
        self._cipher = cipher
        self._synchronous = sync
        self.stats = StoreStats()
        self.before_commit: Callable[[], None] | None = None
        self._db: sqlite3.Connection | None = None
        self._writer: Writer | None = None
        self._batcher: GroupCommitBatcher | None = None
        self._closed = False

    # -- loop thread ------------------------------------------------------------------
    async def open(self) -> Recovery:
        if self._writer is not None or self._closed:
            raise StoreFailure("the store was already opened")
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        self._writer = Writer(f"ferrymq-store-{self.path.name}")
        try:
            recovery = await self._writer.call(loop, self._open_db)
        except BaseException:
            self._writer.stop()
            self._writer = None
            raise
        self._batcher = GroupCommitBatcher(loop, self._writer, self._write_batch, encode_message, self.stats)
        self.submit = self._batcher.submit  # type: ignore[method-assign]  # one call less per submit
        return recovery

    def submit(self, ops: Sequence[StoreOp]) -> Completion:
        b = self._batcher
        if b is None:
            return Completion.failed(StoreFailure("the store is not open"))
        return b.submit(ops)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        writer, batcher = self._writer, self._batcher
        if writer is None:
            return
        assert self._loop is not None
        if batcher is not None:
            await batcher.drain()
            batcher.closed = True
        try:
            await writer.call(self._loop, self._close_db)
        finally:
            writer.stop()
            writer.join(5)
            self._batcher = None

    # -- writer thread ----------------------------------------------------------------
    def _open_db(self) -> Recovery:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreFailure(f"cannot open store {self.path}: {e}") from None
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("store %s: WAL mode unavailable, journal_mode is %s", self.path, mode)
            db.execute(f"PRAGMA synchronous = {self._synchronous}")
            self._migrate(db)
            self._check_encryption(db)
            recovery = self._recover(db)
        except sqlite3.Error as e:
            db.close()
            raise StoreFailure(f"cannot open store {self.path}: {e}") from None
        except BaseException:
            db.close()
            raise
        self._db = db
        return recovery

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise StoreFailure(
                    f"store {self.path} has schema version {version}, newer than this ferrymq ({SCHEMA_VERSION})"
                )
            for i in range(version, SCHEMA_VERSION):
                for stmt in MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        db.execute(stmt)
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version != SCHEMA_VERSION:
                db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _check_encryption(self, db: sqlite3.Connection) -> None:
        rows = dict(db.execute("SELECT name, value FROM store_info").fetchall())
        enc = rows.get("encryption")
        cipher = self._cipher
        if enc is None:
            info: list[tuple[str, str | bytes]] = [("encryption", _ENCRYPTION if cipher else "none")]
            if cipher is not None:
                info.append(("key_check", cipher.encrypt(_KEY_CHECK_PLAIN, _KEY_CHECK_AAD)))
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO store_info (name, value) VALUES (?, ?)", info)
            db.execute("COMMIT")
            return
        if enc == "none" and cipher is not None:
            raise EncryptionKeyError(
                f"store {self.path} was created without encryption; it cannot be opened with an encryption key"
            )
        if enc != "none" and cipher is None:
            raise EncryptionKeyError(f"store {self.path} is encrypted ({enc}); configure its master key file")
        if cipher is not None:
            try:
                ok = cipher.decrypt(rows.get("key_check") or b"", _KEY_CHECK_AAD) == _KEY_CHECK_PLAIN
            except RecordError:
                ok = False
            if not ok:
                raise EncryptionKeyError(f"the data key does not decrypt store {self.path}: wrong key")

    def _recover(self, db: sqlite3.Connection) -> Recovery:
        db.execute("BEGIN IMMEDIATE")
        try:
            dangling = db.execute(
                "DELETE FROM refs WHERE message_id NOT IN (SELECT id FROM messages)"
            ).rowcount
            orphans = db.execute(
                "DELETE FROM messages WHERE NOT EXISTS (SELECT 1 FROM refs WHERE refs.message_id = messages.id)"
            ).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if dangling or orphans:
            log.info(
                "store %s: removed %d unreferenced messages, %d dangling refs", self.path, orphans, dangling
            )
        cipher = self._cipher
        messages: dict[str, Message] = {}
        for mid, data in db.execute("SELECT id, data FROM messages"):
            try:
                if cipher is not None:
                    data = cipher.decrypt(data, message_aad(mid))
                msg = decode_message(data)
                if msg.message_id != mid:
                    raise RecordError(f"record holds message {msg.message_id!r}")
            except RecordError as e:
                log.error("store %s: skipping unreadable message %r: %s", self.path, mid, e)
                continue
            messages[mid] = msg
        recovery = Recovery()
        refs = recovery.refs
        for key, mid, count in db.execute(
            "SELECT store_key, message_id, delivery_count FROM refs ORDER BY seq"
        ):
            m = messages.get(mid)
            if m is None:
                continue
            lst = refs.get(key)
            if lst is None:
                lst = refs[key] = []
            lst.append(RecoveredRef(m, count))
        meta = recovery.meta
        for ns, key, value in db.execute("SELECT namespace, key, value FROM meta"):
            if cipher is not None:
                try:
                    value = cipher.decrypt(value, meta_aad(ns, key))
                except RecordError as e:
                    log.error("store %s: skipping unreadable meta %r/%r: %s", self.path, ns, key, e)
                    continue
            meta.setdefault(ns, {})[key] = bytes(value)
        return recovery

    def _write_batch(self, ops: list[StoreOp | None], records: dict[str, bytes]) -> None:
        db = self._db
        if db is None:
            raise StoreFailure("the store is closed")
        cipher = self._cipher
        ex = db.execute
        ex("BEGIN IMMEDIATE")
        try:
            many = db.executemany
            for t, run in _plan(ops):
                if t is AddMessage:
                    rows = []
                    for o in run:
                        mid = o.message.message_id  # type: ignore[union-attr]
                        data = records[mid]
                        if cipher is not None:
                            data = cipher.encrypt(data, message_aad(mid))
                        rows.append((mid, data))
                    _write_rows(ex, "msg", rows)
                elif t is AddRef:
                    _write_rows(ex, "ref", [(o.store_key, o.message_id, o.delivery_count)  # type: ignore[union-attr]
                                            for o in run])
                elif t is RemoveRef:
                    _write_rows(ex, "unref", [(o.store_key, o.message_id) for o in run])  # type: ignore[union-attr]
                    _write_rows(ex, "gc", [(o.message_id,) for o in run])  # type: ignore[union-attr]
                elif t is SetDeliveryCount:
                    many(_SQL_SET_COUNT, [(o.delivery_count, o.store_key, o.message_id)  # type: ignore[union-attr]
                                          for o in run])
                elif t is DropKey:
                    for o in run:
                        key = o.store_key  # type: ignore[union-attr]
                        ex(_SQL_DROP_KEY_MESSAGES, (key, key))
                        ex(_SQL_DROP_KEY_REFS, (key,))
                elif t is PutMeta:
                    for o in run:
                        ns, k, value = o.namespace, o.key, o.value  # type: ignore[union-attr]
                        if value is None:
                            ex(_SQL_DELETE_META, (ns, k))
                        else:
                            if cipher is not None:
                                value = cipher.encrypt(bytes(value), meta_aad(ns, k))
                            ex(_SQL_PUT_META, (ns, k, value))
                else:
                    raise StoreFailure(f"unknown store op {t.__name__}")
            hook = self.before_commit
            if hook is not None:
                hook()
            ex("COMMIT")
        except BaseException:
            try:
                ex("ROLLBACK")
            except sqlite3.Error:  # pragma: no cover - rollback after a failed commit
                pass
            raise

    def _close_db(self) -> None:
        db = self._db
        self._db = None
        if db is None:
            return
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:  # pragma: no cover - another process may hold the WAL
            log.warning("store %s: checkpoint at close failed: %s", self.path, e)
        db.close()
