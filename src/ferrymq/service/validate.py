"""Field rules of the management API, each failure a 400 naming the member."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from ferrymq.http.mq_api import ApiError, bad_request

_BROKER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
_USERNAME = re.compile(r"^[A-Za-z0-9._~-]{2,100}$")
_GROUP = re.compile(r"^[A-Za-z0-9._~-]{2,100}$")
_CONFIG_NAME = re.compile(r"^[A-Za-z0-9._~-]{1,150}$")
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
DAYS = {"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}
MAX_USERS = 250
MAX_TAGS = 50


def require(params: dict[str, Any], name: str) -> Any:
    if params.get(name) is None:
        raise bad_request(f"The request must include {name}", name)
    return params[name]


def boolean(params: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be a boolean", name)
    return value


def string(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string", name)
    return value


def string_list(params: dict[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"{name} must be a list of strings", name)
    return list(value)


def broker_name(value: Any) -> str:
    if not isinstance(value, str) or not _BROKER_NAME.match(value):
        raise bad_request(
            "Broker name must be 1-50 characters long and contain only letters, digits, '-' and '_'",
            "brokerName",
        )
    return value


def username(value: Any) -> str:
    if not isinstance(value, str) or not _USERNAME.match(value):
        raise bad_request(
            "Username must be 2-100 characters long and contain only letters, digits and '-._~'", "username"
        )
    return value


def password(value: Any) -> str:
    if not isinstance(value, str) or not (12 <= len(value) <= 250):
        raise bad_request("Password must be 12-250 characters long", "password")
    if len(set(value)) < 4:
        raise bad_request("Password must contain at least 4 unique characters", "password")
    if any(c in value for c in ",:="):
        raise bad_request("Password must not contain commas, colons or equal signs", "password")
    return value


def groups(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 20:
        raise bad_request("A user may belong to at most 20 groups", "groups")
    for g in value:
        if not isinstance(g, str) or not _GROUP.match(g):
            raise bad_request(
                "Group names must be 2-100 characters long and contain only letters, digits and '-._~'",
                "groups",
            )
    return list(value)


def configuration_name(value: Any) -> str:
    if not isinstance(value, str) or not _CONFIG_NAME.match(value):
        raise bad_request(
            "Configuration name must be 1-150 characters long and contain only letters, digits and '-._~'",
            "name",
        )
    return value


def maintenance_window(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    attr = "maintenanceWindowStartTime"
    if not isinstance(value, dict):
        raise bad_request(f"{attr} must be an object", attr)
    day = value.get("dayOfWeek")
    tod = value.get("timeOfDay")
    if not isinstance(day, str) or day.upper() not in DAYS:
        raise bad_request("dayOfWeek must be a day of the week (MONDAY ... SUNDAY)", "dayOfWeek")
    if not isinstance(tod, str) or not _TIME_OF_DAY.match(tod):
        raise bad_request("timeOfDay must be HH:MM in 24-hour format", "timeOfDay")
    tz = value.get("timeZone", "UTC")
    if not isinstance(tz, str) or not tz:
        raise bad_request("timeZone must be a time zone name", "timeZone")
    return {"dayOfWeek": day.upper(), "timeOfDay": tod, "timeZone": tz}


def tags(value: Any, attribute: str = "tags") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_TAGS:
        raise bad_request(f"{attribute} must be a map of at most {MAX_TAGS} tags", attribute)
    for k, v in value.items():
        if not isinstance(k, str) or not (1 <= len(k) <= 128) or k.lower().startswith("aws:"):
            raise bad_request("Tag keys must be 1-128 characters and must not start with aws:", attribute)
        if not isinstance(v, str) or len(v) > 256:
            raise bad_request("Tag values must be strings of at most 256 characters", attribute)
    return dict(value)


def logs(value: Any) -> dict[str, bool] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("logs must be an object", "logs")
    out: dict[str, bool] = {}
    for key in ("general", "audit"):
        if key in value and value[key] is not None:
            if not isinstance(value[key], bool):
                raise bad_request(f"logs.{key} must be a boolean", key)
            out[key] = value[key]
    return out


def max_results(params: dict[str, Any], default: int = 20, low: int = 1) -> int:
    raw = params.get("maxResults")
    if raw is None or raw == "":
        return default
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise bad_request("maxResults must be an integer", "maxResults") from None
    if not (low <= n <= 100):
        raise bad_request(f"maxResults must be between {low} and 100", "maxResults")
    return n


def encode_token(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def decode_token(params: dict[str, Any]) -> list[Any] | None:
    raw = params.get("nextToken")
    if raw is None or raw == "":
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, binascii.Error, TypeError):
        raise bad_request("nextToken is not a token this service issued", "nextToken") from None
    if not isinstance(key, list):
        raise bad_request("nextToken is not a token this service issued", "nextToken")
    return key


def page(
    items: list[Any], key_of: Any, params: dict[str, Any], default: int = 20
) -> tuple[list[Any], str | None]:
    """Items after the token's key in key_of order, at most maxResults, and the next token."""
    limit = max_results(params, default)
    items = sorted(items, key=lambda i: list(key_of(i)))
    after = decode_token(params)
    if after is not None:
        items = [i for i in items if list(key_of(i)) > after]
    chunk = items[:limit]
    token = encode_token(list(key_of(chunk[-1]))) if len(items) > limit else None
    return chunk, token


def unsupported(member: str, what: str) -> ApiError:
    return bad_request(f"ferrymq does not support {what} yet", member)
