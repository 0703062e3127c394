"""``InMemoryTriggerStateStore``: the test harness and the single-process default."""

from __future__ import annotations

from proctor.core.errors import TriggerStateConflictError
from proctor.triggers.state.base import TriggerStateStore
from proctor.triggers.state.records import Record, StateRef, Versioned

__all__ = ("InMemoryTriggerStateStore",)


class InMemoryTriggerStateStore(TriggerStateStore):
    """Records in a dict, with the same compare-and-set contract as the durable store."""

    atomic = True

    def __init__(self) -> None:
        self._records: dict[StateRef, Versioned] = {}
        self._revision = 0

    def __len__(self) -> int:
        return len(self._records)

    async def load(self, ref: StateRef) -> Versioned | None:
        return self._records.get(ref)

    async def save(self, ref: StateRef, record: Record, revision: int | None) -> int:
        return self.save_now(ref, record, revision)

    def save_now(self, ref: StateRef, record: Record, revision: int | None) -> int:
        current = self._records.get(ref)
        if (None if current is None else current.revision) != revision:
            raise TriggerStateConflictError(ref.trigger, expected=revision)
        self._revision += 1
        self._records[ref] = Versioned(record, self._revision)
        return self._revision

    async def delete(self, ref: StateRef, revision: int) -> None:
        current = self._records.get(ref)
        if current is None or current.revision != revision:
            raise TriggerStateConflictError(ref.trigger, expected=revision)
        del self._records[ref]

    async def scan(self, trigger: str, node: str) -> list[tuple[StateRef, Versioned]]:
        return [
            (ref, versioned)
            for ref, versioned in self._records.items()
            if ref.trigger == trigger and ref.node == node
        ]

    async def scan_all(self, trigger: str | None = None) -> list[tuple[StateRef, Versioned]]:
        return [
            (ref, versioned)
            for ref, versioned in self._records.items()
            if trigger is None or ref.trigger == trigger
        ]
