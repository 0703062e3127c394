"""The spans of flow and task runs (made only when a tracer provider is set).

A flow run's span is ``proctor.flow-run <flow name>``, a child of the span that requested the
run (a deployment run: the ``traceparent`` of its run request) or else of the span current
where the flow was called. A task run's span is ``proctor.task-run <task name>``, a child of
the span current where it was called or submitted: its flow run's, or an enclosing task
run's. Each span is current while the run's own code runs, and ends with the run's final
state; its ``traceparent`` rides on every state event of the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from opentelemetry.trace import Span, Tracer

from proctor.core.tracing import Attributes, mark_error, parent_context
from proctor.runtime.run_events import FlowRunSnapshot, StateType, TaskRunSnapshot

if TYPE_CHECKING:
    from proctor.runtime.engine.states import State

__all__ = (
    "DEPLOYMENT_ID",
    "DEPLOYMENT_NAME",
    "FLOW_NAME",
    "FLOW_RUN_ID",
    "FLOW_RUN_NAME",
    "WORK_POOL",
    "deployment_run_attributes",
    "end_run_span",
    "start_flow_run_span",
    "start_task_run_span",
)

FLOW_NAME: Final = "proctor.flow.name"
FLOW_RUN_ID: Final = "proctor.flow_run.id"
FLOW_RUN_NAME: Final = "proctor.flow_run.name"
DEPLOYMENT_ID: Final = "proctor.deployment.id"
DEPLOYMENT_NAME: Final = "proctor.deployment.name"
WORK_POOL: Final = "proctor.work_pool.name"
_FAILED: Final = frozenset({StateType.FAILED, StateType.CRASHED})


def deployment_run_attributes(run: FlowRunSnapshot) -> dict[str, Any]:
    """What identifies a flow run (and its deployment and pool, if any) on a span."""
    attributes: dict[str, Any] = {
        FLOW_NAME: run.flow_name,
        FLOW_RUN_ID: str(run.id),
        FLOW_RUN_NAME: run.name,
    }
    if run.deployment_id is not None:
        attributes[DEPLOYMENT_ID] = str(run.deployment_id)
    if run.deployment_name is not None:
        attributes[DEPLOYMENT_NAME] = run.deployment_name
    if run.work_pool is not None:
        attributes[WORK_POOL] = run.work_pool
    return attributes


def start_flow_run_span(tracer: Tracer, run: FlowRunSnapshot, parent: str | None) -> Span:
    """The span of flow run ``run`` (``parent``: the traceparent of its run request)."""
    attributes = deployment_run_attributes(run)
    if run.parent_flow_run_id is not None:
        attributes["proctor.flow_run.parent_id"] = str(run.parent_flow_run_id)
    if run.retry_of is not None:
        attributes["proctor.flow_run.retry_of"] = str(run.retry_of)
    return tracer.start_span(
        f"proctor.flow-run {run.flow_name}", parent_context(parent), attributes=attributes
    )


def start_task_run_span(tracer: Tracer, run: TaskRunSnapshot, task_name: str) -> Span:
    """The span of task run ``run``, a child of the span current here."""
    attributes: Attributes = {
        "proctor.task.key": run.task_key,
        "proctor.task_run.id": str(run.id),
        "proctor.task_run.name": run.name,
    }
    if run.flow_run_id is not None:
        attributes = {**attributes, FLOW_RUN_ID: str(run.flow_run_id)}
    return tracer.start_span(f"proctor.task-run {task_name}", attributes=attributes)


def end_run_span(span: Span, prefix: str, state: State[Any], run_count: int) -> None:
    """End a run's span with its final ``state``: an error status when it failed or crashed,
    with the exception's type (its message stays in the run's events, not in traces).
    ``prefix``: ``proctor.flow_run`` or ``proctor.task_run``."""
    span.set_attributes({f"{prefix}.state": state.name, f"{prefix}.run_count": run_count})
    if state.type in _FAILED:
        error = state.error
        mark_error(span, state.name, type(error).__qualname__ if error is not None else None)
    span.end()
