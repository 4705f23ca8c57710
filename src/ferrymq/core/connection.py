"""ClientConnection: one per protocol connection (JMS "connection")."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ferrymq.core.errors import IllegalState, InvalidRequest, Unauthorized
from ferrymq.core.names import TEMP_QUEUE, TEMP_TOPIC, DestinationName
from ferrymq.core.ports import Principal
from ferrymq.core.session import ClientSession

if TYPE_CHECKING:
    from ferrymq.core.broker import Broker
    from ferrymq.core.queue import Queue


class ClientConnection:
    def __init__(
        self,
        broker: Broker,
        conn_id: str,
        client_id: str | None,
        principal: Principal | None,
        protocol: str,
        remote: str,
        on_kicked: Callable[[Exception], None] | None,
    ) -> None:
        self.broker = broker
        self.id = conn_id
        self.client_id = client_id
        self.principal = principal
        self.protocol = protocol
        self.remote = remote
        self.on_kicked = on_kicked
        self.sessions: list[ClientSession] = []
        self.temp_queues: dict[str, Queue] = {}
        self.temp_topics: set[str] = set()
        self.producers: dict[DestinationName, int] = {}
        #: the transport cannot write more (back-pressure): no subscription of this
        #: connection, present or future, gets deliveries until resume_deliveries()
        self.deliveries_paused = False
        self.closed = False
        self.connected_at = time.time()
        self.max_subscriptions = 0
        self._acl: dict[tuple[str, DestinationName], bool] = {}
        #: the destination object of the last send that passed the write check (a producer
        #: usually sends to one destination: one identity test instead of a lookup)
        self.last_write_allowed: DestinationName | None = None
        self._session_ids = itertools.count(1)
        self._temp_ids = itertools.count(1)

    def open_session(self) -> ClientSession:
        if self.closed:
            raise IllegalState("connection is closed")
        s = ClientSession(self, next(self._session_ids))
        self.sessions.append(s)
        return s

    def pause_deliveries(self) -> None:
        self.deliveries_paused = True
        for s in self.sessions:
            for sub in s.subscriptions.values():
                sub.pause()

    def resume_deliveries(self) -> None:
        self.deliveries_paused = False
        for s in self.sessions:
            for sub in list(s.subscriptions.values()):
                sub.resume()

    def subscription_count(self) -> int:
        return sum(len(s.subscriptions) for s in self.sessions)

    # -- authorization, cached per connection (R6) ---------------------------------------
    def check(self, action: str, dest: DestinationName) -> None:
        key = (action, dest)
        ok = self._acl.get(key)
        if ok is None:
            if dest.is_temporary:
                ok = self.broker.authorizer.allowed(self.principal, action, dest) if self.principal else True
            else:
                ok = self.principal is None or self.broker.authorizer.allowed(self.principal, action, dest)
            if len(self._acl) > 4096:
                self._acl.clear()
            self._acl[key] = ok
        if not ok:
            who = self.principal.username if self.principal else "anonymous"
            raise Unauthorized(f"user {who} is not authorized to {action} {dest}")

    # -- temporary destinations -----------------------------------------------------------
    def create_temp(self, kind: str, hint: str | None = None, *, path: str | None = None) -> DestinationName:
        """A temporary destination owned by this connection. ``path`` names it exactly (OpenWire
        clients choose their own temp names); otherwise it is ``<connection id>:<hint>``."""
        if kind not in (TEMP_QUEUE, TEMP_TOPIC):
            raise ValueError(kind)
        if path is None:
            path = f"{self.id}:{hint or next(self._temp_ids)}"
        elif (path in self.broker.queues and path not in self.temp_queues) or (
                path in self.broker.topics and path not in self.temp_topics):
            raise InvalidRequest(f"destination {path} already exists")
        name = DestinationName(kind, path)
        if kind == TEMP_QUEUE:
            if path not in self.temp_queues:
                self.temp_queues[path] = self.broker._create_temp_queue(name, self)
        else:
            if path not in self.temp_topics:
                self.temp_topics.add(path)
                self.broker._temp_topic_created(name, self)
        return name

    def delete_temp(self, name: DestinationName) -> None:
        if name.kind == TEMP_QUEUE:
            q = self.temp_queues.pop(name.path, None)
            if q is not None:
                self.broker._delete_queue(q)
        else:
            if name.path in self.temp_topics:
                self.temp_topics.discard(name.path)
                self.broker._temp_topic_deleted(name)

    def close(self, error: Exception | None = None) -> None:
        """Release everything: in-flight deliveries back to their queues (redelivered),
        non-durable subscriptions and temporary destinations removed."""
        if self.closed:
            return
        self.closed = True
        for s in self.sessions:
            s.close()
        self.sessions.clear()
        for q in list(self.temp_queues.values()):
            self.broker._delete_queue(q)
        self.temp_queues.clear()
        for path in list(self.temp_topics):
            self.broker._temp_topic_deleted(DestinationName(TEMP_TOPIC, path))
        self.temp_topics.clear()
        self.broker._connection_closed(self)

    def kick(self, error: Exception) -> None:
        """The broker closes this connection (client id taken over, broker stopping)."""
        cb = self.on_kicked
        self.close(error)
        if cb is not None:
            cb(error)
