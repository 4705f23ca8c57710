"""SigV4 at the service's front door: unsigned, wrongly signed, stale, wrong-region requests."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from conftest import Service


@pytest.fixture(scope="module")
def svc(service_factory: Callable[..., Service]) -> Service:
    return service_factory("20400-20449")


def status_and_code(exc: pytest.ExceptionInfo[Any]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def test_signed_request_is_accepted(svc: Service) -> None:
    assert "BrokerSummaries" in svc.client().list_brokers()


def test_unsigned_request_is_401(svc: Service) -> None:
    mq = boto3.client(
        "mq", region_name="eu-west-1", endpoint_url=svc.url, config=Config(signature_version=UNSIGNED)
    )
    with pytest.raises(mq.exceptions.UnauthorizedException) as exc:
        mq.list_brokers()
    assert status_and_code(exc) == (401, "UnauthorizedException")


def test_wrong_secret_is_403(svc: Service) -> None:
    mq = svc.client(key=(svc.key_id, "x" * 40))
    with pytest.raises(mq.exceptions.ForbiddenException) as exc:
        mq.list_brokers()
    assert status_and_code(exc) == (403, "ForbiddenException")


def test_unknown_key_is_403(svc: Service) -> None:
    mq = svc.client(key=("AKIAUNKNOWNUNKNOWN00", svc.secret))
    with pytest.raises(mq.exceptions.ForbiddenException):
        mq.list_brokers()


def test_wrong_region_is_403(svc: Service) -> None:
    mq = svc.client(region="us-east-1")
    with pytest.raises(mq.exceptions.ForbiddenException) as exc:
        mq.list_brokers()
    assert "region" in exc.value.response["Error"]["Message"]


@pytest.mark.parametrize("minutes", [-20, 20])
def test_stale_or_future_request_is_403(svc: Service, minutes: int) -> None:
    mq = svc.client()
    shifted = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=shifted),
        pytest.raises(mq.exceptions.ForbiddenException) as exc,
    ):
        mq.list_brokers()
    assert "expired" in exc.value.response["Error"]["Message"]


def test_disabled_key_is_403_until_enabled(svc: Service) -> None:
    key = svc.create_key()
    mq = svc.client(key=key)
    mq.list_brokers()

    def keys(*args: str) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ferrymq.service.cli",
                "keys",
                *args,
                "--data-dir",
                str(svc.data_dir),
                key[0],
            ],
            check=True,
            timeout=30,
        )

    keys("disable")
    with pytest.raises(mq.exceptions.ForbiddenException):
        mq.list_brokers()
    keys("enable")
    mq.list_brokers()
    keys("delete")
    with pytest.raises(mq.exceptions.ForbiddenException):
        mq.list_brokers()


def test_auth_is_checked_before_routing(svc: Service) -> None:
    mq = svc.client(key=(svc.key_id, "x" * 40))
    with pytest.raises(mq.exceptions.ForbiddenException):
        mq.describe_broker(BrokerId="b-does-not-exist")
