"""``Firing``: one time a trigger fired, with a deterministic id actions use as idempotency key."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

__all__ = (
    "FIRING_NAMESPACE",
    "Firing",
    "FiringKind",
    "MissedSlots",
    "firing_id",
    "firing_prefix",
    "merged_events",
    "path_text",
    "prefixed_firing_id",
)

FIRING_NAMESPACE: Final = uuid.UUID("b6f1e0f4-4a8e-4b59-9f58-0d3c0f2f7a61")
_NAMESPACE_BYTES: Final = FIRING_NAMESPACE.bytes
_CLEAR_VERSION_VARIANT: Final = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_5_VARIANT: Final = (0x5000 << 64) | (0x8000 << 48)
FiringKind = Literal["reactive", "proactive", "compound", "sequence", "schedule"]


def path_text(path: tuple[int, ...]) -> str:
    """A path as text: ``""`` for the root, ``"0.2"`` for the third child of the first child."""
    return ".".join(str(index) for index in path)


def firing_prefix(trigger: str, path: tuple[int, ...]) -> str:
    """The part of a firing id's input that names the trigger node (computed once per node)."""
    return f"{trigger}\x1f{path_text(path)}"


def firing_id(trigger: str, path: tuple[int, ...], bucket: tuple[str, ...], *parts: str) -> UUID:
    """A UUIDv5 of everything that identifies one firing: the same inputs, the same id."""
    return prefixed_firing_id(firing_prefix(trigger, path), bucket, parts)


def prefixed_firing_id(prefix: str, bucket: tuple[str, ...], parts: tuple[str, ...]) -> UUID:
    """``firing_id`` with the node's part already made by ``firing_prefix``.

    The same value as ``uuid.uuid5(FIRING_NAMESPACE, text)``, made without its overhead.
    """
    text = "\x1f".join((prefix, "\x1e".join(bucket), *parts))
    digest = hashlib.sha1(_NAMESPACE_BYTES + text.encode(), usedforsecurity=False).digest()
    value = int.from_bytes(digest[:16], "big")
    return UUID(int=(value & _CLEAR_VERSION_VARIANT) | _VERSION_5_VARIANT)


class Firing(BaseModel):
    """A trigger fired. ``id`` is derived from what fired it, so a re-delivered event or a
    second replica derives the same id, and actions keyed on it run once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID = Field(description="Deterministic id: the idempotency key for actions.")
    trigger: str = Field(description="Key the trigger was loaded under (e.g. automation id).")
    path: tuple[int, ...] = Field(
        default=(), description="Position in the trigger tree: child indexes from the root."
    )
    kind: FiringKind = Field(description="What fired: which kind of trigger, which posture.")
    bucket: tuple[str, ...] = Field(
        default=(), description="Values of the trigger's for_each labels for this firing."
    )
    events: tuple[UUID, ...] = Field(
        default=(),
        description="Ids of the events that made it fire (for proactive: the opening event).",
    )
    occurred: datetime = Field(
        description="When the condition was met: the last counted event's time, the end of "
        "an empty window, or the schedule slot."
    )
    evaluated: datetime = Field(description="The evaluator's `now` when it fired.")
    children: tuple[Firing, ...] = Field(
        default=(), description="For compound and sequence triggers: the firings combined."
    )


def merged_events(children: Iterable[Firing]) -> tuple[UUID, ...]:
    """The events of several firings, each once, in order."""
    return tuple(dict.fromkeys(event for child in children for event in child.events))


@dataclass(frozen=True, slots=True)
class MissedSlots:
    """Schedule slots missed while nothing ran and not fired (by the catch-up policy)."""

    trigger: str
    path: tuple[int, ...]
    schedule_id: str
    first: datetime
    last: datetime
