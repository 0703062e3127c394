"""Event triggers under the evaluator: each fires exactly when it should, and not otherwise."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from proctor.core.errors import ConfigurationError
from proctor.events.labels import ID_LABEL
from proctor.runtime.run_events import (
    FlowRunSnapshot,
    StateSnapshot,
    StateType,
    state_change_event,
)
from proctor.triggers.definitions import CompoundTrigger, EventTrigger, on_event, on_flow_failed
from proctor.triggers.evaluation import TriggerEvaluator
from proctor.triggers.firing import Firing
from tests.triggers.support import T0, event, related

MINUTE = timedelta(minutes=1)


def order(name: str, number: str, at: timedelta = timedelta(0), **extra: Any) -> Any:
    labels = {ID_LABEL: f"shop.order.{number}", "env": extra.pop("env", "prod")}
    return event(name, T0 + at, resource=labels, **extra)


async def loaded(**triggers: Any) -> TriggerEvaluator:
    evaluator = TriggerEvaluator()
    for key, trigger in triggers.items():
        await evaluator.add(key, trigger, T0)
    return evaluator


async def test_threshold_within_a_window_per_for_each_bucket() -> None:
    evaluator = await loaded(
        burst=EventTrigger(
            expect=("shop.order.failed",),
            threshold=3,
            within=5 * MINUTE,
            for_each=("proctor.resource.id",),
        )
    )
    fired = []
    for number, at in [("1", 0), ("1", 1), ("2", 1), ("2", 2), ("1", 2), ("2", 3)]:
        fired += await evaluator.evaluate(order("shop.order.failed", number, at * MINUTE), T0)
    assert [f.bucket for f in fired] == [("shop.order.1",), ("shop.order.2",)]
    assert fired[0].occurred == T0 + 2 * MINUTE
    assert len(fired[0].events) == 3


async def test_events_outside_the_window_start_a_new_one() -> None:
    evaluator = await loaded(burst=EventTrigger(expect=("a.b",), threshold=3, within=5 * MINUTE))
    fired = []
    for at in (0, 4, 6, 7):  # 0 and 4 expire; 6, 7 are two of a new window
        fired += await evaluator.evaluate(event("a.b", T0 + at * MINUTE), T0)
    assert fired == []
    fired += await evaluator.evaluate(event("a.b", T0 + 8 * MINUTE), T0)
    assert len(fired) == 1
    assert fired[0].occurred == T0 + 8 * MINUTE


async def test_the_bucket_starts_over_after_firing() -> None:
    evaluator = await loaded(pairs=EventTrigger(expect=("a.b",), threshold=2))
    fired = []
    for at in range(5):
        fired += await evaluator.evaluate(event("a.b", T0 + at * MINUTE), T0)
    assert len(fired) == 2


async def test_reactive_after_needs_its_opening_event_each_time() -> None:
    evaluator = await loaded(
        deploy=EventTrigger(after=("deploy.started",), expect=("deploy.failed",), within=MINUTE)
    )
    assert await evaluator.evaluate(event("deploy.failed", T0), T0) == []
    assert await evaluator.evaluate(event("deploy.started", T0), T0) == []
    assert len(await evaluator.evaluate(event("deploy.failed", T0 + MINUTE / 2), T0)) == 1
    assert await evaluator.evaluate(event("deploy.failed", T0 + MINUTE / 2), T0) == []
    await evaluator.evaluate(event("deploy.started", T0 + 2 * MINUTE), T0)
    assert await evaluator.evaluate(event("deploy.failed", T0 + 4 * MINUTE), T0) == []  # late


async def test_proactive_fires_when_too_few_events_follow_within_the_window() -> None:
    evaluator = await loaded(
        unshipped=EventTrigger(
            after=("shop.order.placed",),
            expect=("shop.order.shipped",),
            posture="proactive",
            within=60 * MINUTE,
            for_each=("proctor.resource.id",),
        )
    )
    placed_1 = order("shop.order.placed", "1")
    placed_2 = order("shop.order.placed", "2", MINUTE)
    for placed in (placed_1, placed_2):
        assert await evaluator.evaluate(placed, T0) == []
    await evaluator.evaluate(order("shop.order.shipped", "1", 30 * MINUTE), T0 + 30 * MINUTE)
    assert evaluator.next_deadline() == T0 + 60 * MINUTE
    assert (await evaluator.tick(T0 + 59 * MINUTE)).firings == []
    assert (await evaluator.tick(T0 + 60 * MINUTE)).firings == []  # order 1 shipped in time
    fired = (await evaluator.tick(T0 + 61 * MINUTE)).firings
    assert [(f.kind, f.bucket, f.events) for f in fired] == [
        ("proactive", ("shop.order.2",), (placed_2.id,))
    ]
    assert fired[0].occurred == T0 + 61 * MINUTE  # when the window ended
    assert (await evaluator.tick(T0 + 3 * 60 * MINUTE)).firings == []


async def test_proactive_threshold_counts_the_expected_events() -> None:
    evaluator = await loaded(
        too_few=EventTrigger(
            after=("batch.started",),
            expect=("batch.item",),
            posture="proactive",
            threshold=3,
            within=10 * MINUTE,
        )
    )
    await evaluator.evaluate(event("batch.started", T0), T0)
    for at in (1, 2):
        await evaluator.evaluate(event("batch.item", T0 + at * MINUTE), T0 + at * MINUTE)
    assert len((await evaluator.tick(T0 + 10 * MINUTE)).firings) == 1
    await evaluator.evaluate(event("batch.started", T0 + 20 * MINUTE), T0 + 20 * MINUTE)
    for at in (21, 22, 23):
        await evaluator.evaluate(event("batch.item", T0 + at * MINUTE), T0 + at * MINUTE)
    assert (await evaluator.tick(T0 + 40 * MINUTE)).firings == []


async def test_an_event_after_the_window_reports_the_absence_tick_would_have() -> None:
    trigger = EventTrigger(
        after=("job.started",), expect=("job.done",), posture="proactive", within=MINUTE
    )
    started = event("job.started", T0)
    ticking, racing = await loaded(job=trigger), await loaded(job=trigger)
    for evaluator in (ticking, racing):
        await evaluator.evaluate(started, T0)
    by_tick = (await ticking.tick(T0 + 2 * MINUTE)).firings
    by_event = await racing.evaluate(event("job.started", T0 + 2 * MINUTE), T0 + 2 * MINUTE)
    assert [f.id for f in by_event] == [f.id for f in by_tick]
    assert (await racing.tick(T0 + 2 * MINUTE)).firings == []  # the old window is closed
    assert len((await racing.tick(T0 + 3 * MINUTE)).firings) == 1  # the new one fell short


async def test_heartbeat_monitor_fires_once_per_silence_per_worker() -> None:
    evaluator = await loaded(
        silent=EventTrigger(
            expect=("worker.heartbeat",),
            posture="proactive",
            within=MINUTE,
            for_each=("proctor.resource.id",),
        )
    )

    def beat(worker: str, seconds: int) -> Any:
        return event(
            "worker.heartbeat", T0 + timedelta(seconds=seconds), resource={ID_LABEL: worker}
        )

    for seconds in (0, 30, 60):
        now = T0 + timedelta(seconds=seconds)
        await evaluator.evaluate(beat("w1", seconds), now)
        if seconds < 60:
            await evaluator.evaluate(beat("w2", seconds), now)
        assert (await evaluator.tick(now)).firings == []
    assert (await evaluator.tick(T0 + timedelta(seconds=89))).firings == []
    fired = (await evaluator.tick(T0 + timedelta(seconds=90))).firings
    assert [f.bucket for f in fired] == [("w2",)]  # last beat at 30 s: silent for a minute
    assert fired[0].occurred == T0 + timedelta(seconds=90)
    assert (await evaluator.tick(T0 + timedelta(minutes=10))).firings[0].bucket == ("w1",)
    assert (await evaluator.tick(T0 + timedelta(minutes=20))).firings == []


async def test_a_heartbeat_without_buckets_is_armed_when_loaded() -> None:
    evaluator = await loaded(
        quiet=EventTrigger(expect=("app.ping",), posture="proactive", within=5 * MINUTE)
    )
    assert evaluator.next_deadline() == T0 + 5 * MINUTE
    fired = (await evaluator.tick(T0 + 5 * MINUTE)).firings
    assert [f.kind for f in fired] == ["proactive"]


async def test_label_match_with_negation() -> None:
    evaluator = await loaded(
        prod_only=EventTrigger(
            expect=("shop.order.failed",),
            match={ID_LABEL: "shop.order.*", "env": ["prod*", "!prod-test"]},
        ),
        not_bots=EventTrigger(
            expect=("shop.order.failed",),
            match_related=[{"proctor.resource.role": "customer", "tier": "!bot"}],
        ),
    )

    async def keys(**extra: Any) -> list[str]:
        fired = await evaluator.evaluate(order("shop.order.failed", str(uuid4()), **extra), T0)
        return [f.trigger for f in fired]

    assert await keys(env="prod") == ["prod_only"]
    assert await keys(env="prod-eu") == ["prod_only"]
    assert await keys(env="prod-test") == []
    assert await keys(env="dev") == []
    human = {**related("customer", "ada"), "tier": "gold"}
    bot = {**related("customer", "robo"), "tier": "bot"}
    assert await keys(env="dev", related=[human]) == ["not_bots"]
    assert await keys(env="dev", related=[bot]) == []
    assert await keys(env="dev", related=[bot, human]) == ["not_bots"]


async def test_where_on_nested_payload_fields() -> None:
    evaluator = await loaded(
        main=on_event(
            "github.push",
            where="$.payload.ref == 'refs/heads/main' && $.payload.repo.owner.login == 'acme'",
        )
    )

    async def fires(payload: dict[str, Any]) -> bool:
        return bool(await evaluator.evaluate(event("github.push", payload=payload), T0))

    assert await fires({"ref": "refs/heads/main", "repo": {"owner": {"login": "acme"}}})
    assert not await fires({"ref": "refs/heads/dev", "repo": {"owner": {"login": "acme"}}})
    assert not await fires({"ref": "refs/heads/main", "repo": {"owner": {"login": "evil"}}})
    assert not await fires({"ref": "refs/heads/main"})


async def test_the_same_event_delivered_twice_fires_once_and_counts_once() -> None:
    evaluator = await loaded(
        single=on_event("a.b"), double=EventTrigger(expect=("a.b",), threshold=2)
    )
    first, second = event("a.b", T0), event("a.b", T0 + MINUTE)
    assert [f.trigger for f in await evaluator.evaluate(first, T0)] == ["single"]
    assert await evaluator.evaluate(first, T0) == []  # re-delivered: not again, not counted
    assert sorted(f.trigger for f in await evaluator.evaluate(second, T0)) == ["double", "single"]
    assert await evaluator.evaluate(second, T0) == []


async def test_firing_ids_are_derived_from_what_fired() -> None:
    trigger = EventTrigger(expect=("a.b",), threshold=2, for_each=("proctor.resource.id",))
    events = [event("a.b", T0), event("a.b", T0 + MINUTE)]
    ids = []
    for _ in range(2):
        evaluator = await loaded(key=trigger)
        fired = [f for e in events for f in await evaluator.evaluate(e, T0 + 5 * MINUTE)]
        ids.append([f.id for f in fired])
    assert ids[0] == ids[1]
    assert len(ids[0]) == 1


def _run_event(flow: str, state: str, tags: tuple[str, ...] = ("prod",)) -> Any:
    kind = {"Failed": StateType.FAILED, "TimedOut": StateType.FAILED, "Crashed": StateType.CRASHED}
    run = FlowRunSnapshot(
        id=uuid4(), name="brave-otter", flow_name=flow, deployment_name="nightly",
        deployment_id=uuid4(), tags=tags,
    )  # fmt: skip
    snapshot = StateSnapshot(type=kind.get(state, StateType.COMPLETED), name=state, timestamp=T0)
    return state_change_event(run, snapshot, None)


async def test_on_flow_failed_sees_failed_crashed_and_timed_out_runs_of_its_flow() -> None:
    evaluator = await loaded(etl=on_flow_failed("etl", deployment="nightly", tags=["prod"]))
    for state, fires in [
        ("Failed", True),
        ("Crashed", True),
        ("TimedOut", True),
        ("Completed", False),
    ]:
        assert bool(await evaluator.evaluate(_run_event("etl", state), T0)) is fires, state
    assert await evaluator.evaluate(_run_event("other", "Failed"), T0) == []
    assert await evaluator.evaluate(_run_event("etl", "Failed", tags=("dev",)), T0) == []


async def test_removed_triggers_stop_firing_and_a_changed_definition_starts_afresh() -> None:
    evaluator = await loaded(key=EventTrigger(expect=("a.b",), threshold=2))
    await evaluator.evaluate(event("a.b", T0), T0)
    await evaluator.remove("key")
    assert "key" not in evaluator
    assert await evaluator.evaluate(event("a.b", T0), T0) == []
    await evaluator.add("key", EventTrigger(expect=("a.b",), threshold=2), T0)  # same: resumes
    assert len(await evaluator.evaluate(event("a.b", T0), T0)) == 1
    await evaluator.evaluate(event("a.b", T0), T0)
    await evaluator.add("key", EventTrigger(expect=("a.b",), threshold=3), T0)  # changed
    assert await evaluator.evaluate(event("a.b", T0), T0) == []


async def test_wildcard_names_and_any_name() -> None:
    evaluator = await loaded(
        exact=on_event("shop.order.created"),
        star=on_event("shop.*.created"),
        prefix=on_event("shop.order.cre*"),
        tail=on_event("shop.>"),
        anything=EventTrigger(),
    )
    fired = await evaluator.evaluate(event("shop.order.created"), T0)
    assert sorted(f.trigger for f in fired) == ["anything", "exact", "prefix", "star", "tail"]
    fired = await evaluator.evaluate(event("shop.refund.created"), T0)
    assert sorted(f.trigger for f in fired) == ["anything", "star", "tail"]
    assert [f.trigger for f in await evaluator.evaluate(event("billing.paid"), T0)] == ["anything"]


async def test_idle_buckets_are_forgotten_after_the_retention() -> None:
    evaluator = TriggerEvaluator(retention=timedelta(minutes=10))
    await evaluator.add("key", EventTrigger(expect=("a.b",), threshold=2, for_each=(ID_LABEL,)), T0)
    for number in range(5):
        await evaluator.evaluate(event("a.b", resource={ID_LABEL: f"thing.{number}"}), T0)
    assert len(evaluator.store) == 5  # type: ignore[arg-type]
    await evaluator.tick(T0 + timedelta(minutes=11))
    assert len(evaluator.store) == 0  # type: ignore[arg-type]
    assert evaluator.next_deadline() is None


async def test_keys_must_be_safe_names() -> None:
    evaluator = TriggerEvaluator()
    for bad in ("", "has space", "dotted.key", "x" * 129):
        with pytest.raises(ConfigurationError, match="trigger key"):
            await evaluator.add(bad, on_event("a.b"), T0)


async def test_firings_round_trip_through_json() -> None:
    evaluator = await loaded(
        both=CompoundTrigger(triggers=(on_event("a.b"), on_event("c.d")), require="all")
    )
    await evaluator.evaluate(event("a.b", T0), T0)
    [fired] = await evaluator.evaluate(event("c.d", T0), T0)
    assert Firing.model_validate_json(fired.model_dump_json()) == fired
    assert fired.events == tuple(child.events[0] for child in fired.children)
