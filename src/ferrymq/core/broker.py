"""The broker facade: destinations, routing, durable subscriptions, dead letters, expiry,
recovery. Synchronous and single threaded (R2); ``start``/``stop`` are the only awaits."""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections import deque
from typing import Any

from ferrymq.core.admin import BrokerAdmin
from ferrymq.core.advisory import Advisor
from ferrymq.core.completion import DONE, Completion, HeldCompletion
from ferrymq.core.connection import ClientConnection
from ferrymq.core.delivery import Entry
from ferrymq.core.errors import ClientIdInUse, IllegalState, InvalidRequest, NotFound, ResourceLimit
from ferrymq.core.message import Message, new_message_id
from ferrymq.core.names import QUEUE, TEMP_QUEUE, TOPIC, DestinationName, validate_path
from ferrymq.core.policy import DestinationPolicy, PolicyMap
from ferrymq.core.ports import (
    AddMessage,
    AddRef,
    AllowAll,
    Authorizer,
    Clock,
    DropKey,
    MessageStore,
    Principal,
    PutMeta,
    RemoveRef,
    StoreOp,
)
from ferrymq.core.queue import Queue
from ferrymq.core.retained import RETAIN_PROPERTY, RetainedMessages, is_retain
from ferrymq.core.retained import STORE_KEY as RETAINED_KEY
from ferrymq.core.scheduler import SCHEDULING_SET, Scheduler, is_scheduled
from ferrymq.core.scheduler import STORE_KEY as SCHED_KEY
from ferrymq.core.stats import BrokerStats, DestinationStats
from ferrymq.core.subscription import DeliverySink, Subscription, SubscriptionSpec, TopicBinding
from ferrymq.core.trie import SubjectTrie

log = logging.getLogger("ferrymq.broker")

DURABLE_NS = "durable"
DEST_NS = "destinations"


def queue_key(path: str) -> str:
    return "q:" + path


def durable_key(client_id: str, name: str) -> str:
    return f"d:{client_id}:{name}"


class DurableRecord:
    __slots__ = ("client_id", "name", "destination", "selector", "no_local", "queue", "binding", "active")

    def __init__(self, client_id: str, name: str, destination: str, selector: str | None,
                 no_local: bool) -> None:
        self.client_id = client_id
        self.name = name
        self.destination = destination  # topic pattern path
        self.selector = selector
        self.no_local = no_local
        self.queue: Queue | None = None
        self.binding: TopicBinding | None = None
        self.active: Subscription | None = None

    def encode(self) -> bytes:
        return json.dumps({"client_id": self.client_id, "name": self.name, "destination": self.destination,
                           "selector": self.selector, "no_local": self.no_local}).encode()


class TopicInfo:
    __slots__ = ("name", "stats")

    def __init__(self, name: DestinationName) -> None:
        self.name = name
        self.stats = DestinationStats()


