"""Counting windows: the ids a reactive window counted are the latest ids it handled, so
``on_count`` looks for a re-delivered id only in the part of ``counted`` older than ``seen``;
and ``on_count`` decides what ``on_event`` decides for reactive triggers without ``after``."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from proctor.triggers.definitions import EventTrigger
from proctor.triggers.evaluation.nodes import EventNode, compile_tree
from proctor.triggers.evaluation.windows import on_count, on_event
from proctor.triggers.state import EventRecord
from tests.triggers.support import T0


def _overlap_agrees(record: EventRecord) -> bool:
    """The shorter of ``counted`` and ``seen`` ends the longer."""
    shorter = min(len(record.counted), len(record.seen))
    return (
        record.counted[len(record.counted) - shorter :] == record.seen[len(record.seen) - shorter :]
    )


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.integers(1, 120),
    within=st.sampled_from([None, timedelta(minutes=30)]),
    arrivals=st.lists(
        st.tuples(st.integers(0, 9) | st.integers(0, 150), st.integers(0, 5)), max_size=400
    ),
)
@example(  # an id counted more than ``SEEN_CAPACITY`` ids ago comes again
    threshold=100, within=None, arrivals=[(number, 0) for number in [*range(1, 81), 1]]
)
def test_counted_ids_end_with_what_seen_holds_and_duplicates_are_found(
    threshold: int, within: timedelta | None, arrivals: list[tuple[int, int]]
) -> None:
    node = compile_tree("k", EventTrigger(expect=("a.b",), threshold=threshold, within=within))
    assert isinstance(node, EventNode)
    assert node.counts_only
    record = on_event(node, None, bytes(16), T0, expected=True, opens=False, now=T0).record
    assert record is not None
    minute = 0
    for number, later in arrivals:
        minute += later
        at, event_id = T0 + timedelta(minutes=minute), number.to_bytes(16, "big")
        step = on_event(node, record, event_id, at, expected=True, opens=False, now=at)
        counted_record, fired = on_count(node, record, event_id, at, at)
        assert counted_record == step.record
        assert fired == step.counted
        record = counted_record or record
        assert _overlap_agrees(record)
