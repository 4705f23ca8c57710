"""The managed service's own state: one SQLite file in the data directory.

Brokers and configurations are kept as JSON documents keyed by id (the API's shapes change
more often than the relations between them); revisions and access keys have their own
tables. Writes are small and synchronous (WAL, one connection, a lock), which is fine for
a management plane; other processes (``ferrymq keys``) may open the same file at once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DB_FILE = "service.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    created TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS brokers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS configurations (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS revisions (
    config_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    created TEXT NOT NULL,
    description TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (config_id, revision)
);
CREATE TABLE IF NOT EXISTS create_requests (
    token TEXT PRIMARY KEY,
    broker_id TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class KeyRow:
    access_key_id: str
    secret: bytes
    created: str
    enabled: bool
    description: str


@dataclass(frozen=True, slots=True)
class RevisionRow:
    config_id: str
    revision: int
    created: str
    description: str | None
    data: str


class ServiceDB:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        try:
            self.path.chmod(0o600)
        except OSError:
            pass

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _tx(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._conn.execute(sql, args)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # ---------------------------------------------------------------------- access keys
    def insert_key(self, row: KeyRow) -> None:
        self._exec(
            "INSERT INTO access_keys VALUES (?, ?, ?, ?, ?)",
            (row.access_key_id, row.secret, row.created, int(row.enabled), row.description),
        )

    def get_key(self, access_key_id: str) -> KeyRow | None:
        rows = self._exec("SELECT * FROM access_keys WHERE access_key_id = ?", (access_key_id,))
        return KeyRow(rows[0][0], rows[0][1], rows[0][2], bool(rows[0][3]), rows[0][4]) if rows else None

    def list_keys(self) -> list[KeyRow]:
        rows = self._exec("SELECT * FROM access_keys ORDER BY created, access_key_id")
        return [KeyRow(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def set_key_enabled(self, access_key_id: str, enabled: bool) -> bool:
        with self._lock:
            cur = self._conn.execute(
                "UPDATE access_keys SET enabled = ? WHERE access_key_id = ?", (int(enabled), access_key_id)
            )
            return cur.rowcount > 0

    def delete_key(self, access_key_id: str) -> bool:
        with self._lock:
            cur = self._conn.execute("DELETE FROM access_keys WHERE access_key_id = ?", (access_key_id,))
            return cur.rowcount > 0

    # -------------------------------------------------------------------------- brokers
    def put_broker(self, doc: dict[str, Any], request_token: str | None = None) -> None:
        stmts: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT INTO brokers (id, name, created, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                (doc["brokerId"], doc["brokerName"], doc["created"], json.dumps(doc)),
            )
        ]
        if request_token:
            stmts.append(
                ("INSERT OR IGNORE INTO create_requests VALUES (?, ?)", (request_token, doc["brokerId"]))
            )
        self._tx(stmts)

    def delete_broker(self, broker_id: str) -> None:
        self._tx(
            [
                ("DELETE FROM brokers WHERE id = ?", (broker_id,)),
                ("DELETE FROM create_requests WHERE broker_id = ?", (broker_id,)),
            ]
        )

    def brokers(self) -> Iterator[dict[str, Any]]:
        for (doc,) in self._exec("SELECT doc FROM brokers ORDER BY created, id"):
            yield json.loads(doc)

    def broker_for_request(self, token: str) -> str | None:
        rows = self._exec("SELECT broker_id FROM create_requests WHERE token = ?", (token,))
        return rows[0][0] if rows else None

    # ------------------------------------------------------------------- configurations
    def put_configuration(self, doc: dict[str, Any], revision: RevisionRow | None = None) -> None:
        stmts: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT INTO configurations (id, created, doc) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                (doc["id"], doc["created"], json.dumps(doc)),
            )
        ]
        if revision is not None:
            stmts.append(
                (
                    "INSERT INTO revisions VALUES (?, ?, ?, ?, ?)",
                    (
                        revision.config_id,
                        revision.revision,
                        revision.created,
                        revision.description,
                        revision.data,
                    ),
                )
            )
        self._tx(stmts)

    def delete_configuration(self, config_id: str) -> None:
        self._tx(
            [
                ("DELETE FROM configurations WHERE id = ?", (config_id,)),
                ("DELETE FROM revisions WHERE config_id = ?", (config_id,)),
            ]
        )

    def configurations(self) -> Iterator[dict[str, Any]]:
        for (doc,) in self._exec("SELECT doc FROM configurations ORDER BY created, id"):
            yield json.loads(doc)

    def revision(self, config_id: str, revision: int) -> RevisionRow | None:
        rows = self._exec(
            "SELECT * FROM revisions WHERE config_id = ? AND revision = ?", (config_id, revision)
        )
        return RevisionRow(*rows[0]) if rows else None

    def revisions(self, config_id: str) -> list[RevisionRow]:
        rows = self._exec("SELECT * FROM revisions WHERE config_id = ? ORDER BY revision", (config_id,))
        return [RevisionRow(*r) for r in rows]
