"""``BufferedTriggerStateStore``: trigger state in memory, written to a durable store in batches.

An engine evaluates a batch of events against records held here (no round trip per change),
then ``flush()``-es every changed record to the durable store with compare-and-set, in
parallel, before it acknowledges the batch. A crash before the flush loses nothing: the batch
is delivered again, and the evaluator recognises the events it had counted. A record that
another engine replica wrote meanwhile is a conflict: ``flush`` forgets it (the next load reads
the replica's version) and names its trigger, so the engine can re-evaluate what depended on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from proctor.core.errors import TriggerStateConflictError
from proctor.triggers.state.base import TriggerStateStore
from proctor.triggers.state.records import Record, StateRef, Versioned

__all__ = ("BufferedTriggerStateStore",)


@dataclass(slots=True)
class _Entry:
    record: Record | None
    """``None``: absent (never written, or deleted)."""
    local: int | None
    """Revision handed to the evaluator (``None`` while absent)."""
    durable: int | None
    """Revision in the durable store (``None``: absent there)."""


class BufferedTriggerStateStore(TriggerStateStore):
    """A write-behind cache over ``durable``, with the same compare-and-set contract."""

    def __init__(self, durable: TriggerStateStore) -> None:
        self.durable = durable
        self._entries: dict[StateRef, _Entry] = {}
        self._dirty: set[StateRef] = set()
        self._revision = 0
        self._complete: set[str] = set()
        """Triggers whose every durable record is held here: a miss needs no read."""
        self._all_complete = False

    @property
    def pending(self) -> int:
        """How many records changed since the last flush."""
        return len(self._dirty)

    def _next(self) -> int:
        self._revision += 1
        return self._revision

    async def preload(self, triggers: set[str] | None = None) -> bool:
        """Read every durable record (of ``triggers``, if given) at once, so that a record
        not found later is known to be absent without a read (another replica creating it
        meanwhile is caught by compare-and-set). ``False`` if the store cannot list."""
        try:
            if triggers is None:
                found = await self.durable.scan_all()
            else:
                found = [item for key in triggers for item in await self.durable.scan_all(key)]
        except NotImplementedError:
            return False
        for ref, versioned in found:
            if ref not in self._entries:
                self._entries[ref] = _Entry(versioned.record, self._next(), versioned.revision)
        if triggers is None:
            self._all_complete = True
        else:
            self._complete |= triggers
        return True

    def _known_absent(self, ref: StateRef) -> bool:
        return self._all_complete or ref.trigger in self._complete

    async def _entry(self, ref: StateRef) -> _Entry:
        entry = self._entries.get(ref)
        if entry is not None:
            return entry
        if self._known_absent(ref):
            entry = self._entries[ref] = _Entry(None, None, None)
            return entry
        versioned = await self.durable.load(ref)
        entry = self._entries.get(ref)  # another load may have finished first
        if entry is None:
            if versioned is None:
                entry = _Entry(None, None, None)
            else:
                entry = _Entry(versioned.record, self._next(), versioned.revision)
            self._entries[ref] = entry
        return entry

    async def load(self, ref: StateRef) -> Versioned | None:
        entry = await self._entry(ref)
        if entry.record is None or entry.local is None:
            return None
        return Versioned(entry.record, entry.local)

    async def save(self, ref: StateRef, record: Record, revision: int | None) -> int:
        entry = await self._entry(ref)
        return self._save(ref, entry, record, revision)

    def save_now(self, ref: StateRef, record: Record, revision: int | None) -> int | None:
        entry = self._entries.get(ref)
        if entry is None:
            if not self._known_absent(ref):
                return None
            entry = self._entries[ref] = _Entry(None, None, None)
        elif entry.local == revision:  # ``_save``, inlined: this runs for every count
            self._revision = saved = self._revision + 1
            entry.record, entry.local = record, saved
            self._dirty.add(ref)
            return saved
        return self._save(ref, entry, record, revision)

    def _save(self, ref: StateRef, entry: _Entry, record: Record, revision: int | None) -> int:
        if entry.local != revision:
            raise TriggerStateConflictError(ref.trigger, expected=revision)
        entry.record, entry.local = record, self._next()
        self._dirty.add(ref)
        return self._revision

    async def delete(self, ref: StateRef, revision: int) -> None:
        entry = await self._entry(ref)
        if entry.local is None or entry.local != revision:
            raise TriggerStateConflictError(ref.trigger, expected=revision)
        entry.record, entry.local = None, None
        self._dirty.add(ref)

    async def scan(self, trigger: str, node: str) -> list[tuple[StateRef, Versioned]]:
        for ref, versioned in await self.durable.scan(trigger, node):
            if ref not in self._entries:
                self._entries[ref] = _Entry(versioned.record, self._next(), versioned.revision)
        return [
            (ref, Versioned(entry.record, entry.local))
            for ref, entry in self._entries.items()
            if ref.trigger == trigger
            and ref.node == node
            and entry.record is not None
            and entry.local is not None
        ]

    def forget(self, trigger: str) -> None:
        """Drop every record of ``trigger`` held here (unflushed changes included); later
        reads go to the durable store."""
        self._complete.discard(trigger)
        if self._all_complete:
            self._all_complete = False
            self._complete = {ref.trigger for ref in self._entries} - {trigger}
        for ref in [ref for ref in self._entries if ref.trigger == trigger]:
            del self._entries[ref]
            self._dirty.discard(ref)

    async def flush(self, *, batch: int = 1000) -> set[str]:
        """Write every changed record to the durable store; the triggers that conflicted.

        A conflicting record is forgotten here (read again on next use), as is every other
        record of its trigger: its changes were made from a stale state. If the durable store
        fails, what was not written stays pending and the error is raised. Writes go out
        ``batch`` at a time (pipelined where the store can). Changes made while it runs are
        written now or at the next flush.
        """
        dirty, self._dirty = list(self._dirty), set()
        conflicted: set[str] = set()
        for first in range(0, len(dirty), batch):
            chunk = dirty[first : first + batch]
            try:
                conflicted |= await self._write(chunk)
            except BaseException:
                self._dirty.update(dirty[first:])  # not written: try again at the next flush
                raise
        for trigger in conflicted:
            self.forget(trigger)
        return conflicted

    async def _write(self, refs: list[StateRef]) -> set[str]:
        """Write ``refs``' records (saves pipelined, deletes one by one); conflicted triggers."""
        conflicted: set[str] = set()
        saves: list[tuple[StateRef, _Entry, Record, int | None]] = []
        for ref in refs:
            entry = self._entries.get(ref)
            if entry is None or (entry.local is None and entry.durable is None):
                continue
            if entry.record is None:
                assert entry.durable is not None
                try:
                    await self.durable.delete(ref, entry.durable)
                except TriggerStateConflictError:
                    conflicted.add(ref.trigger)
                    continue
                entry.durable = None
                if entry.local is not None:
                    self._dirty.add(ref)  # re-created while being deleted
            else:
                saves.append((ref, entry, entry.record, entry.local))
        revisions = await self.durable.save_many(
            [(ref, record, entry.durable) for ref, entry, record, _ in saves]
        )
        for (ref, entry, _, local), revision in zip(saves, revisions, strict=True):
            if revision is None:
                conflicted.add(ref.trigger)
                continue
            entry.durable = revision
            if entry.local != local:  # changed while being written: write again next time
                self._dirty.add(ref)
        return conflicted

    async def close(self) -> None:
        await self.durable.close()
