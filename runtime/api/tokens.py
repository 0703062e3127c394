"""API tokens kept in the store (``proctor token create``)."""

from __future__ import annotations

from proctor.events.model import utcnow
from proctor.runtime.api.auth import Scope, TokenRecord, new_token
from proctor.runtime.store import Store
from proctor.runtime.store.control import ApiTokenRow

__all__ = ("StoreTokens", "create_token")


class StoreTokens:
    """The ``TokenStore`` of the API over ``store.api_tokens``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        row = await self._store.api_tokens.find(token_hash=token_hash)
        if row is None:
            return None
        expired = row.expires is not None and row.expires <= utcnow()
        return TokenRecord(
            name=row.name,
            scope=Scope(row.scope),
            token_hash=row.token_hash,
            created=row.created,
            revoked=row.revoked or expired,
        )


async def create_token(store: Store, name: str, scope: Scope) -> str:
    """Store a new token's hash under ``name``; return the token (shown once, never stored)."""
    token, token_hash = new_token()
    await store.api_tokens.create(ApiTokenRow(name=name, scope=scope.value, token_hash=token_hash))
    return token
