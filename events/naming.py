"""Every NATS name Proctor uses — subjects, streams, consumers — made in this one module."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from proctor.core.errors import ConfigurationError

__all__ = ("Naming",)

_NAMESPACE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class Naming:
    """Names under one namespace. Tests use a unique namespace each, so they never collide."""

    namespace: str = "proctor"

    def __post_init__(self) -> None:
        if not _NAMESPACE.match(self.namespace):
            raise ConfigurationError(
                f"namespace {self.namespace!r} must be 1-32 letters, digits, '_' or '-'",
                setting="PROCTOR_NAMESPACE",
            )

    @cached_property
    def events_prefix(self) -> str:
        """Subject prefix of events: event ``a.b`` travels on ``<prefix>.a.b``."""
        return f"{self.namespace}.events"

    @cached_property
    def events_stream(self) -> str:
        """The JetStream stream that durably records every event."""
        return f"{self.namespace.upper().replace('-', '_')}_EVENTS"

    @cached_property
    def logs_prefix(self) -> str:
        """Subject prefix of run logs: a flow run's log lines travel on ``<prefix>.<run id>``."""
        return f"{self.namespace}.logs"

    @cached_property
    def logs_stream(self) -> str:
        """The JetStream stream that keeps run logs (apart from events: other retention)."""
        return f"{self.namespace.upper().replace('-', '_')}_LOGS"

    @cached_property
    def trigger_state_bucket(self) -> str:
        """The JetStream KeyValue bucket that keeps trigger windows and schedule progress."""
        return f"{self.namespace.upper().replace('-', '_')}_TRIGGER_STATE"

    @cached_property
    def run_requests_prefix(self) -> str:
        """Subject prefix of run requests: ``<prefix>.<work pool>.<work queue>``."""
        return f"{self.namespace}.run-requests"

    @cached_property
    def run_requests_stream(self) -> str:
        """The work-queue stream of run requests that workers claim."""
        return f"{self._upper}_RUN_REQUESTS"

    @cached_property
    def runs_bucket(self) -> str:
        """The KeyValue bucket of runs in flight: one entry per requested flow run (its lease)."""
        return f"{self._upper}_RUNS"

    @cached_property
    def workers_bucket(self) -> str:
        """The KeyValue bucket of worker heartbeats."""
        return f"{self._upper}_WORKERS"

    @cached_property
    def concurrency_bucket(self) -> str:
        """The KeyValue bucket of concurrency limits and the slots held against them."""
        return f"{self._upper}_CONCURRENCY"

    @cached_property
    def work_pools_bucket(self) -> str:
        """The KeyValue bucket where workers read their pool's queues and limits."""
        return f"{self._upper}_WORK_POOLS"

    @cached_property
    def _upper(self) -> str:
        return self.namespace.upper().replace("-", "_")

    def run_request_subject(self, work_pool: str, work_queue: str) -> str:
        """The subject run requests for one pool's queue are published on."""
        return f"{self.run_requests_prefix}.{work_pool}.{work_queue}"

    def worker_wake_subject(self, work_pool: str) -> str:
        """Where a pool's workers are told a request was stored (plain NATS, no stream)."""
        return f"{self.namespace}.workers.wake.{work_pool}"

    def worker_control_subject(self, worker_id: str) -> str:
        """Where a worker listens for commands about the runs it holds (cancel)."""
        return f"{self.namespace}.workers.{worker_id}.control"

    @cached_property
    def automation_state_bucket(self) -> str:
        """The JetStream KeyValue bucket of the automation engine: throttles, debounced
        firings, and which actions are done."""
        return f"{self.namespace.upper().replace('-', '_')}_AUTOMATION_STATE"

    @cached_property
    def webhook_deliveries_bucket(self) -> str:
        """The KeyValue bucket of accepted webhook delivery ids (replay protection)."""
        return f"{self._upper}_WEBHOOK_DELIVERIES"

    def event_subject(self, name: str) -> str:
        """The subject an event named ``name`` is published on."""
        return f"{self.events_prefix}.{name}"

    def event_name(self, subject: str) -> str:
        """The event name carried on ``subject`` (inverse of ``event_subject``)."""
        return subject[len(self.events_prefix) + 1 :]

    def consumer(self, purpose: str) -> str:
        """A durable consumer name for one purpose (``recorder``, ``engine``...)."""
        return f"{self.namespace}-{purpose}"
