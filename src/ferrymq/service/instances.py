"""How one broker record becomes running instances: ports, listener names, endpoints, the
broker config file and the ``ferrymq serve`` command line."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any

import yaml

from ferrymq.config.schema import ConfigError, parse_config
from ferrymq.service.config import ServiceConfig
from ferrymq.service.supervisor import InstanceSpec

# logical endpoint -> (plain listener, TLS listener, plain scheme, TLS scheme)
ENDPOINTS: dict[str, tuple[str, str, str, str]] = {
    "openwire": ("openwire", "openwire-ssl", "tcp", "ssl"),
    "amqp": ("amqp", "amqp-ssl", "amqp", "amqp+ssl"),
    "stomp": ("stomp", "stomp-ssl", "stomp", "stomp+ssl"),
    "mqtt": ("mqtt", "mqtt-ssl", "mqtt", "mqtt+ssl"),
    "ws": ("ws", "wss", "ws", "wss"),
    "console": ("http", "https", "http", "https"),
}
PORTS_PER_INSTANCE = len(ENDPOINTS)


def listener_name(logical: str, tls: bool) -> str:
    plain, secure, _, _ = ENDPOINTS[logical]
    return secure if tls else plain


def bind_address(cfg: ServiceConfig, publicly_accessible: bool) -> str:
    return cfg.public_address if publicly_accessible else cfg.private_address


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def allocate_ports(cfg: ServiceConfig, used: set[int], count: int, host: str) -> list[int] | None:
    """``count`` ports of the configured range, not recorded for another broker and free now."""
    low, high = cfg.broker_ports
    out: list[int] = []
    for port in range(low, high + 1):
        if port in used:
            continue
        if _bindable(host, port):
            out.append(port)
            if len(out) == count:
                return out
    return None


def endpoints(
    cfg: ServiceConfig, ports: dict[str, int], available: list[str]
) -> tuple[list[str], str | None]:
    """(wire-level endpoint URLs, console URL) of one instance, for the listeners serve has."""
    tls = cfg.tls
    urls: list[str] = []
    console: str | None = None
    for logical, (plain, secure, pscheme, sscheme) in ENDPOINTS.items():
        name = secure if tls else plain
        if name not in available or logical not in ports:
            continue
        url = f"{sscheme if tls else pscheme}://{cfg.advertised_host}:{ports[logical]}"
        if logical == "console":
            console = url
        else:
            urls.append(url)
    return urls, console


def broker_file(
    doc: dict[str, Any],
    users: list[dict[str, Any]],
    sections: dict[str, Any],
    cfg: ServiceConfig,
    data_dir: Path,
    listeners: dict[str, int],
    allow: list[str],
) -> dict[str, Any]:
    """The YAML mapping ``ferrymq serve --config`` reads for this broker."""
    out: dict[str, Any] = {
        "BrokerName": doc["brokerName"],
        "EngineType": "ActiveMQ",
        "EngineVersion": doc["engineVersion"],
        "HostInstanceType": doc["hostInstanceType"],
        "DeploymentMode": doc["deploymentMode"],
        "AutoMinorVersionUpgrade": doc["autoMinorVersionUpgrade"],
        "PubliclyAccessible": doc["publiclyAccessible"],
        "data_dir": str(data_dir),
        "users": users,
        "policies": sections.get("policies", []),
        "authorization": sections.get("authorization", []),
        "destinations": sections.get("destinations", []),
    }
    if allow:
        out["listeners"] = {
            name: {"port": port, "allow": list(allow)} for name, port in listeners.items() if port
        }
    if cfg.tls_cert is not None and cfg.tls_key is not None:
        out["tls"] = {"cert_file": str(cfg.tls_cert), "key_file": str(cfg.tls_key)}
    return out


def write_broker_file(path: Path, data: dict[str, Any]) -> None:
    """Validate against the broker config schema, then write (0600: it holds passwords)."""
    try:
        parse_config(data, str(path))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    tmp.replace(path)


def instance_spec(
    cfg: ServiceConfig,
    name: str,
    config_file: Path,
    data_dir: Path,
    bind: str,
    ports: dict[str, int],
    available: list[str],
    log_file: Path,
) -> InstanceSpec:
    argv = [*cfg.serve_command, "--config", str(config_file), "--data-dir", str(data_dir), "--bind", bind]
    if cfg.tls_self_signed:
        argv.append("--self-signed")
    wanted = {listener_name(logical, cfg.tls): port for logical, port in ports.items()}
    probe: list[int] = []
    for proto in available:
        port = wanted.get(proto, 0)
        argv += ["--port", f"{proto}={port}"]
        if port:
            probe.append(port)
    probe_host = cfg.advertised_host if bind in ("0.0.0.0", "::") else bind
    return InstanceSpec(name=name, argv=argv, log_file=log_file, probe_host=probe_host, probe_ports=probe)
