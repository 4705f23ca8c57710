"""Access keys ferrymq issues for the management API (SigV4 credentials).

Ids look like AWS's (``AKIA`` + 16 base-32 capitals), secrets are 40 characters, shown
once at creation and stored encrypted (AES-GCM under the data directory's master key).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime

from ferrymq.service.crypto import SecretBox
from ferrymq.service.db import KeyRow, ServiceDB

_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "/+"


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    created: str
    enabled: bool
    description: str


class KeyStore:
    def __init__(self, db: ServiceDB, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def create(self, description: str = "") -> tuple[str, str]:
        """Make a new enabled key; return (access key id, secret access key)."""
        while True:
            key_id = "AKIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
            if self._db.get_key(key_id) is None:
                break
        secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
        created = datetime.now(UTC).isoformat(timespec="seconds")
        sealed = self._box.seal(secret, "access-key:" + key_id)
        self._db.insert_key(KeyRow(key_id, sealed, created, True, description))
        return key_id, secret

    def list(self) -> list[AccessKey]:
        return [AccessKey(r.access_key_id, r.created, r.enabled, r.description) for r in self._db.list_keys()]

    def disable(self, key_id: str) -> bool:
        return self._db.set_key_enabled(key_id, False)

    def enable(self, key_id: str) -> bool:
        return self._db.set_key_enabled(key_id, True)

    def delete(self, key_id: str) -> bool:
        return self._db.delete_key(key_id)

    def secret_for(self, key_id: str) -> str | None:
        """The secret of an enabled key, or None (unknown or disabled)."""
        row = self._db.get_key(key_id)
        if row is None or not row.enabled:
            return None
        return self._box.open(row.secret, "access-key:" + key_id)
