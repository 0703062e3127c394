"""API tokens: created once, stored hashed, sent as ``Authorization: Bearer <token>``.

Scopes are ordered: ``read`` (GET), ``write`` (changes), ``admin`` (tokens and settings).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from fastapi import Request

from proctor.core.errors import ConfigurationError
from proctor.core.settings import ProctorSettings

__all__ = (
    "TOKEN_PREFIX",
    "AuthError",
    "Scope",
    "TokenRecord",
    "TokenStore",
    "authorize",
    "check_bind_allowed",
    "hash_token",
    "new_token",
)

TOKEN_PREFIX = "pct_"


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        order = (Scope.READ, Scope.WRITE, Scope.ADMIN)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A stored token: never the token itself, only its hash."""

    name: str
    scope: Scope
    token_hash: str
    created: datetime
    revoked: bool = False


class TokenStore(Protocol):
    async def token_by_hash(self, token_hash: str) -> TokenRecord | None: ...


class AuthError(Exception):
    """A request is not authorised: ``status`` 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_token() -> tuple[str, str]:
    """A fresh token and its hash. Show the token once; store only the hash."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """SHA-256 of the token. Tokens are 256-bit random, so no salt or stretching is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_bind_allowed(settings: ProctorSettings, host: str) -> None:
    """Refuse to expose the API beyond loopback without authentication."""
    if settings.api_auth == "token":
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigurationError(
            f"refusing to bind the API to {host} without authentication: set "
            "PROCTOR_API_AUTH=token and create a token with `proctor token create NAME`, "
            "or bind 127.0.0.1",
            setting="PROCTOR_API_AUTH",
        )


def authorize(
    settings: ProctorSettings, tokens: TokenStore
) -> Callable[[Request, Scope], Awaitable[TokenRecord | None]]:
    """A checker for one request and the scope its route needs (None when auth is off)."""

    async def check(request: Request, needed: Scope) -> TokenRecord | None:
        if settings.api_auth == "none":
            return None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError(401, "missing bearer token: send 'Authorization: Bearer <token>'")
        record = await tokens.token_by_hash(hash_token(token.strip()))
        if record is None or record.revoked:
            raise AuthError(401, "unknown or revoked token")
        if not record.scope.allows(needed):
            raise AuthError(
                403, f"token {record.name!r} has scope {record.scope}; this needs {needed}"
            )
        return record

    return check
