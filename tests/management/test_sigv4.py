"""SigV4 verification against requests signed by botocore itself (as boto3 sends them)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from ferrymq.http.sigv4 import SigV4Error, SigV4Verifier, canonical_query, canonical_uri

AKID = "AKIAFERRYMQTESTKEY01"
SECRET = "s" * 40
REGION = "eu-west-1"


class Captured:
    def __init__(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.method = method
        parts = urlsplit(url)
        self.target = parts.path + ("?" + parts.query if parts.query else "")
        # the HTTP library adds Host (with the port) after signing, as on the wire
        self.headers = [("Host", parts.netloc), *headers]
        self.body = body


def capture(call: Callable[[Any], Any], secret: str = SECRET, region: str = REGION) -> Captured:
    """Run one boto3 call and capture the request it would put on the wire."""
    client = boto3.client(
        "mq",
        region_name=region,
        endpoint_url="http://127.0.0.1:20999",
        aws_access_key_id=AKID,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )
    seen: list[Captured] = []

    def before_send(request: Any, **_: Any) -> AWSResponse:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        headers = [(n, v.decode() if isinstance(v, bytes) else v) for n, v in request.headers.items()]
        seen.append(Captured(request.method, request.url, headers, body))
        return AWSResponse(request.url, 200, {}, None)

    client.meta.events.register("before-send.mq.*", before_send)
    try:
        call(client)
    except Exception:
        pass
    assert len(seen) == 1
    return seen[0]


def verifier(
    clock_shift: timedelta = timedelta(0), region: str = REGION, keys: dict[str, str] | None = None
) -> SigV4Verifier:
    table = {AKID: SECRET} if keys is None else keys
    return SigV4Verifier(table.get, region, clock=lambda: datetime.now(UTC) + clock_shift)


CALLS: dict[str, Callable[[Any], Any]] = {
    "create_broker": lambda c: c.create_broker(
        BrokerName="b1",
        EngineType="ACTIVEMQ",
        DeploymentMode="SINGLE_INSTANCE",
        HostInstanceType="mq.t3.micro",
        PubliclyAccessible=False,
        Users=[{"Username": "admin", "Password": "secretsecret12"}],
    ),
    "list_brokers_paged": lambda c: c.list_brokers(MaxResults=2, NextToken="abc/def= +x"),
    "list_tags_arn": lambda c: c.list_tags(ResourceArn="arn:aws:mq:eu-west-1:000000000000:broker:b1:b-123"),
    "delete_tags_repeated": lambda c: c.delete_tags(
        ResourceArn="arn:aws:mq:eu-west-1:000000000000:broker:b1:b-123", TagKeys=["b key", "a", "ü"]
    ),
    "reboot": lambda c: c.reboot_broker(BrokerId="b-1"),
    "user_with_dots": lambda c: c.describe_user(BrokerId="b-1", Username="a.b~c-d_e"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_accepts_what_botocore_signs(name: str) -> None:
    req = capture(CALLS[name])
    assert verifier().verify(req.method, req.target, req.headers, req.body) == AKID


def _refused(req: Captured, v: SigV4Verifier | None = None) -> SigV4Error:
    with pytest.raises(SigV4Error) as info:
        (v or verifier()).verify(req.method, req.target, req.headers, req.body)
    return info.value


def test_wrong_secret_is_403() -> None:
    err = _refused(capture(CALLS["create_broker"], secret="x" * 40))
    assert (err.status, err.shape) == (403, "ForbiddenException")


def test_unknown_or_disabled_key_is_403() -> None:
    err = _refused(capture(CALLS["reboot"]), verifier(keys={}))
    assert err.status == 403


def test_wrong_region_is_403() -> None:
    err = _refused(capture(CALLS["reboot"], region="us-east-1"))
    assert err.status == 403 and "region" in err.message


@pytest.mark.parametrize("minutes", [20, -20])
def test_stale_or_future_request_is_403(minutes: int) -> None:
    err = _refused(capture(CALLS["reboot"]), verifier(clock_shift=timedelta(minutes=minutes)))
    assert err.status == 403 and "expired" in err.message


@pytest.mark.parametrize("minutes", [14, -14])
def test_inside_clock_window_is_accepted(minutes: int) -> None:
    req = capture(CALLS["reboot"])
    assert verifier(clock_shift=timedelta(minutes=minutes)).verify(
        req.method, req.target, req.headers, req.body
    )


def test_body_changed_after_signing_is_403() -> None:
    req = capture(CALLS["create_broker"])
    req.body = req.body.replace(b'"b1"', b'"b2"')
    assert _refused(req).status == 403


def test_path_changed_is_403() -> None:
    req = capture(CALLS["reboot"])
    req.target = req.target.replace("b-1", "b-2")
    assert _refused(req).status == 403


def test_method_changed_is_403() -> None:
    req = capture(CALLS["reboot"])
    req.method = "DELETE"
    assert _refused(req).status == 403


def test_query_order_does_not_matter() -> None:
    req = capture(CALLS["delete_tags_repeated"])
    path, _, query = req.target.partition("?")
    parts = query.split("&")
    req.target = path + "?" + "&".join(reversed(parts))
    assert verifier().verify(req.method, req.target, req.headers, req.body) == AKID


def test_query_value_changed_is_403() -> None:
    req = capture(CALLS["list_brokers_paged"])
    req.target = req.target.replace("maxResults=2", "maxResults=3")
    assert _refused(req).status == 403


def test_header_case_and_spacing_do_not_matter() -> None:
    req = capture(CALLS["create_broker"])
    req.headers = [
        (n.upper(), "  " + v.replace(" ", "   ") + " ") if n.lower() == "content-type" else (n.upper(), v)
        for n, v in req.headers
    ]
    assert verifier().verify(req.method, req.target, req.headers, req.body) == AKID


def test_signed_header_value_changed_is_403() -> None:
    req = capture(CALLS["reboot"])
    req.headers = [(n, "evil.example:1" if n.lower() == "host" else v) for n, v in req.headers]
    assert _refused(req).status == 403


def test_missing_authorization_is_401() -> None:
    req = capture(CALLS["reboot"])
    req.headers = [(n, v) for n, v in req.headers if n.lower() != "authorization"]
    err = _refused(req)
    assert (err.status, err.shape) == (401, "UnauthorizedException")


@pytest.mark.parametrize(
    "value",
    [
        "Bearer abc",
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/mq/aws4_request, SignedHeaders=host, Signature=zz",
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1, SignedHeaders=host;x-amz-date, Signature="
        + "0" * 64,
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + "0" * 64,
    ],
)
def test_malformed_authorization_is_401(value: str) -> None:
    req = capture(CALLS["reboot"])
    req.headers = [(n, value if n.lower() == "authorization" else v) for n, v in req.headers]
    assert _refused(req).status == 401


def test_wrong_service_is_403() -> None:
    req = capture(CALLS["reboot"])
    req.headers = [
        (n, v.replace("/mq/", "/sqs/") if n.lower() == "authorization" else v) for n, v in req.headers
    ]
    assert _refused(req).status == 403


def test_security_token_is_refused() -> None:
    req = capture(CALLS["reboot"])
    req.headers.append(("X-Amz-Security-Token", "tok"))
    assert _refused(req).status == 403


def test_presigned_query_is_refused() -> None:
    req = capture(CALLS["reboot"])
    req.target += "?X-Amz-Signature=" + "0" * 64
    assert _refused(req).status == 403


def test_missing_date_is_403() -> None:
    req = capture(CALLS["reboot"])
    req.headers = [(n, v) for n, v in req.headers if n.lower() != "x-amz-date"]
    assert _refused(req).status == 403


def test_canonical_helpers_match_the_algorithm() -> None:
    assert canonical_uri("/v1/tags/arn%3Aaws%3Amq") == "/v1/tags/arn%253Aaws%253Amq"
    assert canonical_uri("/a/./b/../c//d/") == "/a/c/d/"
    assert canonical_uri("") == "/"
    assert canonical_query("b=2&a=%2F&a=1&c") == "a=%2F&a=1&b=2&c="
    assert canonical_query("k=a+b") == "k=a%2Bb"


def test_own_signature_roundtrip_with_hmac() -> None:
    """An independently computed signature (written out step by step) is accepted."""
    from ferrymq.http.sigv4 import canonical_request, signing_key, string_to_sign

    now = datetime.now(UTC)
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    headers = [("Host", "127.0.0.1:20001"), ("X-Amz-Date", amz)]
    body = b""
    creq = canonical_request(
        "GET", "/v1/brokers", headers, ["host", "x-amz-date"], hashlib.sha256(body).hexdigest()
    )
    scope = f"{amz[:8]}/{REGION}/mq/aws4_request"
    sig = hmac.new(
        signing_key(SECRET, amz[:8], REGION, "mq"), string_to_sign(amz, scope, creq).encode(), hashlib.sha256
    ).hexdigest()
    headers.append(
        (
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders=host;x-amz-date, Signature={sig}",
        )
    )
    assert verifier().verify("GET", "/v1/brokers", headers, body) == AKID
