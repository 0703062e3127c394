"""What code inside a run can see: the current flow run and task run.

The engine sets these context variables around user code; submitted tasks run in a copy of
the submitting context, so they see their flow run from any thread.
"""

from __future__ import annotations

import concurrent.futures
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Tracer

from proctor.core.errors import MissingContextError
from proctor.events.labels import RelatedResource
from proctor.runtime.engine.clock import Clock
from proctor.runtime.engine.logs import (
    FLOW_RUN_LOGGER,
    TASK_RUN_LOGGER,
    LogTarget,
    RunLogger,
    run_logger,
)
from proctor.runtime.engine.publishing import RunPublisher
from proctor.runtime.engine.runs import RunTracker
from proctor.runtime.run_events import FlowRunSnapshot, TaskRunSnapshot

if TYPE_CHECKING:
    from proctor.runtime.engine.futures import TaskRunFuture

__all__ = (
    "FlowRunContext",
    "TaskRunContext",
    "flow_run_context",
    "get_run_context",
    "get_run_logger",
    "task_run_context",
)


class FlowRunContext:
    """A flow run in progress: its record, publisher, clock, and the task runs it started.

    ``tracer`` is None when runs are not traced (read once per top-level run: its task runs
    test this reference, nothing else).
    """

    def __init__(
        self,
        flow: Any,
        run: RunTracker[FlowRunSnapshot],
        publisher: RunPublisher | None,
        clock: Clock,
        parameters: dict[str, Any],
        log_prints: bool,
        related: tuple[RelatedResource, ...],
        tracer: Tracer | None = None,
    ) -> None:
        self.flow = flow
        self.run = run
        self.publisher = publisher
        self.clock = clock
        self.parameters = parameters
        self.log_prints = log_prints
        self.related = related
        self.tracer = tracer
        self.submitted: list[TaskRunFuture[Any]] = []
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._logger: RunLogger | None = None

    @property
    def logger(self) -> RunLogger:
        if self._logger is None:
            target = LogTarget(
                flow_run_id=self.run.id,
                task_run_id=None,
                label=f"Flow run {self.run.snapshot.name!r}",
                outbox=self.publisher.logs if self.publisher else None,
            )
            self._logger = run_logger(FLOW_RUN_LOGGER, target)
        return self._logger

    def next_dynamic_key(self, task_key: str) -> str:
        """``"0"``, ``"1"``... for successive calls of one task in this flow run."""
        with self._lock:
            count = self._counters.get(task_key, 0)
            self._counters[task_key] = count + 1
        return str(count)

    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        """The thread pool that runs this flow run's submitted sync tasks."""
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    thread_name_prefix=f"proctor-{self.run.snapshot.name}"
                )
            return self._executor

    def shutdown(self, wait: bool = True) -> None:
        """Stop the thread pool (``wait=False``: without waiting for running task runs)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)


class TaskRunContext:
    """A task run in progress."""

    def __init__(
        self,
        task: Any,
        run: RunTracker[TaskRunSnapshot],
        flow_run: FlowRunContext | None,
        parameters: dict[str, Any],
        publisher: RunPublisher | None,
    ) -> None:
        self.task = task
        self.run = run
        self.flow_run = flow_run
        self.parameters = parameters
        self.publisher = publisher
        self._logger: RunLogger | None = None

    @property
    def logger(self) -> RunLogger:
        if self._logger is None:
            target = LogTarget(
                flow_run_id=self.run.snapshot.flow_run_id,
                task_run_id=self.run.id,
                label=f"Task run {self.run.snapshot.name!r}",
                outbox=self.publisher.logs if self.publisher else None,
            )
            self._logger = run_logger(TASK_RUN_LOGGER, target)
        return self._logger


flow_run_context: ContextVar[FlowRunContext | None] = ContextVar("proctor_flow_run", default=None)
task_run_context: ContextVar[TaskRunContext | None] = ContextVar("proctor_task_run", default=None)


def get_run_context() -> FlowRunContext | TaskRunContext:
    """The task run in progress here, else the flow run; ``MissingContextError`` outside both."""
    context: FlowRunContext | TaskRunContext | None = task_run_context.get()
    if context is None:
        context = flow_run_context.get()
    if context is None:
        raise MissingContextError(
            "there is no flow or task run here: call this inside a @flow or @task function"
        )
    return context


def get_run_logger() -> RunLogger:
    """A logger for the current run: its lines carry the run ids and are shipped on the bus."""
    return get_run_context().logger
