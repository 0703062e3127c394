"""Prometheus metrics of a Proctor server (``GET /metrics``, in the text exposition format).

Two kinds:

- **Counters kept by this process** as things happen: events recorded by the recorder (by
  event name), automation firings and action outcomes (the engine reports each as an event,
  so the recorder counts them wherever the engine runs), dead letters.
- **Gauges read at scrape time** from what every replica shares, so any API process answers
  the same: the event stream (messages, last sequence: events in), each durable consumer's
  lag (pending and unacknowledged messages: events out), flow runs by state (the store), and
  each worker's heartbeat age (NATS KV). A part that could not be read is left out, and
  ``proctor_metrics_source_up{source}`` says so (0), so an alert can tell "no lag" from
  "lag unknown".
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Final

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from proctor.events.bus.base import EventBus
from proctor.events.bus.consumer import Delivery
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.events.labels import NAME_LABEL
from proctor.events.model import Event
from proctor.runtime.orchestration.model import WorkerBeat

__all__ = (
    "CONTENT_TYPE",
    "SharedState",
    "count_log_lines",
    "count_recorded",
    "exposition",
    "read_shared_state",
)

log = logging.getLogger(__name__)

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

_TRIGGERED: Final = "proctor.automation.triggered"
_ACTION_OUTCOMES: Final = {
    "proctor.automation.action.executed": "executed",
    "proctor.automation.action.failed": "failed",
}
_DEAD_LETTERED: Final = "proctor.recorder.dead-lettered"
_REPORTS: Final = frozenset({_TRIGGERED, *_ACTION_OUTCOMES, _DEAD_LETTERED})

EVENTS_RECORDED = Counter(
    "proctor_events_recorded",
    "Events stored by this process's recorder, by name (Proctor's own names; inbound "
    "webhooks as 'webhook'; every other name as 'custom').",
    ["name"],
)
FIRINGS = Counter(
    "proctor_automation_firings", "Automation firings recorded, by automation.", ["automation"]
)
ACTIONS = Counter(
    "proctor_automation_actions",
    "Automation action outcomes recorded, by automation and outcome (executed, failed).",
    ["automation", "outcome"],
)
LOG_LINES = Counter("proctor_log_lines_recorded", "Run log lines stored by this process.")
DEAD_LETTERS = Counter(
    "proctor_recorder_dead_letters", "Stream messages the recorder could not store."
)


def _name_label(name: str) -> str:
    """A bounded label for an event name: users' names would make one series each."""
    if name.startswith("proctor."):
        return name
    return "webhook" if name.startswith("webhook.") else "custom"


def _automation_name(delivery: Delivery) -> str:
    try:
        return Event.from_wire(delivery.data).resource.root.get(NAME_LABEL, "unknown")
    except Exception:  # a malformed report is the recorder's to dead-letter, not ours
        return "unknown"


def count_log_lines(deliveries: Sequence[Delivery]) -> None:
    """Count a batch of log lines the log recorder has stored and acknowledged."""
    LOG_LINES.inc(len(deliveries))


def count_recorded(deliveries: Sequence[Delivery]) -> None:
    """Count a batch of events the recorder has stored and acknowledged (one increment per
    name: a batch holds few names)."""
    by_name = collections.Counter(delivery.event_name for delivery in deliveries)
    for name, count in by_name.items():
        EVENTS_RECORDED.labels(_name_label(name)).inc(count)
    if by_name.keys().isdisjoint(_REPORTS):
        return
    for delivery in deliveries:
        name = delivery.event_name
        if name == _TRIGGERED:
            FIRINGS.labels(_automation_name(delivery)).inc()
        elif name in _ACTION_OUTCOMES:
            ACTIONS.labels(_automation_name(delivery), _ACTION_OUTCOMES[name]).inc()
        elif name == _DEAD_LETTERED:
            DEAD_LETTERS.inc()


