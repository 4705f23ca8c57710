"""Secrets at rest for the managed service: AES-GCM under a master key file.

The service must recover access-key secrets (SigV4 verification needs them) and broker
user passwords (the broker processes need them), so they are encrypted, not hashed. The
master key is 32 random bytes in ``<data-dir>/master.key``, created with mode 0600.
Each value gets a fresh 12-byte nonce; the record's identity is bound in as associated
data so a ciphertext cannot be moved to another record.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MASTER_KEY_FILE = "master.key"
_NONCE = 12


def load_or_create_master_key(data_dir: Path) -> bytes:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / MASTER_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != 32:
            raise ValueError(f"{path} does not hold a 32-byte key") from None
        return key
    key = AESGCM.generate_key(bit_length=256)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        return cls(load_or_create_master_key(data_dir))

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode()).decode()
