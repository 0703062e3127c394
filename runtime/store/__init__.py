"""The store: the query side (runs, states, logs, events index, control plane), on SQLite or
PostgreSQL. ``store = await Store.open(url)``; read through its repositories."""

from proctor.runtime.store.filters import EventFilter, FlowRunFilter, RunSort, TaskRunFilter
from proctor.runtime.store.projection import Projection
from proctor.runtime.store.records import (
    DeadLetterRecord,
    FlowRecord,
    FlowRunRecord,
    Page,
    RunLogRecord,
    StateRecord,
    TaskGraph,
    TaskGraphEdge,
    TaskRunRecord,
)
from proctor.runtime.store.store import Store

__all__ = (
    "DeadLetterRecord",
    "EventFilter",
    "FlowRecord",
    "FlowRunFilter",
    "FlowRunRecord",
    "Page",
    "Projection",
    "RunLogRecord",
    "RunSort",
    "StateRecord",
    "Store",
    "TaskGraph",
    "TaskGraphEdge",
    "TaskRunFilter",
    "TaskRunRecord",
)
