"""Compound (any / all / N within a window) and sequence (in order) triggers; they nest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from proctor.triggers.definitions import CompoundTrigger, CronTrigger, SequenceTrigger, on_event
from proctor.triggers.evaluation import TriggerEvaluator
from tests.triggers.support import T0, event

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


async def run(trigger: Any, names: list[tuple[str, int]]) -> list[Any]:
    """Feed events (name, minute) to a fresh evaluator; every firing, in order."""
    evaluator = TriggerEvaluator()
    await evaluator.add("key", trigger, T0)
    fired = []
    for name, minute in names:
        fired += await evaluator.evaluate(event(name, T0 + minute * MINUTE), T0 + minute * MINUTE)
    return fired


def compound(require: Any, within: timedelta | None = 10 * MINUTE) -> CompoundTrigger:
    return CompoundTrigger(
        triggers=(on_event("a"), on_event("b"), on_event("c")), require=require, within=within
    )


async def test_compound_all_fires_when_every_child_fired_within_the_window() -> None:
    fired = await run(compound("all"), [("a", 0), ("b", 3), ("a", 4), ("c", 9)])
    assert len(fired) == 1
    assert fired[0].kind == "compound"
    assert [child.path for child in fired[0].children] == [(0,), (1,), (2,)]
    assert fired[0].children[0].occurred == T0 + 4 * MINUTE  # the latest firing of each child
    assert len(fired[0].events) == 3


async def test_compound_all_does_not_fire_when_the_children_are_too_far_apart() -> None:
    assert await run(compound("all"), [("a", 0), ("b", 3), ("c", 11)]) == []
    assert len(await run(compound("all"), [("a", 0), ("b", 3), ("c", 11), ("a", 12)])) == 1


async def test_compound_any_fires_on_each_child() -> None:
    fired = await run(compound("any"), [("a", 0), ("c", 1), ("x", 2), ("b", 30)])
    assert [f.children[0].path for f in fired] == [(0,), (2,), (1,)]


async def test_compound_n_fires_when_n_distinct_children_fired() -> None:
    assert await run(compound(2), [("a", 0), ("a", 1), ("a", 2)]) == []
    fired = await run(compound(2), [("a", 0), ("a", 1), ("c", 2), ("b", 3), ("b", 4), ("a", 5)])
    assert [[c.path[0] for c in f.children] for f in fired] == [[0, 2], [0, 1]]


async def test_compound_without_window_waits_forever() -> None:
    assert len(await run(compound("all", within=None), [("a", 0), ("b", 600), ("c", 6000)])) == 1


def sequence(within: timedelta | None = 10 * MINUTE) -> SequenceTrigger:
    return SequenceTrigger(triggers=(on_event("a"), on_event("b"), on_event("c")), within=within)


async def test_sequence_fires_when_children_fire_in_order() -> None:
    fired = await run(sequence(), [("a", 0), ("b", 1), ("c", 2)])
    assert [f.kind for f in fired] == ["sequence"]
    assert [child.path for child in fired[0].children] == [(0,), (1,), (2,)]


async def test_sequence_ignores_the_wrong_order_and_tolerates_others_in_between() -> None:
    assert await run(sequence(), [("c", 0), ("b", 1), ("a", 2)]) == []
    assert await run(sequence(), [("b", 0), ("a", 1), ("c", 2)]) == []
    assert len(await run(sequence(), [("a", 0), ("x", 1), ("b", 2), ("a", 3), ("c", 4)])) == 1


async def test_sequence_must_complete_within_its_window() -> None:
    assert await run(sequence(), [("a", 0), ("b", 5), ("c", 11)]) == []
    # A later start is kept: a(8) b(9) c(11) completes within 10 minutes of a(8).
    assert len(await run(sequence(), [("a", 0), ("b", 5), ("a", 8), ("b", 9), ("c", 11)])) == 1


async def test_one_event_fills_one_step_of_a_sequence() -> None:
    twice = SequenceTrigger(triggers=(on_event("a"), on_event("a")))
    assert await run(twice, [("a", 0)]) == []
    assert len(await run(twice, [("a", 0), ("a", 1)])) == 1


async def test_nested_sequence_inside_a_compound() -> None:
    nested = CompoundTrigger(
        triggers=(SequenceTrigger(triggers=(on_event("a"), on_event("b"))), on_event("c")),
        require="all",
    )
    assert await run(nested, [("b", 0), ("a", 1), ("c", 2)]) == []
    fired = await run(nested, [("a", 0), ("c", 1), ("b", 2)])
    assert len(fired) == 1
    assert [child.kind for child in fired[0].children] == ["sequence", "reactive"]
    assert fired[0].children[0].children[1].path == (0, 1)


async def test_a_cron_child_combines_with_an_event_child() -> None:
    evaluator = TriggerEvaluator()
    trigger = CompoundTrigger(
        triggers=(on_event("deploy.frozen"), CronTrigger(cron="0 9 * * *")),
        require="all",
        within=timedelta(hours=1),
    )
    await evaluator.add("key", trigger, T0)  # T0 is 12:00 UTC
    assert (await evaluator.tick(T0 + 21 * HOUR)).firings == []  # 09:00, nothing frozen yet
    assert (await evaluator.tick(T0 + 23 * HOUR)).firings == []  # that 09:00 is forgotten
    frozen_at = T0 + 44 * HOUR  # 08:00 the day after
    await evaluator.evaluate(event("deploy.frozen", frozen_at), frozen_at)
    assert evaluator.next_deadline() == T0 + 45 * HOUR
    fired = (await evaluator.tick(T0 + 45 * HOUR)).firings
    assert [child.kind for f in fired for child in f.children] == ["reactive", "schedule"]
