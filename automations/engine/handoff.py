"""``Handoff``: firings this engine published, kept for its own firings consumer.

A firing is published as a ``triggered`` event and its actions start when the firings
consumer delivers that event (so a firing outlives the replica that made it). When the
delivery comes back to the replica that published it, its bytes are those it published:
the actions then start from the objects it still holds instead of parsing and validating
the event, its firing and the carried event again. A delivery it does not hold (another
replica's firing, a redelivery, a restart) is decoded as before.
"""

from __future__ import annotations

from typing import Final, NamedTuple
from uuid import UUID

from proctor.events.model import Event
from proctor.triggers.firing import Firing

__all__ = ("Handoff", "HeldFiring")

DEFAULT_LIMIT: Final = 1024
"""About 19 KiB each with 100 event ids (the bytes, the firing and its UUIDs, the event):
~19 MiB at most, held while firings wait for their actions, or after another replica took
them. The counting benchmark held up to ~950 at once."""


class HeldFiring(NamedTuple):
    """What a ``triggered`` event says, as the objects it was made from."""

    triggered_id: UUID
    hops: int
    """Causation hops of the ``triggered`` event."""
    automation_id: str
    firing: Firing
    event: Event | None


class Handoff:
    """Held firings by the bytes they were published as; the oldest go past ``limit`` (they
    were delivered elsewhere, or deduplicated by the stream)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._held: dict[bytes, HeldFiring] = {}

    def __len__(self) -> int:
        return len(self._held)

    def keep(self, data: bytes, held: HeldFiring) -> None:
        self._held[data] = held
        if len(self._held) > self.limit:
            del self._held[next(iter(self._held))]

    def take(self, data: bytes) -> HeldFiring | None:
        """The firing published as ``data`` (once), or ``None``."""
        return self._held.pop(data, None)
