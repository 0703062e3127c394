"""One task run, from Pending to a final state: inputs, cache, attempts, retries, hooks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span

from proctor.core.errors import UpstreamFailedError
from proctor.core.tracing import attach_span, detach_span, traceparent_of, tracer
from proctor.events.emit import ambient_related
from proctor.events.ids import uuid7
from proctor.events.labels import ID_LABEL, NAME_LABEL, ROLE_LABEL
from proctor.runtime.engine.caching import CacheStore, default_store
from proctor.runtime.engine.clock import current_clock
from proctor.runtime.engine.context import FlowRunContext, TaskRunContext, task_run_context
from proctor.runtime.engine.execution import (
    acall_with_timeout,
    arun_hooks,
    call_with_timeout,
    failure_state,
    outcome_state,
    retry_delay,
    run_hooks,
)
from proctor.runtime.engine.futures import (
    TaskRunFuture,
    aresolve_inputs,
    collect_upstream,
    resolve_inputs,
)
from proctor.runtime.engine.logs import capture_prints, printing_to_log
from proctor.runtime.engine.publishing import RunPublisher
from proctor.runtime.engine.run_spans import end_run_span, start_task_run_span
from proctor.runtime.engine.runs import RunTracker
from proctor.runtime.engine.states import (
    AwaitingRetry,
    Cached,
    Crashed,
    Failed,
    Pending,
    Retrying,
    Running,
    State,
)
from proctor.runtime.engine.unchecked import built
from proctor.runtime.run_events import StateType, TaskRunSnapshot, task_run_resource_id

if TYPE_CHECKING:
    from proctor.runtime.engine.tasks import Task

__all__ = ("TaskRun",)

_TASK_RUN_FIELDS = set(TaskRunSnapshot.model_fields)


_Scope = tuple[Token[Any], Token[Any], Token[Any] | None, AbstractContextManager[None] | None]


class _RunLabels(Mapping[str, str]):
    """The task run as a related resource, made only if an event is emitted inside it (and
    checked then, like any related resource)."""

    __slots__ = ("_labels", "_tracker")

    def __init__(self, tracker: RunTracker[TaskRunSnapshot]) -> None:
        self._tracker = tracker
        self._labels: dict[str, str] | None = None

    def _made(self) -> dict[str, str]:
        if self._labels is None:
            self._labels = {
                ID_LABEL: task_run_resource_id(self._tracker.id),
                NAME_LABEL: self._tracker.snapshot.name,
                ROLE_LABEL: "task-run",
            }
        return self._labels

    def __getitem__(self, label: str) -> str:
        return self._made()[label]

    def __iter__(self) -> Iterator[str]:
        return iter(self._made())

    def __len__(self) -> int:
        return len(self._made())


def _task_inputs(upstream: Mapping[str, list[TaskRunFuture[Any]]]) -> dict[str, list[Any]]:
    return {name: [f.task_run_id for f in found] for name, found in upstream.items()}


class TaskRun:
    """A task call becoming a task run. Made (and Pending) at once; ``run_sync``/``run_async``."""

    def __init__(
        self,
        task: Task[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        wait_for: list[TaskRunFuture[Any]] | None,
        flow_run: FlowRunContext | None,
        publisher: RunPublisher | None,
    ) -> None:
        self.task = task
        self.flow_run = flow_run
        self.clock = flow_run.clock if flow_run is not None else current_clock()
        self.parameters = task.signature.bind(args, kwargs)
        self.upstream = collect_upstream(self.parameters)
        self.wait_for = wait_for or []
        dynamic_key = flow_run.next_dynamic_key(task.task_key) if flow_run else "0"
        flow_snapshot = flow_run.run.snapshot if flow_run is not None else None
        values = {  # in the model's field order (its JSON follows the dictionary's)
            "id": uuid7(),
            "name": task.run_name(self.parameters, dynamic_key),
            "task_key": task.task_key,
            "dynamic_key": dynamic_key,
            "flow_run_id": flow_snapshot.id if flow_snapshot else None,
            "flow_name": flow_snapshot.flow_name if flow_snapshot else None,
            "tags": task.tags,
            "run_count": 0,
            "task_inputs": _task_inputs(self.upstream) if self.upstream else {},
            "wait_for": [f.task_run_id for f in self.wait_for] if self.wait_for else [],
            "cache_key": None,
            "expected_start_time": None,
            "start_time": None,
            "end_time": None,
        }
        if task.plain_tags:  # every value made here or checked by the task: nothing to validate
            snapshot = built(TaskRunSnapshot, values, _TASK_RUN_FIELDS)
        else:
            snapshot = TaskRunSnapshot(**values)
        self.tracker: RunTracker[TaskRunSnapshot] = RunTracker(
            snapshot, publisher.events if publisher else None
        )
        run_tracer = flow_run.tracer if flow_run is not None else tracer()
        self.span: Span | None = None
        if run_tracer is not None:
            self.span = start_task_run_span(run_tracer, snapshot, task.name)
            self.tracker.traceparent = traceparent_of(self.span)
        elif flow_run is not None:  # untraced: its events carry its flow run's trace context
            self.tracker.traceparent = flow_run.run.traceparent
        self.context = TaskRunContext(task, self.tracker, flow_run, self.parameters, publisher)
        self.tracker.set_state(Pending().snapshot)
        self.final: State[Any] | None = None
        self._cache_key: str | None = None

    # --- shared steps -----------------------------------------------------------------------

    def _cache_lookup(self, parameters: dict[str, Any]) -> State[Any] | None:
        task = self.task
        if task.cache_key_fn is not None:
            key = task.cache_key_fn(self.context, parameters)
        else:
            key = task.cache_policy.compute_key(task.task_key, task.fn, parameters)
        if key is None:
            return None
        self._cache_key = key
        self.tracker.snapshot = self.tracker.snapshot.model_copy(update={"cache_key": key})
        if task.refresh_cache:
            return None
        hit, value = self._store().get(key, self.clock.now())
        return Cached(value) if hit else None

    def _store(self) -> CacheStore:
        return self.task.cache_store or default_store()

    def _cache_put(self, state: State[Any]) -> None:
        if self._cache_key is not None and state.is_completed():
            expiration = self.task.cache_expiration
            expires = self.clock.now() + expiration if expiration is not None else None
            self._store().put(self._cache_key, state.data, expires)

    def _start_attempt(self) -> None:
        snapshot = self.tracker.snapshot
        retrying = self.tracker.state is not None and self.tracker.state.name == "AwaitingRetry"
        state = (Retrying() if retrying else Running()).snapshot
        updates: dict[str, Any] = {"run_count": snapshot.run_count + 1}
        if snapshot.start_time is None:
            updates["start_time"] = state.timestamp
        self.tracker.set_state(state, **updates)

    def _retry(self, state: State[Any]) -> float | None:
        """Seconds to wait before the next attempt (having entered AwaitingRetry), or None."""
        task, run_count = self.task, self.tracker.snapshot.run_count
        if not state.is_failed() or run_count > task.retries:
            return None
        condition = task.retry_condition_fn
        if condition is not None and not condition(task, self.tracker.snapshot, state):
            return None
        delay = retry_delay(
            task.retry_delay_seconds, task.retries, run_count, task.retry_jitter_factor, self.clock
        )
        self.tracker.set_state(
            AwaitingRetry(f"retry {run_count} of {task.retries} in {delay:g} s").snapshot
        )
        self.context.logger.warning(
            "Task run failed (%s): retry %d/%d in %g second(s)",
            state.message, run_count, task.retries, delay,
        )  # fmt: skip
        return delay

    def _set_final(self, state: State[Any]) -> State[Any]:
        self.tracker.set_state(state.snapshot, end_time=state.snapshot.timestamp)
        self.final = state
        if self.span is not None:
            end_run_span(self.span, "proctor.task_run", state, self.tracker.snapshot.run_count)
        if state.type is StateType.FAILED or state.type is StateType.CRASHED:
            self.context.logger.error(
                "Finished in state %r", state, exc_info=state.error if state.error else None
            )
        return state

    def _hooks(self, state: State[Any]) -> list[Any]:
        task = self.task
        if state.type is StateType.COMPLETED:
            return task.on_completion
        if state.type is StateType.FAILED:
            return task.on_failure
        if state.type is StateType.CRASHED:
            return task.on_crashed
        if state.type is StateType.CANCELLED:
            return task.on_cancellation
        return []

    def _crash(self, error: BaseException) -> State[Any]:
        if self.final is not None:  # it crashed after ending (in a hook)
            return self.final
        return self._set_final(Crashed(f"crashed: {type(error).__name__}: {error}", error=error))

    def _enter(self) -> _Scope:
        """Set the task run's context around user code: run context, related run, prints
        (plain calls: a generator context manager per attempt costs several times more)."""
        task_token = task_run_context.set(self.context)
        related_token = ambient_related.set((*ambient_related.get(), _RunLabels(self.tracker)))
        span_token = attach_span(self.span) if self.span is not None else None
        log_prints = self.task.log_prints
        if log_prints is None:
            log_prints = self.flow_run.log_prints if self.flow_run is not None else False
        prints = None
        if log_prints:
            prints = capture_prints(self.context.logger)
        elif printing_to_log():
            prints = capture_prints(None)
        if prints is not None:
            prints.__enter__()
        return task_token, related_token, span_token, prints

    def _exit(self, scope: _Scope) -> None:
        task_token, related_token, span_token, prints = scope
        try:
            if prints is not None:
                prints.__exit__(None, None, None)
        finally:
            if span_token is not None:
                detach_span(span_token)
            ambient_related.reset(related_token)
            task_run_context.reset(task_token)

    def outcome(self) -> State[Any]:
        """The final state (after a crash too: then Crashed)."""
        if self.final is None:
            return Crashed("the task run ended without a final state")
        return self.final

    def abandon(self, message: str) -> State[Any]:
        """End a run that never started (its flow run crashed first) as Crashed."""
        return self._set_final(Crashed(message))

    def _upstream_failed(self, error: UpstreamFailedError) -> State[Any]:
        return self._set_final(Failed(str(error), error=error))

    # --- drivers -----------------------------------------------------------------------------

    def run_sync(self) -> State[Any]:
        """Run to a final state in this thread. Re-raises a crash (after recording it)."""
        try:
            state = self._run_sync()
        except BaseException as error:
            run_hooks(self.task.on_crashed, self.task, self.tracker.snapshot, self._crash(error))
            raise
        hooks = self._hooks(state)
        if hooks:
            run_hooks(hooks, self.task, self.tracker.snapshot, state)
        return state

    def _run_sync(self) -> State[Any]:
        try:
            parameters = resolve_inputs(self.parameters, self.upstream, self.wait_for)
        except UpstreamFailedError as error:
            return self._upstream_failed(error)
        self.context.parameters = parameters
        cached = self._cache_lookup(parameters) if self.task.caches else None
        if cached is not None:
            return self._set_final(cached)
        args, kwargs = self.task.signature.call_args(parameters)
        while True:
            self._start_attempt()
            scope = self._enter()
            try:
                value = call_with_timeout(self.task.fn, args, kwargs, self.task.timeout_seconds)
                state = outcome_state(value)
            except Exception as error:
                state = failure_state(error)
            finally:
                self._exit(scope)
            delay = self._retry(state)
            if delay is None:
                break
            self.clock.sleep(delay)
        self._cache_put(state)
        return self._set_final(state)

    async def run_async(self) -> State[Any]:
        """Run to a final state on this event loop. Re-raises a crash (after recording it)."""
        try:
            state = await self._run_async()
        except BaseException as error:
            await arun_hooks(
                self.task.on_crashed, self.task, self.tracker.snapshot, self._crash(error)
            )
            raise
        hooks = self._hooks(state)
        if hooks:
            await arun_hooks(hooks, self.task, self.tracker.snapshot, state)
        return state

    async def _run_async(self) -> State[Any]:
        try:
            parameters = await aresolve_inputs(self.parameters, self.upstream, self.wait_for)
        except UpstreamFailedError as error:
            return self._upstream_failed(error)
        self.context.parameters = parameters
        cached = self._cache_lookup(parameters) if self.task.caches else None
        if cached is not None:
            return self._set_final(cached)
        args, kwargs = self.task.signature.call_args(parameters)
        while True:
            self._start_attempt()
            scope = self._enter()
            try:
                value = await acall_with_timeout(
                    self.task.fn(*args, **kwargs), self.task.timeout_seconds
                )
                state = outcome_state(value)
            except Exception as error:
                state = failure_state(error)
            finally:
                self._exit(scope)
            delay = self._retry(state)
            if delay is None:
                break
            await self.clock.asleep(delay)
        self._cache_put(state)
        return self._set_final(state)
