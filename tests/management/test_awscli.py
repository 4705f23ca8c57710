"""The `aws` CLI (awscli from PyPI) against the service: create / describe / delete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import REGION, Service, password


@pytest.fixture(scope="module")
def svc(service_factory: Callable[..., Service]) -> Service:
    return service_factory("20450-20499")


def aws(svc: Service, tmp: Path, *args: str, check: bool = True) -> Any:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": svc.key_id,
        "AWS_SECRET_ACCESS_KEY": svc.secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
        "AWS_MAX_ATTEMPTS": "1",
    }
    exe = Path(sys.executable).with_name("aws")
    out = subprocess.run(
        [str(exe), "mq", *args, "--endpoint-url", svc.url, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if not check:
        return out
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def test_create_describe_delete_round_trip(svc: Service, tmp_path: Path) -> None:
    users = json.dumps([{"Username": "admin", "Password": password()}])
    created = aws(
        svc, tmp_path, "create-broker", "--broker-name", "cli-broker", "--engine-type", "ACTIVEMQ",
        "--deployment-mode", "SINGLE_INSTANCE", "--host-instance-type", "mq.t3.micro",
        "--no-publicly-accessible", "--users", users,
    )  # fmt: skip
    bid = created["BrokerId"]
    assert bid.startswith("b-")
    deadline = time.monotonic() + 30
    while True:
        desc = aws(svc, tmp_path, "describe-broker", "--broker-id", bid)
        if desc["BrokerState"] == "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert desc["BrokerState"] == "RUNNING" and desc["BrokerName"] == "cli-broker"
    assert desc["BrokerInstances"][0]["Endpoints"]
    listed = aws(svc, tmp_path, "list-brokers")
    assert bid in [b["BrokerId"] for b in listed["BrokerSummaries"]]
    assert aws(svc, tmp_path, "delete-broker", "--broker-id", bid)["BrokerId"] == bid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = aws(svc, tmp_path, "describe-broker", "--broker-id", bid, check=False)
        if out.returncode != 0:
            break
        time.sleep(0.2)
    assert "NotFoundException" in out.stderr


def test_cli_reports_modeled_errors(svc: Service, tmp_path: Path) -> None:
    out = aws(svc, tmp_path, "describe-broker", "--broker-id", "b-missing", check=False)
    assert out.returncode != 0 and "NotFoundException" in out.stderr
