"""Concurrency limits enforced across workers: slots taken with KV ``create()``.

A limit of N on a scope (a tag, a deployment, a pool, a queue) is N keys
``slot.<scope>.<0..N-1>``; a run holds one of them while it executes, its id as the value.
``create()`` on a key gives it to exactly one caller, whatever the number of workers, so no
more than N runs of a scope hold slots at once. A run takes the slots of all its scopes or
none (it gives back what it took and waits). Slots are released when the run ends, by its
worker, or by the monitor when the worker died.

Tag limits are kept in the same bucket: ``limit.tag.<tag key>`` = ``{"tag": ..., "limit": N}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import nats.js.errors
from nats.js.kv import KeyValue

from proctor.core.errors import ConfigurationError

__all__ = ("ConcurrencySlots", "Scope", "scope_key")

_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Scope = tuple[str, int]
"""A scope key (``tag.<tag key>``, ``deployment.<id>``...) and its limit."""


def _token(value: str) -> str:
    """``value`` if it is safe in a KV key token, else a stable hash of it."""
    if _SAFE.match(value):
        return value
    return "h-" + hashlib.sha256(value.encode()).hexdigest()[:32]


def scope_key(kind: str, *names: str) -> str:
    """The key of a scope: ``scope_key("tag", "db")`` is ``tag.db``."""
    return ".".join([kind, *(_token(name) for name in names)])


class ConcurrencySlots:
    """Tag limits and the slots runs hold, in one KV bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    # --- tag limits ------------------------------------------------------------------------

    async def set_tag_limit(self, tag: str, limit: int | None) -> None:
        """Allow at most ``limit`` runs tagged ``tag`` at once (``None`` removes the limit)."""
        key = f"limit.{scope_key('tag', tag)}"
        if limit is None:
            await self.kv.delete(key)
            return
        if limit < 0:
            raise ConfigurationError(f"tag {tag!r}: a concurrency limit must be >= 0, not {limit}")
        await self.kv.put(key, json.dumps({"tag": tag, "limit": limit}).encode())

    async def tag_limit(self, tag: str) -> int | None:
        """The limit on runs tagged ``tag``, or ``None``."""
        try:
            found = await self.kv.get(f"limit.{scope_key('tag', tag)}")
        except nats.js.errors.KeyNotFoundError:
            return None
        return int(json.loads(found.value or b"{}")["limit"])

    async def tag_limits(self) -> dict[str, int]:
        """Every tag limit, by tag."""
        limits: dict[str, int] = {}
        watcher: Any = await self.kv.watch("limit.tag.>", ignore_deletes=True)
        try:
            async for entry in watcher:
                if entry is None:
                    break
                if entry.value:
                    record = json.loads(entry.value)
                    limits[record["tag"]] = int(record["limit"])
        finally:
            await watcher.stop()
        return limits

    async def held(self, scope: str) -> list[UUID]:
        """The runs holding slots of ``scope`` now."""
        holders: list[UUID] = []
        watcher: Any = await self.kv.watch(f"slot.{scope}.*", ignore_deletes=True)
        try:
            async for entry in watcher:
                if entry is None:
                    break
                if entry.value:
                    holders.append(UUID(entry.value.decode()))
        finally:
            await watcher.stop()
        return holders

    # --- slots -------------------------------------------------------------------------------

    async def scopes_for_tags(self, tags: Iterable[str]) -> list[Scope]:
        """The limited scopes among ``tags``."""
        scopes: list[Scope] = []
        for tag in sorted(set(tags)):
            limit = await self.tag_limit(tag)
            if limit is not None:
                scopes.append((scope_key("tag", tag), limit))
        return scopes

    async def acquire(self, run_id: UUID, scopes: Sequence[Scope]) -> tuple[str, ...] | None:
        """One slot of every scope for ``run_id``, or ``None`` (and nothing held) if any is full."""
        taken: list[str] = []
        for scope, limit in scopes:
            key = await self._take_one(run_id, scope, limit)
            if key is None:
                await self.release(run_id, taken)
                return None
            taken.append(key)
        return tuple(taken)

    async def _take_one(self, run_id: UUID, scope: str, limit: int) -> str | None:
        if limit <= 0:
            return None
        value = str(run_id).encode()
        start = random.randrange(limit)  # spread contending workers over the slots
        for offset in range(limit):
            key = f"slot.{scope}.{(start + offset) % limit}"
            try:
                await self.kv.create(key, value)
                return key
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
        return None

    async def release(self, run_id: UUID, keys: Iterable[str]) -> None:
        """Give back the slots among ``keys`` that ``run_id`` still holds."""
        mine = str(run_id).encode()
        for key in keys:
            try:
                found = await self.kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                continue
            if found.value == mine:
                # Compare-and-delete: a slot that changed hands since the read stays.
                with contextlib.suppress(nats.js.errors.APIError):
                    await self.kv.delete(key, last=found.revision)
