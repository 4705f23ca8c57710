"""The composition root (R10): config -> store, security, broker, listeners; start and
stop order. The only module that knows concrete classes."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferrymq.config import DEFAULT_PORTS, BrokerConfig
from ferrymq.core import Broker, DeadLetterStrategy, DestinationPolicy, PolicyMap
from ferrymq.protocols.base import AdapterContext, PeerInfo, ProtocolAdapter, ProtocolLimits
from ferrymq.security.authn import PasswordAuthenticator
from ferrymq.security.authz import AuthorizationEntry, AuthorizationMap
from ferrymq.security.users import User, UserFile, generate_password, hash_password
from ferrymq.transport.listener import Listener

log = logging.getLogger("ferrymq")


class LoopClock:
    """The core's Clock port over the asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def call_soon(self, cb: Callable[[], None]) -> Any:
        return self.loop.call_soon(cb)

    def call_later(self, delay: float, cb: Callable[[], None]) -> Any:
        return self.loop.call_later(delay, cb)


def _stomp_factory(ctx: AdapterContext) -> ProtocolAdapter:
    from ferrymq.protocols.stomp.adapter import StompAdapter

    return StompAdapter(ctx)


def _mqtt_factory(ctx: AdapterContext) -> ProtocolAdapter:
    from ferrymq.protocols.mqtt.adapter import MqttAdapter

    return MqttAdapter(ctx)


def _openwire_factory(ctx: AdapterContext) -> ProtocolAdapter:
    from ferrymq.protocols.openwire.adapter import OpenWireAdapter

    return OpenWireAdapter(ctx)


def _amqp_factory(ctx: AdapterContext) -> ProtocolAdapter:
    from ferrymq.protocols.amqp.adapter import AmqpAdapter

    return AmqpAdapter(ctx)


#: protocol listener name -> adapter factory; a protocol lands here when its adapter does
ADAPTERS: dict[str, Callable[[AdapterContext], ProtocolAdapter]] = {
    "stomp": _stomp_factory,
    "stomp-ssl": _stomp_factory,
    "mqtt": _mqtt_factory,
    "mqtt-ssl": _mqtt_factory,
    "openwire": _openwire_factory,
    "openwire-ssl": _openwire_factory,
    "amqp": _amqp_factory,
    "amqp-ssl": _amqp_factory,
    # WebSocket listeners: the adapter for a client that offers no subprotocol; the
    # subprotocol picks the adapter otherwise (WS_SUBPROTOCOLS)
    "ws": _stomp_factory,
    "wss": _stomp_factory,
}

#: WebSocket subprotocol -> adapter factory, for the ws and wss listeners
WS_SUBPROTOCOLS: dict[str, Callable[[AdapterContext], ProtocolAdapter]] = {
    "v12.stomp": _stomp_factory,
    "v11.stomp": _stomp_factory,
    "v10.stomp": _stomp_factory,
    "stomp": _stomp_factory,
    "mqtt": _mqtt_factory,
}
#: subprotocols whose output goes out as text messages when it is valid UTF-8
WS_TEXT_SUBPROTOCOLS = frozenset({"v12.stomp", "v11.stomp", "v10.stomp", "stomp"})


#: listeners served by the HTTP side (console, admin API, metrics), not by a protocol adapter
HTTP_LISTENERS = ("http", "https")


def available_protocols() -> list[str]:
    return [p for p in DEFAULT_PORTS if p in ADAPTERS or p in HTTP_LISTENERS]


def default_listener_ports(cfg: BrokerConfig, tls: bool) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, (port, is_tls) in DEFAULT_PORTS.items():
        if name not in ADAPTERS and name not in HTTP_LISTENERS:
            continue
        if is_tls and not tls:
            continue
        out[name] = port
    for name, lc in cfg.listener_ports().items():
        out[name] = lc.port
    return out


def build_policies(cfg: BrokerConfig) -> PolicyMap:
    pm = PolicyMap()
    for p in cfg.policies:
        changes: dict[str, Any] = {}
        for k in ("queue_prefetch", "topic_prefetch", "durable_topic_prefetch", "max_redeliveries",
                  "initial_redelivery_delay_ms", "redelivery_backoff_multiplier", "use_exponential_backoff",
                  "expire_messages_period", "memory_limit", "producer_flow_control", "send_fail_if_no_space",
                  "pending_message_limit"):
            v = getattr(p, k)
            if v is not None:
                changes[k] = v
        if p.dead_letter is not None:
            d = p.dead_letter
            changes["dead_letter"] = DeadLetterStrategy(
                kind=d.strategy, queue_prefix=d.queue_prefix, topic_prefix=d.topic_prefix,
                process_expired=d.process_expired, process_non_persistent=d.process_non_persistent,
                expiration_ms=d.expiration_ms)
        pol = DestinationPolicy().with_changes(**changes)
        if p.queue is not None:
            if p.queue == ">":
                pm.default = pol if p.topic is None else pm.default
            pm.put("queue", p.queue, pol)
        else:
            assert p.topic is not None
            pm.put("topic", p.topic, pol)
    return pm


