"""The state store contract (memory and JetStream KV), and window counts that survive a restart."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, timedelta
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proctor.core.errors import TriggerStateConflictError
from proctor.events.labels import ID_LABEL
from proctor.triggers.definitions import CronTrigger, EventTrigger
from proctor.triggers.evaluation import TriggerEvaluator
from proctor.triggers.state import (
    EventRecord,
    ScheduleRecord,
    StateRef,
    TriggerStateStore,
    decode_record,
    encode_record,
    holds,
    keep_latest,
    unpack_ids,
)
from tests.triggers.conftest import OpenStore
from tests.triggers.support import T0, event

REF = StateRef("automation-1", "0123456789abcdef", ("shop.order.7", ""))


def ids(*values: int) -> bytes:
    """Event ids as a record keeps them: 16 bytes each, packed."""
    return b"".join(value.to_bytes(16, "big") for value in values)


RECORD = EventRecord(T0, 2, ids(1, 2**127 + 5), ids(7, 1, 2**127 + 5), ids(7), T0)


def test_records_round_trip_through_json() -> None:
    assert decode_record(encode_record(REF.bucket, RECORD)) == (REF.bucket, RECORD)
    schedule = ScheduleRecord(T0, T0 + timedelta(seconds=1))
    assert decode_record(encode_record((), schedule)) == ((), schedule)


def test_packed_ids_are_matched_as_whole_ids() -> None:
    first = ids(0x0102030405060708_1112131415161718)
    second = ids(0x2122232425262728_3132333435363738)
    straddling = (first + second)[8:24]  # the end of one id and the start of the next
    assert not holds(first + second, straddling)
    assert holds(first + second + straddling, straddling)  # found after a misaligned match
    assert holds(first + second, second)
    assert keep_latest(ids(1, 2, 3), ids(4), 3) == ids(2, 3, 4)
    assert keep_latest(ids(1), ids(4), 3) == ids(1, 4)
    assert unpack_ids(ids(1, 2)) == [ids(1), ids(2)]


def test_a_record_stored_with_uuid_lists_still_reads_back() -> None:
    earlier = {
        "kind": "event",
        "opened": T0.isoformat(),
        "count": 2,
        "counted": [str(UUID(int=1)), str(UUID(int=2**127 + 5))],
        "seen": [str(UUID(int=7)), str(UUID(int=1)), str(UUID(int=2**127 + 5))],
        "opener": str(UUID(int=7)),
        "touched": T0.isoformat(),
        "bucket": list(REF.bucket),
    }
    assert decode_record(json.dumps(earlier).encode()) == (REF.bucket, RECORD)


IDS = st.lists(st.integers(0, 2**128 - 1), max_size=70).map(lambda values: ids(*values))
TIMES = st.datetimes(timezones=st.just(UTC)).map(lambda at: at.astimezone(UTC))


@settings(max_examples=200, deadline=None)
@given(
    bucket=st.lists(st.text(max_size=8), max_size=3).map(tuple),
    record=st.builds(
        EventRecord,
        opened=st.none() | TIMES,
        count=st.integers(0, 10**6),
        counted=IDS,
        seen=IDS,
        opener=st.none() | st.binary(min_size=16, max_size=16),
        touched=TIMES,
    ),
)
def test_event_records_are_written_as_json_dumps_would(
    bucket: tuple[str, ...], record: EventRecord
) -> None:
    """The event record's JSON is put together by hand (for speed): it is the same text, and
    it reads back, whatever the bucket's values hold (quotes, control characters, unicode)."""
    body = {
        "kind": "event",
        "opened": None if record.opened is None else record.opened.isoformat(),
        "count": record.count,
        "counted": record.counted.hex(),
        "seen": record.seen.hex(),
        "opener": None if record.opener is None else str(UUID(bytes=record.opener)),
        "touched": record.touched.isoformat(),
        "bucket": list(bucket),
    }
    written = encode_record(bucket, record)
    assert written == json.dumps(body, separators=(",", ":")).encode()
    assert decode_record(written) == (bucket, record)


