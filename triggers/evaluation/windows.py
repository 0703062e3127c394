"""The windows of event triggers, as pure functions: (record, event or time) -> new record.

Reactive: the window opens at the first counted event (or at an ``after`` event); each
matching ``expect`` event counts once (re-deliveries are recognised by id); at ``threshold``
the trigger fires and the bucket starts over. An event at or after the window's end starts a
new window instead of counting in the old one.

Proactive: the window opens at an ``after`` event (or, without ``after``, at an ``expect``
event, and again each time ``threshold`` is met: a heartbeat); it fires when it ends with fewer
than ``threshold`` ``expect`` events. Its end is found by ``on_deadline`` at ``now`` or, if an
event timed after the end arrives first, by that event: both give the same firing id.

Times: events are placed in windows by their ``occurred`` time, so a replay gives the same
answers; ``now`` only stamps records (``touched``) and decides when an empty window has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from proctor.triggers.evaluation.nodes import EventNode
from proctor.triggers.state.records import MAX_COUNTED, SEEN_CAPACITY, EventRecord, remember

__all__ = ("Absence", "WindowStep", "arm", "deadline_of", "on_count", "on_deadline", "on_event")


@dataclass(frozen=True, slots=True)
class Absence:
    """A proactive window that ended with too few events: it fires."""

    opened: datetime
    closed: datetime
    opener: int | None


@dataclass(frozen=True, slots=True)
class WindowStep:
    """The outcome of a step: the new record (``None``: unchanged) and what fired, if anything."""

    record: EventRecord | None = None
    counted: tuple[int, ...] | None = None
    """Reactive firing: the ids of the events counted."""
    occurred: datetime | None = None
    absence: Absence | None = None


UNCHANGED = WindowStep()


def arm(now: datetime) -> EventRecord:
    """A record with a window open at ``now`` (a proactive trigger just loaded)."""
    return EventRecord(opened=now, count=0, counted=(), seen=(), opener=None, touched=now)


def deadline_of(node: EventNode, record: EventRecord) -> datetime | None:
    """When a proactive window ends (``None`` for reactive triggers and closed windows)."""
    within = node.within
    if not node.proactive or record.opened is None or within is None:
        return None
    return record.opened + within


def _count(counted: tuple[int, ...], event_id: int) -> tuple[int, ...]:
    if len(counted) < MAX_COUNTED:
        return (*counted, event_id)
    return (*counted[1 - MAX_COUNTED :], event_id)


def on_event(
    node: EventNode,
    record: EventRecord | None,
    event_id: int,
    occurred: datetime,
    *,
    expected: bool,
    opens: bool,
    now: datetime,
) -> WindowStep:
    """Apply one event to a bucket. ``expected``/``opens``: whether its name is in
    ``expect``/``after``."""
    if record is not None and (event_id in record.seen or event_id in record.counted):
        return UNCHANGED
    threshold, within = node.threshold, node.within
    if record is None:
        record = EventRecord(None, 0, (), (), None, now)
    opened, count, counted = record.opened, record.count, record.counted
    seen, opener = record.seen, record.opener
    absence: Absence | None = None
    end = None if opened is None or within is None else opened + within
    ended = end is not None and occurred >= end
    if end is not None and ended:
        assert opened is not None
        if node.proactive and count < threshold:
            absence = Absence(opened, end, opener)
        opened, count, counted, opener = None, 0, (), None
    fired: tuple[int, ...] | None = None
    if opened is None:
        if node.after:
            if not opens:
                if not ended:
                    return UNCHANGED
                return WindowStep(
                    EventRecord(None, 0, (), seen, None, now), occurred=occurred, absence=absence
                )
            opened, opener = occurred, event_id
        else:
            opened, count, counted = occurred, 1, (event_id,)
    elif expected:
        count, counted = count + 1, _count(counted, event_id)
    else:
        return UNCHANGED  # an `after` event while the window is open: nothing to do
    if count >= threshold:
        if not node.proactive:
            fired, opened, count, counted, opener = counted, None, 0, (), None
        elif node.after:
            opened, count, counted, opener = None, 0, (), None  # satisfied: wait for `after`
        else:
            opened, count, counted = occurred, 0, ()  # heartbeat: the next window starts now
    new = EventRecord(opened, count, counted, remember(seen, event_id), opener, now)
    return WindowStep(new, counted=fired, occurred=occurred, absence=absence)


def on_count(
    node: EventNode, record: EventRecord, event_id: int, occurred: datetime, now: datetime
) -> tuple[EventRecord | None, tuple[int, ...] | None]:
    """``on_event`` for the commonest case, a reactive trigger without ``after`` (where every
    event of a wanted name is an ``expect`` event) and a bucket that has a record: the new
    record (``None``: unchanged) and the ids counted if it fired. It makes no ``WindowStep``;
    the evaluator calls it for every count."""
    seen = record.seen
    if event_id in seen or event_id in record.counted:
        return None, None
    counted: tuple[int, ...]
    opened, within = record.opened, node.within
    if opened is None or (within is not None and occurred >= opened + within):
        opened, count, counted = occurred, 1, (event_id,)  # a new window
    else:
        count, counted = record.count + 1, record.counted
        counted = (*counted, event_id) if len(counted) < MAX_COUNTED else _count(counted, event_id)
    fired = None
    if count >= node.threshold:
        fired, opened, count, counted = counted, None, 0, ()
    kept = seen if len(seen) < SEEN_CAPACITY else seen[1 - SEEN_CAPACITY :]
    return EventRecord(opened, count, counted, (*kept, event_id), None, now), fired


def on_deadline(node: EventNode, record: EventRecord, now: datetime) -> WindowStep:
    """Close a proactive window whose end has come by ``now``; it fires if it fell short."""
    end = deadline_of(node, record)
    if end is None or end > now:
        return UNCHANGED
    assert record.opened is not None
    absence = None
    if record.count < node.threshold:
        absence = Absence(record.opened, end, record.opener)
    closed = EventRecord(None, 0, (), record.seen, None, now)
    return WindowStep(closed, occurred=end, absence=absence)
