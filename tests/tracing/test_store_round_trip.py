"""The events index keeps an event's trace context, on SQLite and PostgreSQL: it stores each
event's JSON as received, so no column or migration is needed."""

from __future__ import annotations

from proctor.events.ids import uuid7
from proctor.events.labels import ID_LABEL
from proctor.events.model import Event
from proctor.runtime.engine import states
from proctor.runtime.run_events import FlowRunSnapshot, state_change_event
from proctor.runtime.store import EventFilter, Store
from tests.store.conftest import postgres_schema, store
from tests.store.test_store_contract import record

__all__ = ("postgres_schema", "store")  # fixtures: a migrated store on each database

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_stored_events_keep_their_traceparent_and_untraced_ones_stay_without(
    store: Store,
) -> None:
    run = FlowRunSnapshot(id=uuid7(), name="traced", flow_name="etl")
    traced = state_change_event(run, states.Running().snapshot, None, traceparent=TRACEPARENT)
    custom = Event.build("shop.order.created", {ID_LABEL: "shop.order.1"}, traceparent=TRACEPARENT)
    plain = Event.build("shop.order.created", {ID_LABEL: "shop.order.2"})
    await record(store, [traced, custom, plain])
    assert await store.events.get(traced.id) == traced
    found = await store.events.query(EventFilter(names=["shop.order.created"], order="asc"))
    assert [(e.id, e.traceparent) for e in found.items] == [
        (custom.id, TRACEPARENT),
        (plain.id, None),
    ]
    runs = await store.runs.flow_run(run.id)
    assert runs is not None  # the run itself is projected as usual
