"""The flow engine: ``@flow`` and ``@task``, states, futures, run logs, caching, the clock.

Users import these from ``proctor``; this package is the implementation.
"""

from proctor.runtime.engine.caching import DEFAULT, INPUTS, NO_CACHE, TASK_SOURCE, CachePolicy
from proctor.runtime.engine.clock import Clock, FakeClock, SystemClock, current_clock, use_clock
from proctor.runtime.engine.context import (
    FlowRunContext,
    TaskRunContext,
    get_run_context,
    get_run_logger,
)
from proctor.runtime.engine.execution import exponential_backoff
from proctor.runtime.engine.flows import Flow, flow
from proctor.runtime.engine.futures import TaskRunFuture, TaskRunFutureList, unmapped
from proctor.runtime.engine.logs import RunLog
from proctor.runtime.engine.states import (
    AwaitingRetry,
    Cached,
    Cancelled,
    Cancelling,
    Completed,
    Crashed,
    Failed,
    Late,
    Paused,
    Pending,
    Retrying,
    Running,
    Scheduled,
    State,
    StateType,
    TimedOut,
    validate_transition,
)
from proctor.runtime.engine.tasks import Task, task

__all__ = (
    "DEFAULT",
    "INPUTS",
    "NO_CACHE",
    "TASK_SOURCE",
    "AwaitingRetry",
    "CachePolicy",
    "Cached",
    "Cancelled",
    "Cancelling",
    "Clock",
    "Completed",
    "Crashed",
    "Failed",
    "FakeClock",
    "Flow",
    "FlowRunContext",
    "Late",
    "Paused",
    "Pending",
    "Retrying",
    "RunLog",
    "Running",
    "Scheduled",
    "State",
    "StateType",
    "SystemClock",
    "Task",
    "TaskRunContext",
    "TaskRunFuture",
    "TaskRunFutureList",
    "TimedOut",
    "current_clock",
    "exponential_backoff",
    "flow",
    "get_run_context",
    "get_run_logger",
    "task",
    "unmapped",
    "use_clock",
    "validate_transition",
)
