"""One flow run, from Pending to a final state: parameters, attempts, retries, subflows, hooks.

A top-level flow run (not called from inside another) waits, as its last step, until every
event and log line published so far is stored: when the call returns, its events are stored.
When traced, the run has a span from Pending to its final state (``run_spans``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span

from proctor.core.errors import InvalidStateTransitionError, ParameterValidationError
from proctor.core.tracing import (
    attach_span,
    current_traceparent,
    detach_span,
    traceparent_of,
    tracer,
)
from proctor.events.emit import ambient_related, current_publisher
from proctor.events.ids import uuid7
from proctor.events.labels import ID_LABEL, NAME_LABEL, ROLE_LABEL, RelatedResource
from proctor.runtime.engine.clock import current_clock
from proctor.runtime.engine.context import FlowRunContext, flow_run_context, task_run_context
from proctor.runtime.engine.execution import (
    acall_with_timeout,
    arun_hooks,
    call_with_timeout,
    failure_state,
    outcome_state,
    retry_delay,
    run_hooks,
)
from proctor.runtime.engine.logs import capture_prints, printing_to_log
from proctor.runtime.engine.parameters import jsonable_parameters
from proctor.runtime.engine.publishing import asettle, run_publisher, settle
from proctor.runtime.engine.run_spans import end_run_span, start_flow_run_span
from proctor.runtime.engine.runs import RunTracker
from proctor.runtime.engine.states import (
    AwaitingRetry,
    Cancelled,
    Crashed,
    Failed,
    Pending,
    Retrying,
    Running,
    State,
)
from proctor.runtime.run_events import FlowRunSnapshot, StateType, flow_run_resource_id

if TYPE_CHECKING:
    from proctor.runtime.engine.flows import Flow
    from proctor.runtime.engine.seed import RunSeed

__all__ = ("FlowRun",)


class FlowRun:
    """A flow call becoming a flow run. Made (and Pending) at once; ``run_sync``/``run_async``."""

    def __init__(
        self,
        flow: Flow[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        seed: RunSeed | None = None,
    ) -> None:
        self.flow = flow
        self.seed = seed
        self._cancelled = False
        parameters = flow.signature.bind(args, kwargs)  # TypeError for a call that can't bind
        parent = flow_run_context.get() if seed is None else None
        parent_task = task_run_context.get() if seed is None else None
        self.top_level = parent is None
        publisher = parent.publisher if parent is not None else run_publisher(current_publisher())
        outbox = publisher.events if publisher else None
        if seed is None:
            snapshot = FlowRunSnapshot(
                id=uuid7(),
                name=flow.run_name(parameters),
                flow_name=flow.name,
                flow_version=flow.version,
                parameters=jsonable_parameters(parameters),
                tags=flow.tags,
                parent_flow_run_id=parent.run.id if parent is not None else None,
                parent_task_run_id=parent_task.run.id if parent_task is not None else None,
            )
            self.tracker: RunTracker[FlowRunSnapshot] = RunTracker(snapshot, outbox)
        else:
            snapshot = seed.run.model_copy(
                update={
                    "flow_name": flow.name,
                    "flow_version": flow.version,
                    "parameters": jsonable_parameters(parameters),
                    "tags": tuple(dict.fromkeys((*seed.run.tags, *flow.tags))),
                }
            )
            self.tracker = RunTracker(
                snapshot,
                outbox,
                state=seed.state,
                last_event_id=seed.event_id,
                listener=seed.on_state,
            )
        run_tracer = parent.tracer if parent is not None else tracer()
        self.span: Span | None = None
        if run_tracer is not None:
            request = seed.traceparent if seed is not None else None
            self.span = start_flow_run_span(run_tracer, snapshot, request)
            self.tracker.traceparent = traceparent_of(self.span)
        else:  # untraced here: its events still carry the trace context it was started in
            self.tracker.traceparent = _inherited_traceparent(seed, parent)
        related = RelatedResource(
            {
                ID_LABEL: flow_run_resource_id(snapshot.id),
                NAME_LABEL: snapshot.name,
                ROLE_LABEL: "flow-run",
            }
        )
        self.context = FlowRunContext(
            flow,
            self.tracker,
            publisher,
            current_clock(),
            parameters,
            flow.log_prints,
            (related,),
            run_tracer,
        )
        if self.tracker.state is None or self.tracker.state.type is not StateType.PENDING:
            self.tracker.set_state(Pending().snapshot)
        self.final: State[Any] | None = None

    # --- shared steps -----------------------------------------------------------------------

    def _validated(self) -> tuple[list[Any], dict[str, Any]] | State[Any]:
        flow, parameters = self.flow, self.context.parameters
        if flow.validate_parameters:
            try:
                parameters = flow.signature.validate(parameters, f"flow {flow.name!r}")
            except ParameterValidationError as error:
                return self._set_final(Failed(str(error), error=error))
            self.context.parameters = parameters
        self.context.logger.info(
            "Beginning flow run %r for flow %r", self.tracker.snapshot.name, flow.name
        )
        return flow.signature.call_args(parameters)

    def _start_attempt(self) -> None:
        snapshot = self.tracker.snapshot
        retrying = self.tracker.state is not None and self.tracker.state.name == "AwaitingRetry"
        state = (Retrying() if retrying else Running()).snapshot
        updates: dict[str, Any] = {"run_count": snapshot.run_count + 1}
        if snapshot.start_time is None:
            updates["start_time"] = state.timestamp
        self.tracker.set_state(state, **updates)

    def _retry(self, state: State[Any]) -> float | None:
        flow, run_count = self.flow, self.tracker.snapshot.run_count
        if not state.is_failed() or run_count > flow.retries:
            return None
        condition = flow.retry_condition_fn
        if condition is not None and not condition(flow, self.tracker.snapshot, state):
            return None
        delay = retry_delay(
            flow.retry_delay_seconds,
            flow.retries,
            run_count,
            flow.retry_jitter_factor,
            self.context.clock,
        )
        self.tracker.set_state(
            AwaitingRetry(f"retry {run_count} of {flow.retries} in {delay:g} s").snapshot
        )
        self.context.logger.warning(
            "Flow run failed (%s): retry %d/%d in %g second(s)",
            state.message, run_count, flow.retries, delay,
        )  # fmt: skip
        return delay

    def _set_final(self, state: State[Any]) -> State[Any]:
        self.tracker.set_state(state.snapshot, end_time=state.snapshot.timestamp)
        self.final = state
        if self.span is not None:
            end_run_span(self.span, "proctor.flow_run", state, self.tracker.snapshot.run_count)
        failed = state.type is StateType.FAILED or state.type is StateType.CRASHED
        self.context.logger.log(
            40 if failed else 20,
            "Finished in state %r",
            state,
            exc_info=state.error if failed and state.error else None,
        )
        return state

    def _hooks(self, state: State[Any]) -> list[Any]:
        flow = self.flow
        if state.type is StateType.COMPLETED:
            return flow.on_completion
        if state.type is StateType.FAILED:
            return flow.on_failure
        if state.type is StateType.CRASHED:
            return flow.on_crashed
        if state.type is StateType.CANCELLED:
            return flow.on_cancellation
        return []

    def _crash(self, error: BaseException) -> State[Any]:
        """Record a crash: unstarted task runs end Crashed, then this run (Cancelled instead
        when its seed's cancel was requested)."""
        cancel = self.seed.cancel if self.seed is not None else None
        if cancel is not None and cancel.is_set():
            message = cancel.message or "cancelled on request"
        else:
            cancel = None
            message = f"crashed: {type(error).__name__}: {error}"
        for future in self.context.submitted:
            work = future._work
            if isinstance(work, concurrent.futures.Future) and work.cancel():
                future._finish(future._run.abandon(f"its flow run {message}"))
            elif work is not None and not future.done():
                work.cancel()
        self.context.shutdown(wait=False)
        if self.final is not None:  # it crashed after ending (in a hook)
            return self.final
        if cancel is not None:
            current = self.tracker.state
            if cancel.state is not None and (current is None or not current.type.is_terminal):
                with contextlib.suppress(InvalidStateTransitionError):
                    self.tracker.adopt(cancel.state, cancel.event_id)
            self._cancelled = True
            return self._set_final(Cancelled(message))
        return self._set_final(Crashed(message, error=error))

    def _crash_hooks(self) -> list[Any]:
        return self.flow.on_cancellation if self._cancelled else self.flow.on_crashed

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        flow_token = flow_run_context.set(self.context)
        task_token = task_run_context.set(None)
        related_token = ambient_related.set(self.context.related)
        span_token = attach_span(self.span) if self.span is not None else None
        try:
            if self.flow.log_prints:
                with capture_prints(self.context.logger):
                    yield
            elif printing_to_log():
                with capture_prints(None):
                    yield
            else:
                yield
        finally:
            if span_token is not None:
                detach_span(span_token)
            ambient_related.reset(related_token)
            task_run_context.reset(task_token)
            flow_run_context.reset(flow_token)

    def _wait_submitted(self) -> None:
        submitted = self.context.submitted
        index = 0
        while index < len(submitted):  # task runs may submit more while we wait
            submitted[index].wait()
            index += 1

    async def _await_submitted(self) -> None:
        submitted = self.context.submitted
        index = 0
        while index < len(submitted):
            await submitted[index].wait_async()
            index += 1

    # --- drivers -----------------------------------------------------------------------------

    def run_sync(self) -> State[Any]:
        """Run to a final state. Re-raises a crash (after recording it)."""
        publisher = self.context.publisher
        try:
            state = self._run_sync()
        except BaseException as error:
            crashed = self._crash(error)
            run_hooks(self._crash_hooks(), self.flow, self.tracker.snapshot, crashed)
            if self.top_level:
                settle(publisher)
            raise
        self.context.shutdown()
        run_hooks(self._hooks(state), self.flow, self.tracker.snapshot, state)
        if self.top_level:
            settle(publisher)
        return state

    def _run_sync(self) -> State[Any]:
        call = self._validated()
        if isinstance(call, State):
            return call
        args, kwargs = call
        timeout_s = self.flow.timeout_seconds
        while True:
            self._start_attempt()
            with self._running():
                try:
                    value = call_with_timeout(self.flow.fn, args, kwargs, timeout_s)
                    self._wait_submitted()
                    state = outcome_state(value)
                except Exception as error:
                    self._wait_submitted()
                    state = failure_state(error)
            delay = self._retry(state)
            if delay is None:
                return self._set_final(state)
            self.context.clock.sleep(delay)

    async def run_async(self) -> State[Any]:
        """Run to a final state on this event loop. Re-raises a crash (after recording it)."""
        publisher = self.context.publisher
        try:
            state = await self._run_async()
        except BaseException as error:
            crashed = self._crash(error)
            await arun_hooks(self._crash_hooks(), self.flow, self.tracker.snapshot, crashed)
            if self.top_level:
                await asettle(publisher)
            raise
        self.context.shutdown()
        await arun_hooks(self._hooks(state), self.flow, self.tracker.snapshot, state)
        if self.top_level:
            await asettle(publisher)
        return state

    async def _run_async(self) -> State[Any]:
        call = self._validated()
        if isinstance(call, State):
            return call
        args, kwargs = call
        timeout_s = self.flow.timeout_seconds
        while True:
            self._start_attempt()
            with self._running():
                try:
                    value = await acall_with_timeout(self.flow.fn(*args, **kwargs), timeout_s)
                    await self._await_submitted()
                    state = outcome_state(value)
                except Exception as error:
                    await self._await_submitted()
                    state = failure_state(error)
            delay = self._retry(state)
            if delay is None:
                return self._set_final(state)
            await self.context.clock.asleep(delay)


def _inherited_traceparent(seed: RunSeed | None, parent: FlowRunContext | None) -> str | None:
    """The trace context of an untraced flow run: its request's, its parent run's, or the
    one current where it was called."""
    if seed is not None:
        return seed.traceparent
    if parent is not None:
        return parent.run.traceparent
    return current_traceparent()
