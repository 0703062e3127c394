"""The board: run entries in a JetStream KV bucket, read and written with compare-and-set."""

from __future__ import annotations

from uuid import UUID

import nats.js.errors
from nats.js.kv import KeyValue

from proctor.runtime.orchestration.model import RunEntry

__all__ = ("RunBoard",)


class RunBoard:
    """One KV key per requested flow run (its id); values are ``RunEntry`` JSON.

    ``create`` succeeds for one caller only; ``swap`` only if nobody wrote since ``revision``.
    Both return the new revision, or ``None`` when another writer got there first.
    """

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def get(self, run_id: UUID) -> tuple[RunEntry, int] | None:
        """The entry and its revision, or ``None`` if the run is unknown (or expired)."""
        try:
            found = await self.kv.get(str(run_id))
        except nats.js.errors.KeyNotFoundError:
            return None
        if found.value is None or found.revision is None:
            return None
        return RunEntry.model_validate_json(found.value), found.revision

    async def create(self, entry: RunEntry) -> int | None:
        """Store a new entry; ``None`` if the run already has one."""
        try:
            return await self.kv.create(str(entry.id), entry.model_dump_json().encode())
        except nats.js.errors.KeyWrongLastSequenceError:
            return None

    async def swap(self, entry: RunEntry, revision: int) -> int | None:
        """Replace the entry if it is still at ``revision``; ``None`` if it changed since."""
        try:
            return await self.kv.update(
                str(entry.id), entry.model_dump_json().encode(), last=revision
            )
        except nats.js.errors.KeyWrongLastSequenceError:
            return None
