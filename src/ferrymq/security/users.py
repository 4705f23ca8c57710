"""Users and groups with salted slow password hashes (scrypt), kept in a JSON file in the
data directory (``users.json``) and/or given by the config file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, dk_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64)
        want = base64.b64decode(dk_b64)
        got = hashlib.scrypt(password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def generate_password(length: int = 20) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def validate_username(name: str) -> str | None:
    """Amazon MQ's rules: 1-100 characters, no comma (we also refuse ':' and spaces)."""
    if not name or len(name) > 100:
        return "username must be 1 to 100 characters"
    if any(c in name for c in ",: \t\n"):
        return "username must not contain commas, colons or whitespace"
    return None


@dataclass
class User:
    username: str
    password_hash: str
    groups: list[str] = field(default_factory=list)
    console_access: bool = False

    def to_json(self) -> dict[str, object]:
        return {"username": self.username, "password_hash": self.password_hash, "groups": self.groups,
                "console_access": self.console_access}


class UserFile:
    """The data directory's ``users.json``: written atomically, mode 0600."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, User]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text())
        out = {}
        for u in data.get("users", []):
            out[u["username"]] = User(u["username"], u["password_hash"], list(u.get("groups", [])),
                                      bool(u.get("console_access", False)))
        return out

    def save(self, users: dict[str, User]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        body = json.dumps({"users": [u.to_json() for u in users.values()]}, indent=2)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def add(self, username: str, password: str, groups: list[str] | None = None,
            console_access: bool = False) -> User:
        why = validate_username(username)
        if why:
            raise ValueError(why)
        users = self.load()
        u = User(username, hash_password(password), list(groups or []), console_access)
        users[username] = u
        self.save(users)
        return u

    def remove(self, username: str) -> bool:
        users = self.load()
        if users.pop(username, None) is None:
            return False
        self.save(users)
        return True