class Broker:
    def __init__(
        self,
        store: MessageStore,
        clock: Clock,
        policies: PolicyMap | None = None,
        authorizer: Authorizer | None = None,
        *,
        name: str = "localhost",
        populate_user_id: bool = False,
        compile_selector: Any = None,
        memory_limit: int = 0,
        advisories: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.policies = policies or PolicyMap()
        self.authorizer: Authorizer = authorizer or AllowAll()
        self.name = name
        self.populate_user_id = populate_user_id
        self.stats = BrokerStats()
        self.queues: dict[str, Queue] = {}
        self.topics: dict[str, TopicInfo] = {}
        self.topic_trie: SubjectTrie[TopicBinding] = SubjectTrie()
        self.durables: dict[tuple[str, str], DurableRecord] = {}
        self.connections: dict[str, ClientConnection] = {}
        self.client_ids: dict[str, ClientConnection] = {}
        self.recovered_extra: dict[str, list[Any]] = {}
        self.recovered_meta: dict[str, dict[str, bytes]] = {}
        self.retained = RetainedMessages()
        self.admin = BrokerAdmin(self)
        self.running = False
        if compile_selector is None:
            from ferrymq.core.selector import compile_selector as cs

            compile_selector = cs
        self.compile_selector = compile_selector
        self._deferred: list[StoreOp] = []
        self._defer_scheduled = False
        self._conn_ids = itertools.count(1)
        self._sub_ids = itertools.count(1)
        self._conn_prefix = f"ID:{name}-{os.getpid()}"
        self._sweep_handle: Any = None
        #: bytes of messages held in memory, and the broker-wide budget (0: none)
        self.memory_used = 0
        self.memory_limit = memory_limit
        #: sends held back by producer flow control, per destination, in arrival order
        self._held: dict[DestinationName, deque[tuple[Message, HeldCompletion]]] = {}
        self.held_sends = 0
        self._release_scheduled = False
        #: configured composite destinations: (kind, path) -> (forward_only, [(target, selector)])
        self.composites: dict[tuple[str, str], tuple[bool, list[tuple[DestinationName, Any]]]] = {}
        #: virtual topic path -> its consumer queues (Consumer.<name>.VirtualTopic.X)
        self.virtual_topic_prefix = "VirtualTopic."
        self._vt_queues: dict[str, list[Queue]] = {}
        self.advisor = Advisor(self, advisories)
        self.scheduler = Scheduler(self)

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        rec = await self.store.open()
        self.recovered_meta = rec.meta
        for path in rec.meta.get(DEST_NS, {}):
            dn = DestinationName(*path.split("://", 1)) if "://" in path else DestinationName(QUEUE, path)
            if dn.kind == QUEUE:
                self._queue(dn.path, create=True, persist=False)
        for raw in rec.meta.get(DURABLE_NS, {}).values():
            d = json.loads(raw)
            self._make_durable(d["client_id"], d["name"], d["destination"], d.get("selector"),
                               bool(d.get("no_local")), persist=False)
        n = 0
        for key, refs in rec.refs.items():
            q: Queue | None = None
            if key.startswith("q:"):
                q = self._queue(key[2:], create=True, persist=False)
            elif key.startswith("d:"):
                cid, _, name = key[2:].partition(":")
                rec_d = self.durables.get((cid, name))
                q = rec_d.queue if rec_d else None
            if q is None:
                self.recovered_extra[key] = refs
                continue
            for r in refs:
                e = q.new_entry(r.message, r.delivery_count)
                q.enqueue(e)
                n += 1
        self.scheduler.recover(self.recovered_extra.pop(SCHED_KEY, []), rec.meta.get("sched", {}))
        if n:
            log.info("recovered %d persistent messages", n)
        self.retained.recover(self.recovered_extra.pop(RETAINED_KEY, None))
        self.running = True
        self._schedule_sweep()

    async def stop(self) -> None:
        self.running = False
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
        self.scheduler.stop()
        err = IllegalState("broker is shutting down")
        for c in list(self.connections.values()):
            c.kick(err)
        self._flush_deferred()
        await self.store.close()

    # -- connections -------------------------------------------------------------------
    def connect(
        self,
        client_id: str | None,
        principal: Principal | None,
        protocol: str,
        remote: str = "",
        *,
        take_over: bool = False,
        on_kicked: Any = None,
    ) -> ClientConnection:
        if not self.running:
            raise IllegalState("broker is not running")
        if client_id:
            old = self.client_ids.get(client_id)
            if old is not None and not old.closed:
                if not take_over:
                    raise ClientIdInUse(f"client id {client_id} is already connected")
                old.kick(ClientIdInUse(f"client id {client_id} connected again; this connection is replaced"))
        conn_id = f"{self._conn_prefix}-{next(self._conn_ids)}"
        conn = ClientConnection(self, conn_id, client_id, principal, protocol, remote, on_kicked)
        self.connections[conn_id] = conn
        if client_id:
            self.client_ids[client_id] = conn
        self.stats.connections_total += 1
        self.advisor.advise("Connection", {"ConnectionInfo": {
            "connectionId": conn_id, "clientId": client_id, "userName": principal.username if principal else None,
            "clientIp": f"{protocol}://{remote}"}})
        return conn

    def _connection_closed(self, conn: ClientConnection) -> None:
        self.connections.pop(conn.id, None)
        if conn.client_id and self.client_ids.get(conn.client_id) is conn:
            del self.client_ids[conn.client_id]
        for dest in list(conn.producers):
            self.remove_producer(conn, dest)
        self.advisor.advise("Connection", {"RemoveInfo": {"objectId": conn.id}})

    # -- producers (for advisories and statistics; STOMP and MQTT have none) ------------
    def add_producer(self, conn: ClientConnection, dest: DestinationName) -> None:
        conn.producers[dest] = conn.producers.get(dest, 0) + 1
        stats = self._dest_stats(dest)
        if stats is not None:
            stats.producer_count += 1
        self.advisor.producer(dest, stats, {"ProducerInfo": {"destination": str(dest), "connectionId": conn.id}})

    def remove_producer(self, conn: ClientConnection, dest: DestinationName) -> None:
        n = conn.producers.get(dest, 0)
        if n <= 0:
            return
        if n == 1:
            del conn.producers[dest]
        else:
            conn.producers[dest] = n - 1
        stats = self._dest_stats(dest)
        if stats is not None and stats.producer_count > 0:
            stats.producer_count -= 1
        self.advisor.producer(dest, stats, {"RemoveInfo": {"destination": str(dest), "connectionId": conn.id}})

    def _dest_stats(self, dest: DestinationName) -> DestinationStats | None:
        if dest.is_wildcard or "," in dest.path:
            return None
        if dest.is_queue:
            q = self.queues.get(dest.path)
            if q is None and dest.kind == QUEUE:
                q = self._queue(dest.path, create=True)
            return q.stats if q is not None else None
        t = self.topics.get(dest.path)
        if t is None and dest.kind == TOPIC:
            t = self._topic(dest.path)
        return t.stats if t is not None else None

    # -- destinations ----------------------------------------------------------------------
    def _queue(self, path: str, *, create: bool, persist: bool = True) -> Queue | None:
        q = self.queues.get(path)
        if q is not None or not create:
            return q
        why = validate_path(path)
        if why:
            raise InvalidRequest(why)
        if "*" in path.split(".") or ">" in path.split("."):
            raise InvalidRequest(f"cannot send to or create a queue with a wildcard name: {path}")
        name = DestinationName(QUEUE, path)
        q = Queue(self, name, queue_key(path), self.policies.get(name))
        self.queues[path] = q
        vt = _virtual_topic_of(path, self.virtual_topic_prefix)
        if vt is not None:
            self._vt_queues.setdefault(vt, []).append(q)
        if persist:
            self.defer_ops([PutMeta(DEST_NS, f"queue://{path}", b"")])
        self.advisor.destination(name, added=True)
        return q

    def _topic(self, path: str) -> TopicInfo:
        t = self.topics.get(path)
        if t is None:
            why = validate_path(path)
            if why:
                raise InvalidRequest(why)
            t = self.topics[path] = TopicInfo(DestinationName(TOPIC, path))
            self.advisor.destination(t.name, added=True)
        return t

    def _create_temp_queue(self, name: DestinationName, owner: ClientConnection) -> Queue:
        q = Queue(self, name, None, self.policies.get(name), owner=owner)
        self.queues[name.path] = q
        self.advisor.destination(name, added=True)
        return q

    def _temp_topic_created(self, name: DestinationName, owner: ClientConnection) -> None:
        self.topics[name.path] = TopicInfo(name)
        self.advisor.destination(name, added=True)

    def _temp_topic_deleted(self, name: DestinationName) -> None:
        if self.topics.pop(name.path, None) is not None:
            self.advisor.destination(name, added=False)

    def _delete_queue(self, q: Queue) -> None:
        q.deleted = True
        if self.queues.get(q.name.path) is q:
            del self.queues[q.name.path]
        vt = _virtual_topic_of(q.name.path, self.virtual_topic_prefix) if q.name.kind == QUEUE else None
        if vt is not None and q in self._vt_queues.get(vt, ()):
            self._vt_queues[vt].remove(q)
        for c in list(q.consumers):
            c.closed = True
            q.remove_consumer(c)
            c.session.subscriptions.pop(c.id, None)
            c.sink.closed(NotFound(f"{q.name} was deleted"))
        self._forget_queue_memory(q)
        self.advisor.destination(q.name, added=False)
        ops: list[StoreOp] = []
        if q.store_key is not None and q.name.kind == QUEUE:
            ops.append(DropKey(q.store_key))
            ops.append(PutMeta(DEST_NS, f"queue://{q.name.path}", None))
        self.defer_ops(ops)

    # -- routing -------------------------------------------------------------------------
    def send(self, message: Message, conn: ClientConnection | None = None) -> Completion:
        dest = message.destination
        if (self.held_sends and dest in self._held) or (
            (self.memory_limit or dest.kind == QUEUE or dest.kind == TEMP_QUEUE) and self._over_limit(message)
        ):
            pol = self.policies.get(dest)
            if pol.send_fail_if_no_space:
                raise ResourceLimit(f"memory limit reached for {dest}: the send was refused "
                                    "(sendFailIfNoSpace)")
            if pol.producer_flow_control:
                held = HeldCompletion()
                self._held.setdefault(dest, deque()).append((message, held))
                self.held_sends += 1
                return held
        ops: list[StoreOp] = []
        self.route(message, ops, conn)
        return self.store.submit(ops) if ops else DONE

    def _over_limit(self, message: Message) -> bool:
        size = message.size
        if self.memory_limit and self.memory_used + size > self.memory_limit:
            return True
        dest = message.destination
        if dest.kind == QUEUE or dest.kind == TEMP_QUEUE:
            q = self.queues.get(dest.path)
            if q is not None:
                limit = q.policy.memory_limit
                if limit and q.memory + size > limit:
                    return True
        return False

    def memory_freed(self) -> None:
        if not self._release_scheduled:
            self._release_scheduled = True
            self.clock.call_soon(self._release_held)

    def _release_held(self) -> None:
        """Route held sends, oldest first per destination, while memory allows."""
        self._release_scheduled = False
        for dest in list(self._held):
            waiting = self._held[dest]
            while waiting:
                message, held = waiting[0]
                if self._over_limit(message):
                    break
                waiting.popleft()
                self.held_sends -= 1
                ops: list[StoreOp] = []
                try:
                    self.route(message, ops)
                except Exception as e:  # the destination went away meanwhile
                    held.fail(e)
                    continue
                c = self.submit(ops)
                c.add_callback(lambda r, h=held: h.resolve() if r.ok else h.fail(r.error))  # type: ignore[misc]
            if not waiting:
                del self._held[dest]

    def _forget_queue_memory(self, q: Queue) -> None:
        left = q.memory
        if left:
            q.release(left)

    def route(self, message: Message, ops: list[StoreOp], conn: ClientConnection | None = None) -> None:
        """Put ``message`` on its destination now; append the store ops that make it durable."""
        dest = message.destination
        self.stats.messages_routed += 1
        props = message.properties
        if props and not SCHEDULING_SET.isdisjoint(props) and is_scheduled(message):
            self.scheduler.schedule(message, ops)
            return
        if "," in dest.path:
            self._route_composite(message, ops, conn)
            return
        if self.composites:
            comp = self.composites.get((QUEUE if dest.is_queue else TOPIC, dest.path))
            if comp is not None:
                forward_only, targets = comp
                for target, selector in targets:
                    if selector is None or selector.matches(message):
                        self.route(message.copy(destination=target, message_id=new_message_id()), ops, conn)
                if forward_only:
                    return
        if message.expiration and message.expiration <= int(self.clock.time() * 1000):
            self._expired_on_arrival(message, ops)
            return
        if dest.kind == QUEUE or dest.kind == TEMP_QUEUE:
            if dest.kind == TEMP_QUEUE:
                q = self.queues.get(dest.path)
                if q is None or q.deleted:
                    raise NotFound(f"temporary queue {dest.path} no longer exists")
            else:
                q = self._queue(dest.path, create=True)
            assert q is not None
            e = q.new_entry(message)
            if message.persistent and q.store_key is not None:
                ops.append(AddMessage(message))
                ops.append(AddRef(q.store_key, message.message_id, 0, True))
            q.enqueue(e)
            return
        path = dest.path
        t = self.topics.get(path)  # type: ignore[assignment]
        if t is None:
            if dest.kind != TOPIC:
                raise NotFound(f"temporary topic {path} no longer exists")
            if ("*" in path or ">" in path) and any(s in ("*", ">") for s in path.split(".")):
                raise InvalidRequest(f"cannot publish to a wildcard topic: {path}")
            t = self._topic(path)
        t.stats.enqueue_count += 1
        if RETAIN_PROPERTY in props and is_retain(message):
            self.retained.update(message, ops)
        added = False
        if path.startswith(self.virtual_topic_prefix):
            for q in self._vt_queues.get(path, ()):
                if q.deleted:
                    continue
                e = q.new_entry(message)
                if message.persistent:
                    if not added:
                        ops.append(AddMessage(message))
                        added = True
                    ops.append(AddRef(q.store_key or "", message.message_id, 0, True))
                q.enqueue(e)
        persistent = message.persistent
        for b in self.topic_trie.match(path):
            sel = b.selector
            if sel is not None and not sel.matches(message):
                continue
            if b.no_local_key is not None and b.no_local_key is message.producer_key:
                continue
            q = b.queue
            if q.deleted:
                continue
            q._seq += 1
            e = Entry(message, q._seq)
            if persistent and q.store_key is not None:
                if not added:
                    ops.append(AddMessage(message))
                    added = True
                ops.append(AddRef(q.store_key, message.message_id, 0, True))
            elif not b.durable and q.count >= q.policy.pending_message_limit > 0:
                limit = _discard_threshold(q, q.policy.pending_message_limit)
                if limit:
                    while q.count >= limit:
                        self._discard_oldest(q)
            q.enqueue(e)

    def _discard_oldest(self, q: Queue) -> None:
        for b in q.buckets:
            if b:
                e = b.popleft()
                q.count -= 1
                q.bytes -= e.message.size
                q.stats.dequeue_count += 1
                q.release(e.message.size)
                return

    def _route_composite(self, message: Message, ops: list[StoreOp], conn: ClientConnection | None) -> None:
        """``a,b,topic://c``: a copy to each; bare elements have the destination's own kind."""
        dest = message.destination
        base_kind = dest.kind
        for part in dest.path.split(","):
            part = part.strip()
            if not part:
                continue
            kind = base_kind
            for k in (QUEUE, TOPIC):
                if part.startswith(k + "://"):
                    kind, part = k, part[len(k) + 3:]
            copy = message.copy(destination=DestinationName(kind, part), message_id=new_message_id())
            self.route(copy, ops, conn)

    def _expired_on_arrival(self, message: Message, ops: list[StoreOp]) -> None:
        dest = message.destination
        pol = self.policies.get(dest)
        if dest.is_queue:
            q = self._queue(dest.path, create=True) if dest.kind == QUEUE else self.queues.get(dest.path)
            if q is not None:
                q.stats.expired_count += 1
        if message.persistent and pol.dead_letter.process_expired:
            holder = Queue(self, dest, None, pol)
            self.dead_letter(holder, Entry(message, 0), f"Message Expired. Expiration:{message.expiration}",
                             ops, expired=True)
        self.advisor.advise(f"Expired.{'Queue' if dest.is_queue else 'Topic'}.{dest.path}",
                    {"MessageId": message.message_id}, {"orignalMessageId": message.message_id})

    def submit(self, ops: list[StoreOp]) -> Completion:
        if not ops:
            return DONE
        return self.store.submit(ops)

    def store_meta(self, namespace: str, key: str, value: bytes | None) -> Completion:
        """Keep (``None``: forget) a protocol's small piece of state across restarts; the
        completion resolves once it is durable. Read back with :meth:`take_recovered_meta`."""
        return self.store.submit([PutMeta(namespace, key, value)])

    def take_recovered_meta(self, namespace: str, key: str) -> bytes | None:
        """The value :meth:`store_meta` left under ``key`` before the restart, once."""
        return self.recovered_meta.get(namespace, {}).pop(key, None)

    def defer_ops(self, ops: list[StoreOp]) -> None:
        """Fire-and-forget store ops (auto-ack removals, metadata): one submit per tick."""
        if not ops:
            return
        self._deferred.extend(ops)
        if not self._defer_scheduled:
            self._defer_scheduled = True
            self.clock.call_soon(self._flush_deferred)

    def _flush_deferred(self) -> None:
        self._defer_scheduled = False
        if self._deferred:
            ops, self._deferred = self._deferred, []
            self.store.submit(ops)

    # -- subscriptions ------------------------------------------------------------------
    def _subscribe(self, session: Any, spec: SubscriptionSpec, sink: DeliverySink) -> Subscription:
        sub = self._subscribe_inner(session, spec, sink)
        if session.connection.deliveries_paused:
            sub.paused = True  # before its first dispatch pass, which runs on a later tick
        self.advisor.consumer(sub, added=True)
        return sub

    def _subscribe_inner(self, session: Any, spec: SubscriptionSpec, sink: DeliverySink) -> Subscription:
        dest = spec.destination
        selector = self.compile_selector(spec.selector) if spec.selector else None
        policy = self.policies.get(dest)
        conn: ClientConnection = session.connection
        sub_id = next(self._sub_ids)
        if dest.is_queue:
            if spec.durable_name:
                raise InvalidRequest("durable subscriptions are for topics")
            if dest.kind == TEMP_QUEUE:
                q = self.queues.get(dest.path)
                if q is None or q.deleted:
                    raise NotFound(f"temporary queue {dest.path} no longer exists")
            else:
                q = self._queue(dest.path, create=True)
            assert q is not None
            prefetch = spec.prefetch if spec.prefetch is not None else policy.queue_prefetch
            sub = Subscription(sub_id, session, spec, sink, q, selector, max(prefetch, 0), None)
            q.add_consumer(sub)
            return sub
        # topics
        path = dest.path
        if dest.kind == TOPIC:
            why = validate_path(path)
            if why:
                raise InvalidRequest(why)
        elif path not in self.topics:
            raise NotFound(f"temporary topic {path} no longer exists")
        if spec.durable_name:
            cid = conn.client_id
            if not cid:
                raise InvalidRequest("a durable subscription needs a client id")
            rec = self.durables.get((cid, spec.durable_name))
            if rec is not None and rec.active is not None and not rec.active.closed:
                raise ClientIdInUse(f"durable subscription {spec.durable_name} of {cid} is already active")
            if rec is not None and (rec.destination != path or rec.selector != spec.selector
                                    or rec.no_local != spec.no_local):
                # ActiveMQ: a changed topic or selector replaces the subscription
                self._drop_durable(rec)
                rec = None
            if rec is None:
                rec = self._make_durable(cid, spec.durable_name, path, spec.selector, spec.no_local,
                                         persist=True)
            assert rec.queue is not None and rec.binding is not None
            if spec.no_local:
                rec.binding.no_local_key = conn
            prefetch = spec.prefetch if spec.prefetch is not None else policy.durable_topic_prefetch
            sub = Subscription(sub_id, session, spec, sink, rec.queue, selector, max(prefetch, 0), rec.binding)
            rec.active = sub
            if spec.retroactive:
                self._replay_retained(path, rec.queue, selector)
            rec.queue.add_consumer(sub)
            return sub
        qname = DestinationName(TOPIC, path)
        q = Queue(self, qname, None, policy, subscription_of=sub_id)
        binding = TopicBinding(path, q, selector, conn if spec.no_local else None, False)
        self.topic_trie.insert(path, binding)
        prefetch = spec.prefetch if spec.prefetch is not None else policy.topic_prefetch
        sub = Subscription(sub_id, session, spec, sink, q, selector, max(prefetch, 0), binding)
        if spec.retroactive:
            self._replay_retained(path, q, selector)
        q.add_consumer(sub)
        return sub

    def _replay_retained(self, pattern: str, q: Queue, selector: Any) -> None:
        if self.retained.by_path:
            ops: list[StoreOp] = []
            self.retained.replay(pattern, q, selector, ops)
            self.defer_ops(ops)

    def _make_durable(self, cid: str, name: str, path: str, selector: str | None, no_local: bool,
                      *, persist: bool) -> DurableRecord:
        rec = DurableRecord(cid, name, path, selector, no_local)
        qname = DestinationName(TOPIC, path)
        rec.queue = Queue(self, qname, durable_key(cid, name), self.policies.get(qname), subscription_of=rec)
        sel = None
        if selector:
            try:
                sel = self.compile_selector(selector)
            except Exception:  # a stored selector that no longer compiles: match nothing
                log.warning("durable subscription %s/%s has an invalid selector", cid, name)
                sel = None
        rec.binding = TopicBinding(path, rec.queue, sel, None, True)
        self.topic_trie.insert(path, rec.binding)
        self.durables[(cid, name)] = rec
        if persist:
            self.defer_ops([PutMeta(DURABLE_NS, f"{cid}:{name}", rec.encode())])
        return rec

    def _drop_durable(self, rec: DurableRecord) -> list[StoreOp]:
        self.durables.pop((rec.client_id, rec.name), None)
        if rec.binding is not None:
            self.topic_trie.remove(rec.destination, rec.binding)
        ops: list[StoreOp] = []
        if rec.queue is not None:
            rec.queue.deleted = True
            ops.append(DropKey(rec.queue.store_key or ""))
        ops.append(PutMeta(DURABLE_NS, f"{rec.client_id}:{rec.name}", None))
        self.defer_ops(ops)
        return ops

    def durable_subscriptions_of(self, client_id: str) -> list[tuple[str, str, str | None, bool]]:
        """(name, topic pattern, selector, no_local) of every durable subscription of a client id."""
        return [(r.name, r.destination, r.selector, r.no_local)
                for (cid, _), r in self.durables.items() if cid == client_id]

    def remove_durable(self, client_id: str, name: str) -> Completion:
        rec = self.durables.get((client_id, name))
        if rec is None:
            raise NotFound(f"no durable subscription {name} for client id {client_id}")
        if rec.active is not None and not rec.active.closed:
            raise IllegalState(f"durable subscription {name} is in use")
        self._drop_durable(rec)
        return DONE

    def _subscription_closed(self, sub: Subscription, release_in_flight: bool) -> None:
        q = sub.queue
        q.remove_consumer(sub)
        sub.session.subscriptions.pop(sub.id, None)
        if sub.in_flight:
            entries = list(sub.in_flight.values())
            sub.in_flight.clear()
            if release_in_flight and not q.deleted:
                ops: list[StoreOp] = []
                # redelivered, count raised, never dead-lettered (ActiveMQ's behaviour)
                q.redeliver(entries, True, ops, False)
                self.defer_ops(ops)
        b = sub.binding
        if b is not None:
            if b.durable:
                rec = q.subscription_of
                if isinstance(rec, DurableRecord) and rec.active is sub:
                    rec.active = None
                    b.no_local_key = None
            else:
                self.topic_trie.remove(b.pattern, b)
                q.deleted = True
                self._forget_queue_memory(q)
        self.advisor.consumer(sub, added=False)

    # -- dead letters and expiry -----------------------------------------------------------
    def dead_letter(self, q: Queue, e: Entry, reason: str, ops: list[StoreOp], *, expired: bool = False) -> None:
        msg = e.message
        if q.memory:
            q.release(msg.size)
        if q.store_key is not None and msg.persistent:
            ops.append(RemoveRef(q.store_key, msg.message_id))
        strategy = q.policy.dead_letter
        if not msg.persistent and not strategy.process_non_persistent:
            return
        if expired and not strategy.process_expired:
            return
        src = msg.destination
        target = strategy.dlq_for(src)
        if target is None or (q.name.kind == QUEUE and q.name.path == target.path):
            return
        props = dict(msg.properties)
        props["originalDestination"] = str(src)
        props["dlqDeliveryFailureCause"] = reason
        if expired:
            props["originalExpiration"] = msg.expiration
        expiration = 0
        if strategy.expiration_ms:
            expiration = int(self.clock.time() * 1000) + strategy.expiration_ms
        # a message shared by several durable subscriptions keeps its stored record
        new_id = msg.message_id if q.subscription_of is None else new_message_id()
        copy = msg.copy(destination=target, properties=props, expiration=expiration, message_id=new_id)
        copy.size = msg.size
        dlq = self._queue(target.path, create=True)
        assert dlq is not None
        ne = dlq.new_entry(copy, 0)
        if copy.persistent and dlq.store_key is not None:
            ops.append(AddMessage(copy))
            ops.append(AddRef(dlq.store_key, copy.message_id, 0))
        dlq.enqueue(ne)
        q.stats.dlq_count += 1
        self.stats.messages_dead_lettered += 1
        self.advisor.advise(f"MessageDLQd.{'Queue' if src.is_queue else 'Topic'}.{src.path}",
                    {"MessageId": msg.message_id, "Cause": reason},
                    {"orignalMessageId": msg.message_id, "dlqDeliveryFailureCause": reason})

    def expire_entry(self, q: Queue, e: Entry) -> None:
        q.stats.expired_count += 1
        src = e.message.destination
        self.advisor.advise(f"Expired.{'Queue' if src.is_queue else 'Topic'}.{src.path}",
                    {"MessageId": e.message.message_id}, {"orignalMessageId": e.message.message_id})
        ops: list[StoreOp] = []
        self.dead_letter(q, e, f"Message Expired. Expiration:{e.message.expiration}", ops, expired=True)
        self.defer_ops(ops)

    def _schedule_sweep(self) -> None:
        period = self.policies.default.expire_messages_period
        if period > 0:
            self._sweep_handle = self.clock.call_later(period, self._sweep)

    def _sweep(self) -> None:
        self.sweep_expired()
        if self.running:
            self._schedule_sweep()

    def sweep_expired(self) -> int:
        now_ms = int(self.clock.time() * 1000)
        n = 0
        queues = list(self.queues.values()) + [r.queue for r in self.durables.values() if r.queue is not None]
        for q in queues:
            expired = q.remove_entries(lambda e: e.message.expiration and e.message.expiration <= now_ms, [])
            for e in expired:
                # remove_entries already dropped the ref ops; expire_entry re-adds them
                self.expire_entry(q, e)
                n += 1
        return n

    # -- convenience for admin/tests ------------------------------------------------------
    def queue(self, path: str) -> Queue | None:
        return self.queues.get(path)

    def policy_for(self, dest: DestinationName) -> DestinationPolicy:
        return self.policies.get(dest)


def _virtual_topic_of(path: str, prefix: str) -> str | None:
    """``Consumer.A.VirtualTopic.X`` -> ``VirtualTopic.X`` (the topic it copies from)."""
    if not path.startswith("Consumer."):
        return None
    parts = path.split(".", 2)
    if len(parts) == 3 and parts[2].startswith(prefix):
        return parts[2]
    return None


def _discard_threshold(q: Queue, pending_limit: int) -> int:
    """The length of a non-durable topic subscription's queue from which its oldest pending
    messages are discarded (ActiveMQ's pending-message limit for slow consumers), or 0 while
    a consumer can still take messages.

    A consumer out of credit is slow at once: the limit counts what waits beyond its prefetch.
    A consumer paused by transport back-pressure still has its prefetch window (ActiveMQ
    dispatches that far whatever the socket does), so it is slow only past the limit plus
    what is left of that window."""
    threshold = 0
    # a topic subscription's queue has one consumer: a plain loop, no generator
    for c in q.consumers:
        if c.paused:
            t = pending_limit + (c.prefetch if c.presettled else max(c.credit, 0))
        elif c.presettled or c.credit > 0:
            return 0
        else:
            t = pending_limit
        if t > threshold:
            threshold = t
    return threshold or pending_limit
