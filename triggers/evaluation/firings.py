"""Building ``Firing``s, with ids derived from what fired (see ``proctor.triggers.firing``)."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

from proctor.triggers.evaluation.nodes import CombineNode, EventNode, ScheduleNode
from proctor.triggers.evaluation.windows import Absence
from proctor.triggers.firing import Firing, merged_events, prefixed_firing_id
from proctor.triggers.schedules import slot_id
from proctor.triggers.state.records import ID_SIZE

__all__ = ("absence_firing", "combined_firing", "event_firing", "slot_firing")

_ID_HEX: Final = 2 * ID_SIZE
_SEP: Final = "\x1f"


def event_firing(
    node: EventNode,
    bucket: tuple[str, ...],
    counted: bytes,
    occurred: datetime,
    now: datetime,
) -> Firing:
    """A reactive trigger reached its threshold: its id is derived from the events counted
    (their ids in hex, in order, one id part each)."""
    text = counted.hex()
    hexes = [text[at : at + _ID_HEX] for at in range(0, len(text), _ID_HEX)]
    return Firing.model_validate(
        {
            "id": prefixed_firing_id(
                node.id_prefix, bucket, ("reactive", _SEP.join(sorted(hexes)))
            ),
            "trigger": node.key,
            "path": node.path,
            "kind": "reactive",
            "bucket": bucket,
            "events": hexes,  # made UUIDs by the validator, much faster than one by one here
            "occurred": occurred,
            "evaluated": now,
        }
    )


def absence_firing(
    node: EventNode, bucket: tuple[str, ...], absence: Absence, now: datetime
) -> Firing:
    """A proactive window fell short: its id is derived from the window (opener and start)."""
    opener = None if absence.opener is None else UUID(bytes=absence.opener)
    parts = ("proactive", str(opener or ""), absence.opened.isoformat())
    return Firing(
        id=prefixed_firing_id(node.id_prefix, bucket, parts),
        trigger=node.key,
        path=node.path,
        kind="proactive",
        bucket=bucket,
        events=() if opener is None else (opener,),
        occurred=absence.closed,
        evaluated=now,
    )


def slot_firing(node: ScheduleNode, slot: datetime, now: datetime) -> Firing:
    """A schedule slot came: its id is the slot id."""
    return Firing(
        id=slot_id(node.schedule_id, slot),
        trigger=node.key,
        path=node.path,
        kind="schedule",
        occurred=slot,
        evaluated=now,
    )


def combined_firing(node: CombineNode, children: tuple[Firing, ...], now: datetime) -> Firing:
    """A compound or sequence trigger fired: its id is derived from its children's ids."""
    ids = [str(child.id) for child in children]
    kind = "sequence" if node.sequence else "compound"
    parts = (kind, *(ids if node.sequence else sorted(ids)))
    return Firing(
        id=prefixed_firing_id(node.id_prefix, (), parts),
        trigger=node.key,
        path=node.path,
        kind=kind,
        events=merged_events(children),
        occurred=max(child.occurred for child in children),
        evaluated=now,
        children=children,
    )
