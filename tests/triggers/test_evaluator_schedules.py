"""Cron and interval triggers on the evaluator's clock: the right instant, once, catch-up."""

from __future__ import annotations

import random
from datetime import timedelta

from proctor.triggers.definitions import CronTrigger, IntervalTrigger
from proctor.triggers.evaluation import TriggerEvaluator
from proctor.triggers.schedules import CatchUp, slot_id
from proctor.triggers.state import InMemoryTriggerStateStore
from tests.triggers.support import utc

NINE_NEW_YORK = CronTrigger(cron="0 9 * * *", timezone="America/New_York")


async def test_a_cron_trigger_fires_at_its_instant_once() -> None:
    evaluator = TriggerEvaluator()
    await evaluator.add("standup", NINE_NEW_YORK, utc(2026, 3, 7, 12))
    first = utc(2026, 3, 7, 14)  # 09:00 EST
    assert evaluator.next_deadline() == first
    assert (await evaluator.tick(first - timedelta(microseconds=1))).firings == []
    fired = (await evaluator.tick(first)).firings
    assert [(f.kind, f.occurred, f.id) for f in fired] == [
        ("schedule", first, slot_id("standup", first))
    ]
    assert (await evaluator.tick(first + timedelta(seconds=5))).firings == []
    assert evaluator.next_deadline() == utc(2026, 3, 8, 13)  # 09:00 EDT, after the change


async def test_replicas_sharing_state_create_each_slot_once() -> None:
    store = InMemoryTriggerStateStore()
    start = utc(2026, 1, 1)
    replicas = [TriggerEvaluator(store) for _ in range(3)]
    trigger = IntervalTrigger(every=timedelta(minutes=1))
    for replica in replicas:
        await replica.add("every-minute", trigger, start)
    rng = random.Random(7)
    fired = []
    for minute in range(1, 101):
        now = start + timedelta(minutes=minute, milliseconds=rng.randrange(900))
        for replica in rng.sample(replicas, len(replicas)):
            fired += (await replica.tick(now)).firings
    assert len(fired) == 100
    assert len({f.id for f in fired}) == 100
    assert sorted(f.occurred for f in fired) == [
        start + timedelta(minutes=m) for m in range(1, 101)
    ]


async def test_slots_missed_while_down_follow_the_catch_up_policy() -> None:
    store = InMemoryTriggerStateStore()
    start = utc(2026, 1, 1, 9, 30)
    hourly = IntervalTrigger(every=timedelta(hours=1))
    before = TriggerEvaluator(store)
    await before.add("hourly", hourly, start)
    assert len((await before.tick(utc(2026, 1, 1, 10))).firings) == 1
    # Down from 10:00 to 15:10: 11:00 .. 15:00 were missed.
    after = TriggerEvaluator(store)
    await after.add("hourly", hourly, utc(2026, 1, 1, 15, 10))
    tick = await after.tick(utc(2026, 1, 1, 15, 10))
    assert [f.occurred for f in tick.firings] == [utc(2026, 1, 1, 15)]  # policy "once"
    assert [(m.first, m.last) for m in tick.missed] == [(utc(2026, 1, 1, 11), utc(2026, 1, 1, 14))]

    all_of_them = IntervalTrigger(every=timedelta(hours=1), catch_up=CatchUp(policy="all"))
    other = TriggerEvaluator()
    await other.add("hourly", all_of_them, utc(2026, 1, 1, 9, 30))
    tick = await other.tick(utc(2026, 1, 1, 15, 10))
    assert len(tick.firings) == 6
    assert tick.missed == []
