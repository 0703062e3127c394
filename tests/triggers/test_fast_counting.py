"""The evaluator's fast path (a count applied to a cached record and saved at once) decides
exactly what the general path (read, change, compare-and-set) decides, for any mix of name
wildcards, label filters, ``where``, buckets, duplicates and triggers changed at runtime."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from proctor.events.labels import ID_LABEL
from proctor.triggers.definitions import EventTrigger
from proctor.triggers.evaluation import TriggerEvaluator
from proctor.triggers.evaluation.firings import event_firing
from proctor.triggers.evaluation.nodes import EventNode, compile_tree
from proctor.triggers.firing import Firing, firing_id
from proctor.triggers.state import InMemoryTriggerStateStore, Record, StateRef
from tests.triggers.support import T0, event

NAMES = ["shop.order.created", "shop.order.failed", "shop.refund.created", "ops.deploy"]
PATTERNS = ["shop.order.created", "shop.order.*", "shop.>", "shop.order.cre*", "*.deploy", "x.y"]
IDS = [uuid.UUID(int=n) for n in range(1, 9)]  # few ids: re-deliveries happen


class GeneralPathStore(InMemoryTriggerStateStore):
    """Never saves at once: every change goes through ``change`` (read, apply, save)."""

    def save_now(self, ref: StateRef, record: Record, revision: int | None) -> None:  # type: ignore[override]
        return None

    async def save(self, ref: StateRef, record: Record, revision: int | None) -> int:
        return InMemoryTriggerStateStore.save_now(self, ref, record, revision)


@st.composite
def triggers(draw: st.DrawFn) -> EventTrigger:
    match: dict[str, Any] = draw(
        st.sampled_from([{}, {"tenant": "t1"}, {"tenant": ["t1", "t2"]}, {"tenant": "!t3"}])
    )
    return EventTrigger(
        expect=tuple(draw(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2))),
        match=match,
        where=draw(st.sampled_from([None, "$.payload.n > 1"])),
        for_each=draw(st.sampled_from([(), (ID_LABEL,)])),
        threshold=draw(st.integers(1, 3)),
        within=draw(st.sampled_from([None, timedelta(minutes=5)])),
    )


@dataclass(frozen=True)
class Step:
    """One event, or a trigger removed (paused) or added back (resumed) at runtime."""

    kind: str
    name: str = ""
    tenant: str = ""
    thing: str = ""
    n: int = 0
    minutes: int = 0
    event_id: int = 0
    key: int = 0


STEPS = st.one_of(
    st.builds(
        Step,
        kind=st.just("event"),
        name=st.sampled_from(NAMES),
        tenant=st.sampled_from(["t1", "t2", "t3"]),
        thing=st.sampled_from(["a", "b"]),
        n=st.integers(0, 3),
        minutes=st.integers(0, 12),
        event_id=st.integers(0, len(IDS) - 1),
    ),
    st.builds(Step, kind=st.sampled_from(["remove", "add"]), key=st.integers(0, 5)),
)


def summary(firings: list[Firing]) -> list[tuple[Any, ...]]:
    return [(f.id, f.trigger, f.bucket, f.events, f.occurred) for f in firings]


@settings(max_examples=150, deadline=None)
@given(loaded=st.lists(triggers(), min_size=1, max_size=6), steps=st.lists(STEPS, max_size=40))
async def test_the_fast_path_fires_as_the_general_path_does(
    loaded: list[EventTrigger], steps: list[Step]
) -> None:
    fast, general = TriggerEvaluator(), TriggerEvaluator(GeneralPathStore())
    for evaluator in (fast, general):
        for number, trigger in enumerate(loaded):
            await evaluator.add(f"t{number}", trigger, T0)
    minutes = 0
    for step in steps:
        key = f"t{step.key % len(loaded)}"
        if step.kind == "remove":
            for evaluator in (fast, general):
                await evaluator.remove(key)
            continue
        if step.kind == "add":
            for evaluator in (fast, general):
                if key not in evaluator:
                    await evaluator.add(key, loaded[step.key % len(loaded)], T0)
            continue
        minutes = max(minutes, step.minutes)  # mostly in order, with repeats
        item = event(
            step.name,
            T0 + timedelta(minutes=minutes),
            resource={ID_LABEL: f"thing.{step.thing}", "tenant": step.tenant},
            payload={"n": step.n},
            id=IDS[step.event_id],
        )
        now = T0 + timedelta(minutes=minutes)
        assert summary(await fast.evaluate(item, now)) == summary(await general.evaluate(item, now))


def test_nodes_know_which_events_they_count_without_checking_labels() -> None:
    plain = compile_tree("k", EventTrigger(expect=("a.*",), threshold=2))
    labelled = compile_tree("k", EventTrigger(expect=("a.b",), match={"env": "prod"}))
    waiting = compile_tree("k", EventTrigger(expect=("a.b",), after=("a.c",)))
    per_item = compile_tree("k", EventTrigger(expect=("a.b",), for_each=(ID_LABEL,)))
    assert isinstance(plain, EventNode)
    assert (plain.counts_only, plain.filters) == (True, False)
    assert plain.root_ref == StateRef("k", plain.node_id, ())
    assert isinstance(labelled, EventNode)
    assert labelled.filters
    assert isinstance(waiting, EventNode)
    assert not waiting.counts_only
    assert isinstance(per_item, EventNode)
    assert per_item.root_ref is None


def test_an_event_firing_lists_the_counted_ids_as_uuids_in_order() -> None:
    node = compile_tree("k", EventTrigger(expect=("a.b",), threshold=3))
    assert isinstance(node, EventNode)
    values = [uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    counted = b"".join(value.bytes for value in values)
    firing = event_firing(node, (), counted, T0, T0)
    assert firing.events == tuple(values)
    assert all(type(item) is uuid.UUID for item in firing.events)


async def test_a_reactive_firing_id_is_derived_from_the_sorted_events() -> None:
    evaluator = TriggerEvaluator()
    await evaluator.add("k", EventTrigger(expect=("a.b",), threshold=3), T0)
    ids = [uuid.UUID(int=n) for n in (30, 10, 20)]
    fired: list[Firing] = []
    for item in ids:
        fired += await evaluator.evaluate(event("a.b", id=item), T0)
    [firing] = fired
    node = compile_tree("k", EventTrigger(expect=("a.b",), threshold=3))
    hexes = [format(n, "032x") for n in (10, 20, 30)]
    assert firing.id == firing_id("k", node.path, (), "reactive", *hexes)
    assert firing.events == tuple(ids)
