"""Settings of ``ferrymq service``: a YAML file, overridden by command-line flags."""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_ACCOUNT = "000000000000"


def default_serve_command() -> list[str]:
    """How to start one broker instance: the console script beside this interpreter when it
    exists, else the package's ``cli`` module run by this interpreter."""
    script = Path(sys.executable).with_name("ferrymq")
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-c", "import sys; from ferrymq.cli import main; sys.exit(main())", "serve"]


@dataclass
class ServiceConfig:
    data_dir: Path = Path("ferrymq-service")
    bind: str = "127.0.0.1"
    port: int = 8180
    broker_ports: tuple[int, int] = (40000, 40999)
    region: str = "us-east-1"
    account: str = DEFAULT_ACCOUNT
    # host name written into endpoints and console URLs
    advertised_host: str = "127.0.0.1"
    # where a broker with publiclyAccessible=false listens; true listens on public_address
    private_address: str = "127.0.0.1"
    public_address: str = "0.0.0.0"
    # named CIDR rule sets that CreateBroker/UpdateBroker securityGroups may refer to
    security_groups: dict[str, list[str]] = field(default_factory=dict)
    # TLS for broker listeners: with both set, brokers get Amazon MQ's TLS endpoints
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # or: every broker makes itself a self-signed certificate (``serve --self-signed``)
    tls_self_signed: bool = False
    serve_command: list[str] = field(default_factory=default_serve_command)
    # how long a broker may take to accept connections before CREATION_FAILED
    start_timeout: float = 60.0
    max_body_bytes: int = 2 * 1024 * 1024

    @property
    def tls(self) -> bool:
        return self.tls_self_signed or (self.tls_cert is not None and self.tls_key is not None)

    def validate(self) -> None:
        low, high = self.broker_ports
        if not (0 < low <= high < 65536):
            raise ValueError(f"broker port range {low}-{high} is not valid")
        if not (len(self.account) == 12 and self.account.isdigit()):
            raise ValueError("account must be 12 digits")
        for name, cidrs in self.security_groups.items():
            for cidr in cidrs:
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise ValueError(f"security group {name!r}: {cidr!r} is not a CIDR") from None

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ServiceConfig:
        cfg = cls()
        for key, value in data.items():
            attr = key.replace("-", "_")
            if not hasattr(cfg, attr):
                raise ValueError(f"unknown service setting {key!r}")
            if attr == "broker_ports":
                value = parse_port_range(value) if isinstance(value, str) else tuple(value)
            elif attr in ("data_dir", "tls_cert", "tls_key") and value is not None:
                value = Path(value)
            elif attr == "security_groups":
                value = {str(k): [str(c) for c in v] for k, v in (value or {}).items()}
            setattr(cfg, attr, value)
        return cfg

    @classmethod
    def load(cls, path: Path) -> ServiceConfig:
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping")
        return cls.from_mapping(data)


def parse_port_range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    if not sep:
        raise ValueError(f"port range {text!r} must be LOW-HIGH")
    return int(low), int(high)
