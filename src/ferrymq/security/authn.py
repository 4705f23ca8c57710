"""The broker's Authenticator: password checks off the event loop (R2), with a verified-
credentials cache so that reconnect storms do not cost a slow hash each."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor

from ferrymq.core import Completion, Credentials, Principal, Unauthorized
from ferrymq.security.users import User, verify_password

audit = logging.getLogger("ferrymq.audit")

ADMIN_GROUP = "admins"


class PasswordAuthenticator:
    def __init__(
        self,
        users: dict[str, User],
        *,
        loop: asyncio.AbstractEventLoop,
        allow_anonymous: bool = False,
        anonymous_groups: frozenset[str] = frozenset(),
        threads: int = 2,
    ) -> None:
        self.loop = loop
        self.allow_anonymous = allow_anonymous
        self.anonymous_groups = anonymous_groups
        self._users = dict(users)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ferrymq-auth")
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}
        self.failures = 0

    def set_users(self, users: dict[str, User]) -> None:
        self._users = dict(users)
        self._verified.clear()

    def _mac(self, username: str, password: str) -> bytes:
        return hmac.new(self._key, f"{username}\0{password}".encode(), hashlib.sha256).digest()

    def _principal(self, user: User) -> Principal:
        groups = frozenset(user.groups)
        return Principal(user.username, groups, False, ADMIN_GROUP in groups)

    def authenticate(self, credentials: Credentials) -> Completion:
        username = credentials.username
        if not username:
            if self.allow_anonymous:
                return Completion.done(Principal("anonymous", self.anonymous_groups, True, False))
            self._fail(credentials, "no username given and anonymous access is off")
            return Completion.failed(Unauthorized("authentication failed: a username and password are required"))
        user = self._users.get(username)
        password = credentials.password or ""
        if user is None:
            self._fail(credentials, "unknown user")
            return Completion.failed(Unauthorized("authentication failed: bad username or password"))
        mac = self._mac(username, password)
        known = self._verified.get(username)
        if known is not None and hmac.compare_digest(known, mac):
            return Completion.done(self._principal(user))
        out = Completion()

        def work() -> bool:
            return verify_password(password, user.password_hash)

        def done(ok: bool) -> None:
            if ok and self._users.get(username) is user:
                self._verified[username] = mac
                out.resolve(self._principal(user))
            else:
                self._fail(credentials, "bad password")
                out.fail(Unauthorized("authentication failed: bad username or password"))

        fut = self._pool.submit(work)
        fut.add_done_callback(lambda f: self.loop.call_soon_threadsafe(
            done, (not f.cancelled()) and f.exception() is None and bool(f.result())))
        return out

    def _fail(self, c: Credentials, why: str) -> None:
        self.failures += 1
        audit.warning("authentication failed protocol=%s peer=%s user=%r reason=%s",
                      c.protocol, c.peer, c.username, why)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