class SharedState:
    """What the scrape read from NATS and the store (each part ``None`` when unavailable)."""

    def __init__(self, now: datetime) -> None:
        self.now = now  # when it was read: the heartbeats' ages are counted from it
        self.stream: tuple[int, int] | None = None  # (messages, last sequence)
        self.consumers: list[tuple[str, int, int]] = []  # (name, pending, ack pending)
        self.runs_by_state: dict[str, int] | None = None
        self.workers: list[WorkerBeat] | None = None
        self.has_stream = False  # whether there is a stream to read (the bus is JetStream)

    def families(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "proctor_metrics_source_up",
            "Whether this scrape could read each source of the shared gauges (1) or left its "
            "gauges out (0): stream (the event stream and its consumers), runs, workers.",
            labels=["source"],
        )
        read = {"stream": self.stream is not None} if self.has_stream else {}
        read |= {"runs": self.runs_by_state is not None, "workers": self.workers is not None}
        for source, was_read in read.items():
            up.add_metric([source], 1 if was_read else 0)
        yield up
        if self.stream is not None:
            messages, last = self.stream
            yield _gauge("proctor_stream_messages", "Events held in the event stream.", messages)
            published = CounterMetricFamily(
                "proctor_events_published",
                "Events accepted by the event stream (its last sequence).",
            )
            published.add_metric([], last)
            yield published
        pending = GaugeMetricFamily(
            "proctor_consumer_pending_messages",
            "Consumer lag: stream messages not yet delivered to each durable consumer.",
            labels=["consumer"],
        )
        unacked = GaugeMetricFamily(
            "proctor_consumer_ack_pending_messages",
            "Messages delivered to each durable consumer and not yet acknowledged.",
            labels=["consumer"],
        )
        for name, waiting, in_flight in self.consumers:
            pending.add_metric([name], waiting)
            unacked.add_metric([name], in_flight)
        yield pending
        yield unacked
        if self.runs_by_state is not None:
            runs = GaugeMetricFamily(
                "proctor_flow_runs", "Flow runs in the store, by current state.", labels=["state"]
            )
            for state, count in sorted(self.runs_by_state.items()):
                runs.add_metric([state], count)
            yield runs
        if self.workers is not None:
            age = GaugeMetricFamily(
                "proctor_worker_heartbeat_age_seconds",
                "Seconds since each live worker's last heartbeat.",
                labels=["worker", "pool"],
            )
            for beat in self.workers:
                # Never below 0: a beat sent while the scrape read them (after ``now``), or by
                # a worker whose clock runs ahead of this one, is fresh.
                seconds = max(0.0, (self.now - beat.sent).total_seconds())
                age.add_metric([beat.id, beat.pool], seconds)
            yield age


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


class _Snapshot(Collector):
    def __init__(self, state: SharedState) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        return list(self._state.families())


async def read_shared_state(
    bus: EventBus,
    runs_by_state: Callable[[], Awaitable[dict[str, int]]],
    worker_beats: Callable[[], Awaitable[list[WorkerBeat]]],
    now: datetime,
) -> SharedState:
    """Read the stream and its consumers (on JetStream), the runs by state and the worker
    heartbeats; a part that cannot be read is left out, and logged."""
    state = SharedState(now)
    if isinstance(bus, JetStreamEventBus):
        state.has_stream = True
        stream = bus.naming.events_stream
        try:
            info = await bus.js.stream_info(stream)
            consumers = [
                (consumer.name, consumer.num_pending or 0, consumer.num_ack_pending or 0)
                for consumer in await bus.js.consumers_info(stream)
            ]
        except Exception as error:
            log.warning("metrics: could not read the event stream: %s", error)
        else:  # the stream and its consumers are shown together or not at all
            state.stream = (info.state.messages, info.state.last_seq)
            state.consumers = consumers
    try:
        state.runs_by_state = await runs_by_state()
    except Exception as error:
        log.warning("metrics: could not count runs: %s", error)
    try:
        state.workers = await worker_beats()
    except Exception as error:
        log.warning("metrics: could not read worker heartbeats: %s", error)
    return state


def exposition(state: SharedState) -> bytes:
    """This process's counters (and its process metrics) followed by the shared gauges."""
    shared = CollectorRegistry(auto_describe=False)
    shared.register(_Snapshot(state))
    return generate_latest(REGISTRY) + generate_latest(shared)