def load_users(cfg: BrokerConfig, extra: list[tuple[str, str, list[str]]]) -> dict[str, User]:
    users = UserFile(Path(cfg.data_dir) / "users.json").load()
    for u in cfg.users:
        users[u.username] = User(u.username, u.password_hash or hash_password(u.password or ""),
                                 list(u.groups), u.console_access)
    for name, password, groups in extra:
        users[name] = User(name, hash_password(password), groups or ["admins"], True)
    return users


def configure_destinations(broker: Broker, cfg: BrokerConfig) -> None:
    """Composite destinations and the virtual topic prefix from the config."""
    from ferrymq.core import DestinationName

    broker.virtual_topic_prefix = cfg.virtual_topic_prefix
    for comp in cfg.composite_destinations:
        key = ("queue", comp.queue) if comp.queue is not None else ("topic", comp.topic or "")
        targets = []
        for f in comp.forward_to:
            dest = DestinationName("queue", f.queue) if f.queue is not None else DestinationName("topic", f.topic or "")
            targets.append((dest, broker.compile_selector(f.selector) if f.selector else None))
        broker.composites[key] = (comp.forward_only, targets)
    for uri in cfg.destinations:  # pre-created destinations
        kind, _, path = uri.partition("://")
        if not path:
            kind, path = "queue", uri
        if kind == "queue":
            broker._queue(path, create=True)
        elif kind == "topic":
            broker._topic(path)


