"""Core errors with a neutral condition that every adapter maps to its protocol (R8)."""

from __future__ import annotations

from enum import StrEnum


class Condition(StrEnum):
    NOT_FOUND = "not-found"
    UNAUTHORIZED = "unauthorized"
    RESOURCE_LIMIT = "resource-limit"
    INVALID = "invalid"
    CLIENT_ID_IN_USE = "client-id-in-use"
    ILLEGAL_STATE = "illegal-state"
    INTERNAL = "internal"


class CoreError(Exception):
    condition: Condition = Condition.INTERNAL

    def __init__(self, message: str, condition: Condition | None = None) -> None:
        super().__init__(message)
        self.message = message
        if condition is not None:
            self.condition = condition

    def __str__(self) -> str:
        return self.message


class NotFound(CoreError):
    condition = Condition.NOT_FOUND


class Unauthorized(CoreError):
    condition = Condition.UNAUTHORIZED


class ResourceLimit(CoreError):
    condition = Condition.RESOURCE_LIMIT


class InvalidRequest(CoreError):
    condition = Condition.INVALID


class ClientIdInUse(CoreError):
    condition = Condition.CLIENT_ID_IN_USE


class IllegalState(CoreError):
    condition = Condition.ILLEGAL_STATE


class StoreFailure(CoreError):
    condition = Condition.INTERNAL
