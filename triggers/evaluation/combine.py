"""Compound and sequence triggers, as pure functions: (record, child firing) -> new record.

Compound: keeps the latest firing of each child; fires when ``required`` distinct children
have fired within ``within`` of the newest one, then starts over.

Sequence: fires when its children have fired in order (other firings may come in between),
the first to the last within ``within``. For each prefix length it keeps the partial match that
started latest (the one most likely to finish in time); a child's firing extends the partial
match of the children before it.

Child firings are logical-time stamped (``Firing.occurred``); a child firing seen before (by
id) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from proctor.triggers.evaluation.nodes import CombineNode
from proctor.triggers.firing import Firing
from proctor.triggers.state.records import CombineRecord, remember

__all__ = ("CombineStep", "on_child")


@dataclass(frozen=True, slots=True)
class CombineStep:
    """The new record (``None``: unchanged) and the children that fired together, if any."""

    record: CombineRecord | None = None
    fired: tuple[Firing, ...] | None = None


def on_child(
    node: CombineNode, record: CombineRecord | None, child: Firing, now: datetime
) -> CombineStep:
    """Apply one child firing to a compound or sequence trigger's record."""
    if record is not None and child.id.int in record.seen:
        return CombineStep()
    seen = remember(record.seen if record is not None else (), child.id.int)
    groups = record.fired if record is not None else ()
    if node.sequence:
        groups, fired = _sequence(node, groups, child)
    else:
        groups, fired = _compound(node, groups, child)
    return CombineStep(CombineRecord(groups, seen, now), fired)


def _within(node: CombineNode, first: Firing, last: Firing) -> bool:
    return node.within is None or last.occurred - first.occurred <= node.within


def _compound(
    node: CombineNode, groups: tuple[tuple[Firing, ...], ...], child: Firing
) -> tuple[tuple[tuple[Firing, ...], ...], tuple[Firing, ...] | None]:
    latest = {firing.path[-1]: firing for firing in (groups[0] if groups else ())}
    latest[child.path[-1]] = child
    newest = max(latest.values(), key=lambda firing: firing.occurred)
    current = sorted(
        (firing for firing in latest.values() if _within(node, firing, newest)),
        key=lambda firing: firing.path[-1],
    )
    if len(current) >= node.required:
        return (), tuple(current)
    return (tuple(current),), None


def _sequence(
    node: CombineNode, groups: tuple[tuple[Firing, ...], ...], child: Firing
) -> tuple[tuple[tuple[Firing, ...], ...], tuple[Firing, ...] | None]:
    length = len(node.children)
    partial: list[tuple[Firing, ...]] = list(groups) or [() for _ in range(length - 1)]
    position = child.path[-1]
    if position == 0:
        candidate: tuple[Firing, ...] = (child,)
    else:
        before = partial[position - 1]
        if not before or not _within(node, before[0], child):
            return tuple(partial), None
        candidate = (*before, child)
    if len(candidate) == length:
        return (), candidate
    kept = partial[position]
    if not kept or candidate[0].occurred >= kept[0].occurred:
        partial[position] = candidate
    return tuple(partial), None
