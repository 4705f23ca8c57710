"""The broker config file: Amazon MQ's broker keys at the top, ferrymq's sections below.

Validated with pydantic; :func:`load_config` turns any problem into one ``ConfigError``
line naming the key and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

#: protocol name -> (default plain/TLS port, is TLS)
DEFAULT_PORTS: dict[str, tuple[int, bool]] = {
    "openwire": (61616, False),
    "openwire-ssl": (61617, True),
    "amqp": (5672, False),
    "amqp-ssl": (5671, True),
    "stomp": (61613, False),
    "stomp-ssl": (61614, True),
    "mqtt": (1883, False),
    "mqtt-ssl": (8883, True),
    "ws": (61618, False),
    "wss": (61619, True),
    "http": (8161, False),
    "https": (8162, True),
}


class ConfigError(Exception):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ListenerConfig(_Model):
    port: int = Field(ge=0, le=65535)
    bind: str | None = None
    #: CIDR allow rules (security groups); empty: everyone
    allow: list[str] = Field(default_factory=list)


class TlsConfig(_Model):
    cert_file: str | None = None
    key_file: str | None = None
    self_signed: bool = False
    min_version: Literal["TLSv1.2", "TLSv1.3"] = "TLSv1.2"


class EncryptionConfig(_Model):
    master_key_file: str


class StoreConfig(_Model):
    type: Literal["sqlite"] = "sqlite"
    path: str | None = None  # default: <data_dir>/store.db
    synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"
    encryption: EncryptionConfig | None = None


class UserConfig(_Model):
    username: str
    password: str | None = None
    password_hash: str | None = None
    groups: list[str] = Field(default_factory=list)
    console_access: bool = False

    @model_validator(mode="after")
    def _one_secret(self) -> UserConfig:
        if not self.password and not self.password_hash:
            raise ValueError("give password or password_hash")
        return self


class LimitsConfig(_Model):
    max_frame_size: int = Field(default=100 * 1024 * 1024, gt=0)
    max_incomplete_frame_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    max_headers: int = Field(default=1000, gt=0)
    max_header_length: int = Field(default=64 * 1024, gt=0)
    max_subscriptions_per_connection: int = Field(default=10_000, gt=0)
    max_pending_outbound_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_connections: int = Field(default=2000, gt=0)
    connect_timeout: float = Field(default=30.0, gt=0)
    max_inactivity: float = Field(default=600.0, gt=0)


class DeadLetterConfig(_Model):
    strategy: Literal["shared", "individual", "discarding"] = "shared"
    queue_prefix: str = "DLQ."
    topic_prefix: str = "DLQ."
    process_expired: bool = True
    process_non_persistent: bool = False
    expiration_ms: int = Field(default=0, ge=0)


class PolicyConfig(_Model):
    queue: str | None = None
    topic: str | None = None
    queue_prefetch: int | None = Field(default=None, ge=0)
    topic_prefetch: int | None = Field(default=None, ge=0)
    durable_topic_prefetch: int | None = Field(default=None, ge=0)
    max_redeliveries: int | None = Field(default=None, ge=-1)
    initial_redelivery_delay_ms: int | None = Field(default=None, ge=0)
    redelivery_backoff_multiplier: float | None = Field(default=None, gt=0)
    use_exponential_backoff: bool | None = None
    dead_letter: DeadLetterConfig | None = None
    expire_messages_period: float | None = Field(default=None, ge=0)
    memory_limit: int | None = Field(default=None, ge=0)
    producer_flow_control: bool | None = None
    send_fail_if_no_space: bool | None = None
    pending_message_limit: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_target(self) -> PolicyConfig:
        if (self.queue is None) == (self.topic is None):
            raise ValueError("a policy names exactly one of queue or topic")
        return self


class AuthorizationConfig(_Model):
    queue: str | None = None
    topic: str | None = None
    temp: bool = False
    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)
    admin: list[str] = Field(default_factory=list)


class ForwardTo(_Model):
    queue: str | None = None
    topic: str | None = None
    selector: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ForwardTo:
        if (self.queue is None) == (self.topic is None):
            raise ValueError("a forward target names exactly one of queue or topic")
        return self


class CompositeConfig(_Model):
    """ActiveMQ's compositeQueue / compositeTopic."""

    queue: str | None = None
    topic: str | None = None
    forward_only: bool = True
    forward_to: list[ForwardTo] = Field(min_length=1)

    @model_validator(mode="after")
    def _one(self) -> CompositeConfig:
        if (self.queue is None) == (self.topic is None):
            raise ValueError("a composite destination names exactly one of queue or topic")
        return self