async def test_compare_and_set(state_store: TriggerStateStore) -> None:
    assert await state_store.load(REF) is None
    first = await state_store.save(REF, RECORD, None)
    with pytest.raises(TriggerStateConflictError):
        await state_store.save(REF, RECORD, None)  # create, but it exists
    second = await state_store.save(REF, RECORD, first)
    with pytest.raises(TriggerStateConflictError):
        await state_store.save(REF, RECORD, first)  # a stale revision
    loaded = await state_store.load(REF)
    assert loaded is not None
    assert loaded.record == RECORD
    assert loaded.revision == second
    with pytest.raises(TriggerStateConflictError):
        await state_store.delete(REF, first)
    await state_store.delete(REF, second)
    assert await state_store.load(REF) is None
    await state_store.save(REF, RECORD, None)  # created again after a delete


async def test_scan_finds_one_nodes_records_with_their_buckets(
    state_store: TriggerStateStore,
) -> None:
    refs = [StateRef("a", "n1", ("x",)), StateRef("a", "n1", ("y", "z")), StateRef("a", "n1", ())]
    for ref in [*refs, StateRef("a", "n2", ("x",)), StateRef("b", "n1", ("x",))]:
        await state_store.save(ref, RECORD, None)
    found = await state_store.scan("a", "n1")
    assert sorted(ref.bucket for ref, _ in found) == sorted(ref.bucket for ref in refs)
    assert all(versioned.record == RECORD for _, versioned in found)


async def test_concurrent_evaluators_lose_no_count(state_store: TriggerStateStore) -> None:
    trigger = EventTrigger(expect=("a.b",), threshold=40)
    evaluators = [TriggerEvaluator(state_store) for _ in range(4)]
    for evaluator in evaluators:
        await evaluator.add("key", trigger, T0)
    events = [event("a.b", T0 + timedelta(seconds=i)) for i in range(40)]
    results = await asyncio.gather(
        *(evaluators[i % 4].evaluate(e, T0) for i, e in enumerate(events))
    )
    fired = [firing for result in results for firing in result]
    assert len(fired) == 1
    assert sorted(fired[0].events) == sorted(e.id for e in events)


@pytest.mark.nats
async def test_threshold_fires_at_the_right_count_across_a_restart(
    open_kv_store: OpenStore,
) -> None:
    trigger = EventTrigger(
        expect=("shop.order.failed",),
        threshold=5,
        within=timedelta(minutes=10),
        for_each=(ID_LABEL,),
    )
    failures = [
        event("shop.order.failed", T0 + timedelta(minutes=i), resource={ID_LABEL: "shop.1"})
        for i in range(5)
    ]
    before = TriggerEvaluator(await open_kv_store())
    await before.add("alerts", trigger, T0)
    for failure in failures[:3]:
        assert await before.evaluate(failure, T0) == []
    await before.store.close()  # the engine stops mid-window

    after = TriggerEvaluator(await open_kv_store())  # a new process, the same bucket
    await after.add("alerts", trigger, T0 + timedelta(minutes=3))
    assert await after.evaluate(failures[2], T0) == []  # re-delivered after the restart
    assert await after.evaluate(failures[3], T0) == []
    fired = await after.evaluate(failures[4], T0)
    assert len(fired) == 1
    assert fired[0].events == tuple(f.id for f in failures)


@pytest.mark.nats
async def test_proactive_windows_and_schedules_resume_after_a_restart(
    open_kv_store: OpenStore,
) -> None:
    absence = EventTrigger(
        after=("job.started",), expect=("job.done",), posture="proactive", within=timedelta(hours=1)
    )
    hourly = CronTrigger(cron="0 * * * *")
    before = TriggerEvaluator(await open_kv_store())
    await before.add("absence", absence, T0)
    await before.add("hourly", hourly, T0)
    await before.evaluate(event("job.started", T0), T0)
    await before.store.close()

    after = TriggerEvaluator(await open_kv_store())
    await after.add("absence", absence, T0 + timedelta(minutes=30))
    await after.add("hourly", hourly, T0 + timedelta(minutes=30))
    assert after.next_deadline() == T0 + timedelta(hours=1)
    tick = await after.tick(T0 + timedelta(hours=1))
    assert sorted(f.kind for f in tick.firings) == ["proactive", "schedule"]
