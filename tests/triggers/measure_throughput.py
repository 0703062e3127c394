"""Evaluator throughput with 1,000 triggers loaded: ``python -m tests.triggers.measure_throughput``.

Shapes (events are made beforehand; the in-memory state store; one process, one core; the
rate is per CPU second of this process):

- ``names``: 1,000 triggers over 100 event names, 10 per name: each event concerns 1% of the
  triggers (by name) and fires all ten (threshold 1, or 3 per ``for_each`` bucket).
- ``labels``: 1,000 triggers on one wildcard name, told apart by a label and a ``where``
  filter: each event is a candidate for all 1,000 by name, and 1% pass the labels.
- ``sparse``: 1,000 triggers on 1,000 names; 1% of the events concern one trigger, the rest
  none.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Sequence

from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from proctor.triggers.definitions import EventTrigger, Trigger
from proctor.triggers.evaluation import TriggerEvaluator
from tests.triggers.support import T0, event

AUTOMATIONS = 1000


def names_shape(count: int) -> tuple[list[Trigger], list[Event]]:
    triggers: list[Trigger] = []
    for i in range(AUTOMATIONS):
        name = f"shop.order.kind{i % 100}"
        if i % 2:
            triggers.append(EventTrigger(expect=(name,)))
        else:
            triggers.append(EventTrigger(expect=(name,), threshold=3, for_each=(ID_LABEL,)))
    rng = random.Random(1)
    events = [
        event(f"shop.order.kind{rng.randrange(100)}", resource={ID_LABEL: f"o.{rng.randrange(50)}"})
        for _ in range(count)
    ]
    return triggers, events


def labels_shape(count: int) -> tuple[list[Trigger], list[Event]]:
    triggers: list[Trigger] = [
        EventTrigger(
            expect=("shop.order.*",),
            match={"tenant": f"t{i % 100}"},
            where="$.payload.total > 10",
        )
        for i in range(AUTOMATIONS)
    ]
    rng = random.Random(2)
    events = [
        event(
            "shop.order.created",
            resource={ID_LABEL: "o.1", "tenant": f"t{rng.randrange(100)}"},
            payload={"total": 20},
        )
        for _ in range(count)
    ]
    return triggers, events


def sparse_shape(count: int) -> tuple[list[Trigger], list[Event]]:
    triggers: list[Trigger] = [
        EventTrigger(expect=(f"app.n{i}.happened",)) for i in range(AUTOMATIONS)
    ]
    rng = random.Random(3)
    events = [
        event(f"app.n{rng.randrange(AUTOMATIONS)}.happened")
        if rng.random() < 0.01
        else event(f"other.n{rng.randrange(AUTOMATIONS)}.happened")
        for _ in range(count)
    ]
    return triggers, events


async def measure(triggers: Sequence[Trigger], events: Sequence[Event]) -> tuple[float, int]:
    evaluator = TriggerEvaluator()
    for number, trigger in enumerate(triggers):
        await evaluator.add(f"automation-{number}", trigger, T0)
    for warm in events[:500]:
        await evaluator.evaluate(warm, T0)
    started = time.process_time()  # CPU time: other processes on the machine don't count
    fired = 0
    for item in events:
        fired += len(await evaluator.evaluate(item, T0))
    return len(events) / (time.process_time() - started), fired


async def main(count: int) -> None:
    for label, shape in (
        ("names", names_shape),
        ("labels", labels_shape),
        ("sparse", sparse_shape),
    ):
        triggers, events = shape(count)
        rate, fired = await measure(triggers, events)
        print(f"{label:>7}: {rate:10,.0f} events/s  ({fired / len(events):.2f} firings per event)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
