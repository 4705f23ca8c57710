"""Server-side verification of AWS Signature Version 4 (header form).

ferrymq recomputes the signature a client such as botocore made for a request and
compares it in constant time. The policy (what is refused and with which error) lives
here too, so the HTTP layer only maps ``SigV4Error`` to a response:

- no ``Authorization`` header, or one that is not ``AWS4-HMAC-SHA256 Credential=...,
  SignedHeaders=..., Signature=<64 hex>``: 401 ``UnauthorizedException``;
- unknown or disabled access key, wrong scope (region, service, terminator, date),
  ``X-Amz-Date`` missing, unsigned or more than 15 minutes away from the server clock,
  ``host`` unsigned, presigned query authentication, session tokens, a body that does
  not match ``X-Amz-Content-SHA256``, or a signature that does not match: 403
  ``ForbiddenException``.

The canonical request is built from the raw request target (path still percent-encoded,
query as sent), never from a decoded path: the tag routes carry a percent-encoded ARN.
Stdlib only; the tests sign with botocore's own signer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
CLOCK_WINDOW = timedelta(minutes=15)
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<cred>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*"
    r"Signature=(?P<sig>[0-9a-f]{64})\s*$"
)
_AMZ_DATE_RE = re.compile(r"^\d{8}T\d{6}Z$")
_UNRESERVED = "-_.~"


class SigV4Error(Exception):
    """A refused request: ``status`` 401 or 403 and the modeled error shape name."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.shape = "UnauthorizedException" if status == 401 else "ForbiddenException"
        self.message = message


@dataclass(frozen=True, slots=True)
class Credential:
    access_key: str
    date: str
    region: str
    service: str
    terminator: str


# ------------------------------------------------------------------------ canonical form
def canonical_uri(raw_path: str) -> str:
    """Each segment of the already-encoded path encoded once more; dot and empty segments
    removed (the non-S3 rule)."""
    path = raw_path.split("?", 1)[0] or "/"
    out: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    norm = "/" + "/".join(out)
    if path.endswith("/") and norm != "/":
        norm += "/"
    return quote(norm, safe="/~")


def _encode(value: str) -> str:
    return quote(value, safe=_UNRESERVED)


def canonical_query(raw_query: str) -> str:
    """Decode each name and value, re-encode with only unreserved characters kept, sort by
    name then value."""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


def canonical_headers(headers: Iterable[tuple[str, str]], signed: list[str]) -> str:
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append(" ".join(value.split()))
    return "".join(f"{name}:{','.join(grouped.get(name, []))}\n" for name in signed)


def canonical_request(
    method: str,
    raw_target: str,
    headers: Iterable[tuple[str, str]],
    signed: list[str],
    payload_hash: str,
) -> str:
    path, _, query = raw_target.partition("?")
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers(headers, signed),
            ";".join(signed),
            payload_hash,
        ]
    )


@lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def string_to_sign(amz_date: str, scope: str, creq: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])


# ------------------------------------------------------------------------------ verifier
SecretLookup = Callable[[str], "str | None"]


class SigV4Verifier:
    """Verifies one request at a time. ``lookup(access_key)`` returns the secret of an
    enabled key or None; ``clock()`` returns an aware UTC datetime."""

    def __init__(
        self,
        lookup: SecretLookup,
        region: str,
        service: str = "mq",
        clock: Callable[[], datetime] | None = None,
        window: timedelta = CLOCK_WINDOW,
    ) -> None:
        self._lookup = lookup
        self.region = region
        self.service = service
        self._clock = clock or (lambda: datetime.now(UTC))
        self._window = window

    def verify(
        self,
        method: str,
        raw_target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
    ) -> str:
        """Return the access key id of a correctly signed request; raise ``SigV4Error``."""
        header_list = list(headers)
        lower: dict[str, str] = {}
        for name, value in header_list:
            lower.setdefault(name.lower(), value)
        query = raw_target.partition("?")[2]
        if "x-amz-signature=" in query.lower() or "x-amz-credential=" in query.lower():
            raise SigV4Error(403, "Presigned query authentication is not supported")
        auth = lower.get("authorization")
        if not auth:
            raise SigV4Error(401, "Missing Authentication Token")
        m = _AUTH_RE.match(auth.strip())
        if m is None:
            raise SigV4Error(401, "Authorization header is not a valid AWS4-HMAC-SHA256 signature")
        cred_parts = m["cred"].split("/")
        if len(cred_parts) != 5 or not all(cred_parts):
            raise SigV4Error(
                401, "Credential should be scoped to a valid date, region, service and terminator"
            )
        cred = Credential(*cred_parts)
        signed = m["signed"].split(";")
        if signed != sorted(signed) or any(h != h.lower() or not h for h in signed):
            raise SigV4Error(401, "SignedHeaders must be lower case and sorted")
        if "x-amz-security-token" in lower:
            raise SigV4Error(403, "Session tokens are not supported; use a ferrymq access key")
        secret = self._lookup(cred.access_key)
        if secret is None:
            raise SigV4Error(403, "The security token included in the request is invalid")
        if cred.service != self.service or cred.terminator != "aws4_request":
            raise SigV4Error(403, f"Credential should be scoped to correct service: '{self.service}'")
        if cred.region != self.region:
            raise SigV4Error(403, f"Credential should be scoped to a valid region: '{self.region}'")
        amz_date = lower.get("x-amz-date")
        if amz_date is None or not _AMZ_DATE_RE.match(amz_date):
            raise SigV4Error(403, "Request must carry a valid X-Amz-Date header")
        if "x-amz-date" not in signed or "host" not in signed:
            raise SigV4Error(403, "The host and x-amz-date headers must be signed")
        if cred.date != amz_date[:8]:
            raise SigV4Error(403, "Credential date does not match X-Amz-Date")
        try:
            when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise SigV4Error(403, "Request must carry a valid X-Amz-Date header") from None
        now = self._clock()
        if abs(now - when) > self._window:
            raise SigV4Error(
                403,
                f"Signature expired: {amz_date} is now earlier or later than the 15 minute window "
                f"around {now.strftime('%Y%m%dT%H%M%SZ')}",
            )
        body_hash = hashlib.sha256(body).hexdigest()
        declared = lower.get("x-amz-content-sha256")
        if declared is not None and declared != body_hash:
            raise SigV4Error(403, "The provided X-Amz-Content-SHA256 does not match the request body")
        creq = canonical_request(method, raw_target, header_list, signed, body_hash)
        scope = f"{cred.date}/{cred.region}/{cred.service}/aws4_request"
        sts = string_to_sign(amz_date, scope, creq)
        key = signing_key(secret, cred.date, cred.region, cred.service)
        expected = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), m["sig"].encode()):
            raise SigV4Error(
                403,
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method.",
            )
        return cred.access_key