@dataclass
class BrokerApp:
    cfg: BrokerConfig
    extra_users: list[tuple[str, str, list[str]]] = field(default_factory=list)
    port_overrides: dict[str, int] = field(default_factory=dict)
    self_signed: bool = False
    out: Any = None

    def __post_init__(self) -> None:
        self.listeners: list[Listener] = []
        self.broker: Broker | None = None
        self.authenticator: PasswordAuthenticator | None = None
        self.http_servers: list[Any] = []

    def _say(self, line: str) -> None:
        stream = self.out or sys.stdout
        print(line, file=stream, flush=True)

    async def start(self) -> None:
        cfg = self.cfg
        loop = asyncio.get_running_loop()
        data_dir = Path(cfg.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)

        # active/standby: only the holder of the store lease opens the store and listeners
        from ferrymq.store.lease import FileLease

        self.lease = FileLease(cfg.store_path.with_suffix(".lock"))
        if not self.lease.try_acquire():
            self._say(f"ferrymq standby: the store lease is held by pid {self.lease.holder_pid()}; "
                      "waiting with listeners closed")
            await self.lease.acquire()
            self._say("ferrymq acquired the store lease; becoming active")

        users = load_users(cfg, self.extra_users)
        if not users and not cfg.allow_anonymous:
            password = generate_password()
            UserFile(data_dir / "users.json").add("admin", password, ["admins"], console_access=True)
            users = load_users(cfg, self.extra_users)
            self._say(f"ferrymq created user 'admin' with password {password} (shown once; stored as a hash)")
        self.authenticator = PasswordAuthenticator(
            users, loop=loop, allow_anonymous=cfg.allow_anonymous,
            anonymous_groups=frozenset(cfg.anonymous_groups))

        from ferrymq.store.sqlite import SQLiteStore

        cipher = None
        if cfg.store.encryption is not None:
            from ferrymq.store.codec import RecordCipher, load_or_create_data_key

            cipher = RecordCipher(load_or_create_data_key(data_dir, cfg.store.encryption.master_key_file))
        store = SQLiteStore(cfg.store_path, loop=loop, cipher=cipher, synchronous=cfg.store.synchronous)
        authz = AuthorizationMap([
            AuthorizationEntry("temp" if a.temp else "queue" if a.queue else "topic",
                               a.queue or a.topic or ">", frozenset(a.read), frozenset(a.write),
                               frozenset(a.admin)) for a in cfg.authorization])
        self.broker = Broker(store, LoopClock(loop), build_policies(cfg), authz, name=cfg.BrokerName,
                             populate_user_id=cfg.populate_jmsx_user_id, memory_limit=cfg.memory_limit,
                             advisories=cfg.advisory_support)
        configure_destinations(self.broker, cfg)
        await self.broker.start()

        limits = ProtocolLimits(**cfg.limits.model_dump())
        ports = default_listener_ports(cfg, tls=bool(cfg.tls.cert_file) or self.self_signed or cfg.tls.self_signed)
        ports.update(self.port_overrides)
        ssl_ctx = None
        if any(DEFAULT_PORTS[n][1] and p for n, p in ports.items()):
            from ferrymq.security.tls import ensure_self_signed, server_context

            cert, key = cfg.tls.cert_file, cfg.tls.key_file
            if not cert or not key:
                cert, key = ensure_self_signed(data_dir / "tls")
            ssl_ctx = server_context(cert, key, cfg.tls.min_version)
        broker, authn = self.broker, self.authenticator
        for name, port in ports.items():
            if not port or name not in ADAPTERS:
                continue
            lc = cfg.listener_ports().get(name)
            host = (lc.bind if lc and lc.bind else None) or cfg.bind_address

            def ctx_factory(peer: PeerInfo, _lim: ProtocolLimits = limits) -> AdapterContext:
                return AdapterContext(broker=broker, authenticator=authn, limits=_lim, peer=peer)

            conn_factory = None
            if name in ("ws", "wss"):
                from ferrymq.transport.websocket import websocket_connection_factory

                conn_factory = websocket_connection_factory(WS_SUBPROTOCOLS, ADAPTERS[name], WS_TEXT_SUBPROTOCOLS)
            lst = Listener(name, host, port, ADAPTERS[name], ctx_factory, limits,
                           ssl_context=ssl_ctx if DEFAULT_PORTS[name][1] else None,
                           allow=lc.allow if lc else None, connection_factory=conn_factory)
            await lst.start()
            self.listeners.append(lst)
            self._say(f"ferrymq listening {name} {host}:{lst.bound_port}")
        await self._start_http(ports, users, ssl_ctx, limits)
        self._say(f"ferrymq broker {cfg.BrokerName} started (data in {data_dir.resolve()})")

    async def _start_http(self, ports: dict[str, int], users: dict[str, User], ssl_ctx: Any,
                          limits: ProtocolLimits) -> None:
        """The console port: admin API, /metrics and the web console (http and/or https)."""
        wanted = [(n, p) for n, p in ports.items() if n in HTTP_LISTENERS and p]
        if not wanted:
            return
        from ferrymq.http.server import HttpServer, build_app
        from ferrymq.metrics.collector import BrokerCollector, make_registry

        cfg, broker, authn = self.cfg, self.broker, self.authenticator
        assert broker is not None and authn is not None
        started = time.time()
        collector = BrokerCollector(
            broker, broker_dimension=f"{cfg.BrokerName}-1", started_at=started,
            max_connections={lst.name: limits.max_connections for lst in self.listeners},
            auth_failures=lambda: authn.failures)

        def console_user(p: Any) -> bool:
            u = users.get(p.username)
            return bool(p.admin or (u is not None and u.console_access))

        def info() -> dict[str, Any]:
            out = {lst.name: lst.bound_port for lst in self.listeners}
            out.update({h.name: h.bound_port for h in self.http_servers})
            return {"listeners": out}

        registry = make_registry(collector)
        for name, port in wanted:
            lc = cfg.listener_ports().get(name)
            host = (lc.bind if lc and lc.bind else None) or cfg.bind_address
            app = build_app(broker, authn, can_use_console=console_user, registry=registry,
                            metrics_public=cfg.metrics_public, started_at=started, info=info,
                            allow=lc.allow if lc else ())
            srv = HttpServer(name, app, host, port, ssl_context=ssl_ctx if DEFAULT_PORTS[name][1] else None)
            await srv.start()
            self.http_servers.append(srv)
            self._say(f"ferrymq listening {name} {host}:{srv.bound_port}")

    async def stop(self) -> None:
        for srv in self.http_servers:
            await srv.stop()
        self.http_servers.clear()
        for lst in self.listeners:
            await lst.stop()
        self.listeners.clear()
        if self.broker is not None:
            await self.broker.stop()
        if self.authenticator is not None:
            self.authenticator.close()
        lease = getattr(self, "lease", None)
        if lease is not None:
            lease.release()


def install_loop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        pass


def run_broker(app: BrokerApp) -> int:
    install_loop()

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        starting = asyncio.ensure_future(app.start())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # stopped while waiting as a standby
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await app.stop()
            return 0
        try:
            starting.result()
        except OSError as e:
            print(f"ferrymq: cannot start: {e}", file=sys.stderr)
            await app.stop()
            return 1
        # start-up objects (recovered messages, modules, config) never become garbage: keep
        # them out of the collector's scans, and collect young objects less often (every
        # message allocates a few short-lived objects)
        gc.freeze()
        gc.set_threshold(20_000, 20, 50)
        await stopping
        app._say("ferrymq stopping")
        await app.stop()
        app._say("ferrymq stopped")
        return 0

    return asyncio.run(main())
