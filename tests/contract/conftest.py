"""Backends for the store contract suite.

Each backend fixture knows how to build a store at a fixed location (so a test can close
and reopen it) and how to look at what the backend committed, independently of the store
object under test. Add PostgreSQL as another entry of ``BACKENDS``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ferrymq.store.codec import RecordCipher
from ferrymq.store.sqlite import SQLiteStore


class SQLiteBackend:
    name = "sqlite"

    def __init__(self, tmp_path: Path) -> None:
        self.store_dir = tmp_path / "store"
        self.db_path = self.store_dir / "ferrymq.db"

    def make(self, *, cipher: RecordCipher | None = None) -> SQLiteStore:
        return SQLiteStore(self.db_path, cipher=cipher)

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def committed_message_ids(self) -> set[str]:
        """What an independent reader sees as committed."""
        return {r[0] for r in self._query("SELECT id FROM messages")}

    def committed_refs(self) -> list[tuple[str, str, int]]:
        return [
            (r[0], r[1], r[2])
            for r in self._query("SELECT store_key, message_id, delivery_count FROM refs ORDER BY seq")
        ]

    def raw_bytes(self) -> bytes:
        """Every byte the backend keeps on disk."""
        return b"".join(p.read_bytes() for p in sorted(self.store_dir.iterdir()) if p.is_file())


BACKENDS = ["sqlite"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> SQLiteBackend:
    if request.param == "sqlite":
        return SQLiteBackend(tmp_path)
    raise AssertionError(request.param)  # pragma: no cover