class BrokerConfig(_Model):
    BrokerName: str = Field(default="ferrymq", min_length=1, max_length=50, pattern=r"^[A-Za-z0-9\-._~]+$")
    EngineType: Literal["ActiveMQ", "ACTIVEMQ", "activemq"] = "ActiveMQ"
    EngineVersion: str = "5.18"
    HostInstanceType: str = "mq.m5.large"
    DeploymentMode: Literal["SINGLE_INSTANCE", "ACTIVE_STANDBY_MULTI_AZ"] = "SINGLE_INSTANCE"
    AutoMinorVersionUpgrade: bool = True
    PubliclyAccessible: bool = False

    data_dir: str = "./ferrymq-data"
    bind: str | None = None  # default: 127.0.0.1, or 0.0.0.0 when PubliclyAccessible
    listeners: dict[str, ListenerConfig | int] = Field(default_factory=dict)
    store: StoreConfig = Field(default_factory=StoreConfig)
    users: list[UserConfig] = Field(default_factory=list)
    allow_anonymous: bool = False
    anonymous_groups: list[str] = Field(default_factory=list)
    populate_jmsx_user_id: bool = False
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    tls: TlsConfig = Field(default_factory=TlsConfig)
    policies: list[PolicyConfig] = Field(default_factory=list)
    authorization: list[AuthorizationConfig] = Field(default_factory=list)
    destinations: list[str] = Field(default_factory=list)
    #: an ActiveMQ activemq.xml (Amazon MQ's permitted subset): its policy entries,
    #: authorization entries, destinations and composite destinations are added to the above
    activemq_xml: str | None = None
    composite_destinations: list[CompositeConfig] = Field(default_factory=list)
    virtual_topic_prefix: str = "VirtualTopic."
    #: bytes of messages the broker holds in memory before producers are slowed (ActiveMQ's
    #: systemUsage memoryUsage); 0 means no broker-wide limit
    memory_limit: int = Field(default=512 * 1024 * 1024, ge=0)
    advisory_support: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: serve /metrics on the console port without credentials (Amazon MQ's metrics are not public)
    metrics_public: bool = False

    @field_validator("listeners")
    @classmethod
    def _known_listeners(cls, v: dict[str, Any]) -> dict[str, ListenerConfig]:
        out: dict[str, ListenerConfig] = {}
        for name, spec in v.items():
            if name not in DEFAULT_PORTS:
                raise ValueError(f"unknown listener {name!r} (known: {', '.join(DEFAULT_PORTS)})")
            out[name] = spec if isinstance(spec, ListenerConfig) else ListenerConfig(port=int(spec))
        return out

    def listener_ports(self) -> dict[str, ListenerConfig]:
        return dict(self.listeners)  # type: ignore[arg-type]

    @property
    def bind_address(self) -> str:
        if self.bind:
            return self.bind
        return "0.0.0.0" if self.PubliclyAccessible else "127.0.0.1"

    @property
    def store_path(self) -> Path:
        return Path(self.store.path) if self.store.path else Path(self.data_dir) / "store.db"


def _format_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    more = f" (and {len(e.errors()) - 1} more problem(s))" if len(e.errors()) > 1 else ""
    return f"{loc}: {msg}{more}"


def parse_config(data: Any, source: str = "config") -> BrokerConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys to values")
    try:
        return BrokerConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{source}: {_format_error(e)}") from None


def load_config(path: str | Path | None) -> BrokerConfig:
    if path is None:
        return BrokerConfig()
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    cfg = parse_config(data, str(p))
    if cfg.activemq_xml:
        cfg = merge_activemq_xml(cfg, (p.parent / cfg.activemq_xml), str(p))
    return cfg


def merge_activemq_xml(cfg: BrokerConfig, xml_path: Path, source: str) -> BrokerConfig:
    """Read an activemq.xml and add what ferrymq applies from it to ``cfg``."""
    from ferrymq.config.activemq_xml import XmlConfigError, sanitize, translate

    try:
        raw = xml_path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{source}: activemq_xml: cannot read {xml_path}: {e.strerror}") from None
    import base64

    try:
        sanitized = sanitize(base64.b64encode(raw).decode())
        extra = translate(sanitized.xml)
    except (XmlConfigError, ValueError) as e:
        raise ConfigError(f"{source}: activemq_xml: {xml_path}: {e}") from None
    data = cfg.model_dump(exclude_none=True)
    for key in ("policies", "authorization", "destinations", "composite_destinations"):
        data[key] = list(data.get(key, [])) + list(extra.get(key, []))
    data.pop("activemq_xml", None)
    return parse_config(data, f"{source} + {xml_path.name}")
