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
from typing import Final

from proctor.triggers.evaluation.nodes import EventNode
from proctor.triggers.state.records import (
    ID_SIZE,
    MAX_COUNTED,
    SEEN_CAPACITY,
    EventRecord,
    holds,
    keep_latest,
)

__all__ = ("Absence", "WindowStep", "arm", "deadline_of", "on_count", "on_deadline", "on_event")


@dataclass(frozen=True, slots=True)
class Absence:
    """A proactive window that ended with too few events: it fires."""

    opened: datetime
    closed: datetime
    opener: bytes | None


@dataclass(frozen=True, slots=True)
class WindowStep:
    """The outcome of a step: the new record (``None``: unchanged) and what fired, if anything."""

    record: EventRecord | None = None
    counted: bytes | None = None
    """Reactive firing: the ids of the events counted (packed)."""
    occurred: datetime | None = None
    absence: Absence | None = None


UNCHANGED = WindowStep()
_COUNTED_BYTES: Final = MAX_COUNTED * ID_SIZE
_SEEN_BYTES: Final = SEEN_CAPACITY * ID_SIZE
_KEEP_SEEN: Final = (1 - SEEN_CAPACITY) * ID_SIZE
_new_tuple = tuple.__new__  # a named tuple without its own ``__new__`` (a Python function)


def arm(now: datetime) -> EventRecord:
    """A record with a window open at ``now`` (a proactive trigger just loaded)."""
    return EventRecord(opened=now, count=0, counted=b"", seen=b"", opener=None, touched=now)


def deadline_of(node: EventNode, record: EventRecord) -> datetime | None:
    """When a proactive window ends (``None`` for reactive triggers and closed windows)."""
    within = node.within
    if not node.proactive or record.opened is None or within is None:
        return None
    return record.opened + within


def on_event(
    node: EventNode,
    record: EventRecord | None,
    event_id: bytes,
    occurred: datetime,
    *,
    expected: bool,
    opens: bool,
    now: datetime,
) -> WindowStep:
    """Apply one event (its 16-byte id) to a bucket. ``expected``/``opens``: whether its name
    is in ``expect``/``after``."""
    if record is not None and (holds(record.seen, event_id) or holds(record.counted, event_id)):
        return UNCHANGED
    threshold, within = node.threshold, node.within
    if record is None:
        record = EventRecord(None, 0, b"", b"", None, now)
    opened, count, counted = record.opened, record.count, record.counted
    seen, opener = record.seen, record.opener
    absence: Absence | None = None
    end = None if opened is None or within is None else opened + within
    ended = end is not None and occurred >= end
    if end is not None and ended:
        assert opened is not None
        if node.proactive and count < threshold:
            absence = Absence(opened, end, opener)
        opened, count, counted, opener = None, 0, b"", None
    fired: bytes | None = None
    if opened is None:
        if node.after:
            if not opens:
                if not ended:
                    return UNCHANGED
                return WindowStep(
                    EventRecord(None, 0, b"", seen, None, now), occurred=occurred, absence=absence
                )
            opened, opener = occurred, event_id
        else:
            opened, count, counted = occurred, 1, event_id
    elif expected:
        count, counted = count + 1, keep_latest(counted, event_id, MAX_COUNTED)
    else:
        return UNCHANGED  # an `after` event while the window is open: nothing to do
    if count >= threshold:
        if not node.proactive:
            fired, opened, count, counted, opener = counted, None, 0, b"", None
        elif node.after:
            opened, count, counted, opener = None, 0, b"", None  # satisfied: wait for `after`
        else:
            opened, count, counted = occurred, 0, b""  # heartbeat: the next window starts now
    new = EventRecord(
        opened, count, counted, keep_latest(seen, event_id, SEEN_CAPACITY), opener, now
    )
    return WindowStep(new, counted=fired, occurred=occurred, absence=absence)


def on_count(
    node: EventNode, record: EventRecord, event_id: bytes, occurred: datetime, now: datetime
) -> tuple[EventRecord | None, bytes | None]:
    """``on_event`` for the commonest case, a reactive trigger without ``after`` (where every
    event of a wanted name is an ``expect`` event) and a bucket that has a record: the new
    record (``None``: unchanged) and the ids counted if it fired. It makes no ``WindowStep``;
    the evaluator calls it for every count."""
    opened, count, counted, seen, _, _ = record  # one unpacking: a named tuple's field
    # access is a descriptor call each time
    older = len(counted) - len(seen)  # ``counted`` beyond what ``seen`` also holds
    if (seen.find(event_id) >= 0 or (older > 0 and counted.find(event_id, 0, older) >= 0)) and (
        holds(seen, event_id) or holds(counted, event_id)
    ):  # ``find`` first: most events are new. (Not ``in``: bytes in bytes first tries the
        # operand as an integer and raises and clears a TypeError, ~1,800 instructions.)
        # The window's counted ids are the latest ids handled, as are ``seen``'s: the last
        # ``len(seen)`` bytes of ``counted`` are in ``seen`` (tests/properties/test_windows.py).
        return None, None
    within = node.within
    if opened is None or (within is not None and occurred >= opened + within):
        opened, count, counted = occurred, 1, event_id  # a new window
    else:
        count += 1
        if len(counted) < _COUNTED_BYTES:
            counted += event_id
        else:
            counted = keep_latest(counted, event_id, MAX_COUNTED)
    fired = None
    if count >= node.threshold:
        fired, opened, count, counted = counted, None, 0, b""
    seen = seen + event_id if len(seen) < _SEEN_BYTES else seen[_KEEP_SEEN:] + event_id
    return _new_tuple(EventRecord, (opened, count, counted, seen, None, now)), fired


def on_deadline(node: EventNode, record: EventRecord, now: datetime) -> WindowStep:
    """Close a proactive window whose end has come by ``now``; it fires if it fell short."""
    end = deadline_of(node, record)
    if end is None or end > now:
        return UNCHANGED
    assert record.opened is not None
    absence = None
    if record.count < node.threshold:
        absence = Absence(record.opened, end, record.opener)
    closed = EventRecord(None, 0, b"", record.seen, None, now)
    return WindowStep(closed, occurred=end, absence=absence)
