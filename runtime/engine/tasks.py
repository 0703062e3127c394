"""``@task``: a function that runs as an observable, retryable, cacheable task run."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Generic, Literal, ParamSpec, TypedDict, TypeVar, Unpack, overload

from proctor.core.errors import ConfigurationError, MissingContextError
from proctor.events.emit import current_publisher
from proctor.runtime.engine.caching import NO_CACHE, CachePolicy, CacheStore
from proctor.runtime.engine.context import TaskRunContext, flow_run_context
from proctor.runtime.engine.execution import RetryDelay, check_retry_options
from proctor.runtime.engine.futures import (
    TaskRunFuture,
    TaskRunFutureList,
    flatten_futures,
    unmapped,
)
from proctor.runtime.engine.parameters import Signature
from proctor.runtime.engine.publishing import asettle, run_publisher, settle
from proctor.runtime.engine.states import State
from proctor.runtime.engine.task_engine import TaskRun
from proctor.runtime.run_events import TaskRunSnapshot

__all__ = ("Task", "TaskHook", "TaskOptions", "task")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

TaskHook = Callable[["Task[Any, Any]", TaskRunSnapshot, State[Any]], object]
"""``hook(task, task_run, state)``, called once when the run ends (may be async)."""


class TaskOptions(TypedDict, total=False):
    """Options of ``@task(...)`` and ``Task.with_options(...)``."""

    name: str
    description: str | None
    version: str | None
    tags: Iterable[str]
    retries: int
    retry_delay_seconds: RetryDelay
    retry_jitter_factor: float | None
    retry_condition_fn: Callable[[Task[Any, Any], TaskRunSnapshot, State[Any]], bool] | None
    timeout_seconds: float | None
    log_prints: bool | None
    cache_key_fn: Callable[[TaskRunContext, dict[str, Any]], str | None] | None
    cache_expiration: timedelta | None
    cache_policy: CachePolicy
    cache_store: CacheStore | None
    refresh_cache: bool
    task_run_name: str | Callable[[], str] | None
    on_completion: Sequence[TaskHook]
    on_failure: Sequence[TaskHook]
    on_cancellation: Sequence[TaskHook]
    on_crashed: Sequence[TaskHook]


class Task(Generic[P, R]):
    """A decorated task function. Call it, ``.submit()`` it, or ``.map()`` it inside a flow."""

    def __init__(self, fn: Callable[P, R], **options: Unpack[TaskOptions]) -> None:
        if not callable(fn):
            raise ConfigurationError(f"@task decorates a function, not {fn!r}")
        self.fn = fn
        self._options = options
        self.name = str(options.get("name") or getattr(fn, "__name__", "task"))
        self.description = options.get("description") or inspect.getdoc(fn)
        self.version = options.get("version")
        self.tags: tuple[str, ...] = tuple(options.get("tags", ()))
        self.plain_tags = all(type(tag) is str for tag in self.tags)
        """Whether the tags are plain strings (a task run's snapshot then needs no checks)."""
        self.retries: int = options.get("retries", 0)
        self.retry_delay_seconds: RetryDelay = options.get("retry_delay_seconds")
        self.retry_jitter_factor = options.get("retry_jitter_factor")
        self.retry_condition_fn = options.get("retry_condition_fn")
        self.timeout_seconds = options.get("timeout_seconds")
        self.log_prints = options.get("log_prints")
        self.cache_key_fn = options.get("cache_key_fn")
        self.cache_expiration = options.get("cache_expiration")
        self.cache_policy: CachePolicy = options.get("cache_policy", NO_CACHE)
        self.cache_store = options.get("cache_store")
        self.refresh_cache: bool = options.get("refresh_cache", False)
        self.task_run_name = options.get("task_run_name")
        self.on_completion = list(options.get("on_completion", ()))
        self.on_failure = list(options.get("on_failure", ()))
        self.on_cancellation = list(options.get("on_cancellation", ()))
        self.on_crashed = list(options.get("on_crashed", ()))
        check_retry_options(f"task {self.name!r}", self.retries, self.timeout_seconds,
                             self.retry_jitter_factor)  # fmt: skip
        self.task_key = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', self.name)}"
        self.is_async = inspect.iscoroutinefunction(fn)
        self.signature = Signature(fn)
        self.caches = self.cache_key_fn is not None or bool(self.cache_policy.parts)
        functools.update_wrapper(self, fn)

    def with_options(self, **changes: Unpack[TaskOptions]) -> Task[P, R]:
        """A copy of this task with some options changed."""
        merged = TaskOptions(**self._options)
        merged.update(changes)
        return Task(self.fn, **merged)

    def run_name(self, parameters: Mapping[str, Any], dynamic_key: str) -> str:
        template = self.task_run_name
        if template is None:
            return f"{self.name}-{dynamic_key}"
        return str(template() if callable(template) else template.format(**parameters))

    def __repr__(self) -> str:
        return f"Task({self.name!r})"

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    @overload
    def __call__(  # type: ignore[valid-type]
        self: Task[P, Coroutine[Any, Any, T]],
        *args: P.args,
        return_state: Literal[True],
        **kwargs: P.kwargs,
    ) -> Coroutine[Any, Any, State[T]]: ...

    @overload
    def __call__(  # type: ignore[valid-type]
        self: Task[P, T], *args: P.args, return_state: Literal[True], **kwargs: P.kwargs
    ) -> State[T]: ...

    def __call__(  # type: ignore[misc]
        self,
        *args: Any,
        return_state: bool = False,
        wait_for: Iterable[TaskRunFuture[Any] | TaskRunFutureList[Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the task now; its value (or final ``State`` with ``return_state=True``)."""
        waits = flatten_futures(wait_for)
        if self.is_async:
            return self._call_async(args, kwargs, return_state, waits)
        flow_run = flow_run_context.get()
        if flow_run is not None:
            state = TaskRun(self, args, kwargs, waits, flow_run, flow_run.publisher).run_sync()
            return state if return_state else state.result()
        publisher = run_publisher(current_publisher())
        try:
            state = TaskRun(self, args, kwargs, waits, None, publisher).run_sync()
        finally:
            settle(publisher)
        return state if return_state else state.result()

    async def _call_async(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        return_state: bool,
        wait_for: list[TaskRunFuture[Any]] | None,
    ) -> Any:
        flow_run = flow_run_context.get()
        publisher = flow_run.publisher if flow_run else run_publisher(current_publisher())
        try:
            state = await TaskRun(self, args, kwargs, wait_for, flow_run, publisher).run_async()
        finally:
            if flow_run is None:
                await asettle(publisher)
        return state if return_state else state.result()

    @overload
    def submit(
        self: Task[P, Coroutine[Any, Any, T]],
        *args: Any,
        wait_for: Iterable[TaskRunFuture[Any] | TaskRunFutureList[Any]] | None = None,
        **kwargs: Any,
    ) -> TaskRunFuture[T]: ...

    @overload
    def submit(
        self: Task[P, T],
        *args: Any,
        wait_for: Iterable[TaskRunFuture[Any] | TaskRunFutureList[Any]] | None = None,
        **kwargs: Any,
    ) -> TaskRunFuture[T]: ...

    def submit(
        self,
        *args: Any,
        wait_for: Iterable[TaskRunFuture[Any] | TaskRunFutureList[Any]] | None = None,
        **kwargs: Any,
    ) -> TaskRunFuture[Any]:
        """Start the task run concurrently; arguments may be futures of other task runs.

        Sync tasks run on the flow run's thread pool; async tasks on the flow's event loop.
        """
        flow_run = flow_run_context.get()
        if flow_run is None:
            raise MissingContextError(
                f"task {self.name!r}: .submit() and .map() run inside a flow: call them from a "
                "@flow function (or call the task directly)"
            )
        waits = flatten_futures(wait_for)
        run = TaskRun(self, args, kwargs, waits, flow_run, flow_run.publisher)
        loop = _running_loop()
        future: TaskRunFuture[Any] = TaskRunFuture(run.tracker, loop if self.is_async else None)
        future._run = run
        if self.is_async and loop is not None:
            future._work = loop.create_task(_finish_async(run, future))
        else:
            target = _finish_sync_async if self.is_async else _finish_sync
            context = contextvars.copy_context()
            future._work = flow_run.executor().submit(context.run, target, run, future)
        flow_run.submitted.append(future)
        return future

    @overload
    def map(
        self: Task[P, Coroutine[Any, Any, T]],
        *args: Any,
        wait_for: Iterable[TaskRunFuture[Any] | TaskRunFutureList[Any]] | None = None,
        **kwargs: Any,
    ) -> TaskRunFutureList[T]: ...

    @overload
    def map(
        self: Task[P, T],
        *args: Any,
        wait_for: Iterable[TaskRunFuture[Any] | TaskRunFutureList[Any]] | None = None,
        **kwargs: Any,
    ) -> TaskRunFutureList[T]: ...

    def map(
        self,
        *args: Any,
        wait_for: Iterable[TaskRunFuture[Any] | TaskRunFutureList[Any]] | None = None,
        **kwargs: Any,
    ) -> TaskRunFutureList[Any]:
        """Submit one task run per item of the iterable arguments (``unmapped(x)``: as is)."""
        bound = self.signature.signature.bind(*args, **kwargs).arguments
        mapped: dict[str, list[Any]] = {}
        static: dict[str, Any] = {}
        for name, value in bound.items():
            if isinstance(value, TaskRunFuture):
                value = value.result()
            if isinstance(value, unmapped):
                static[name] = value.value
            elif isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
                mapped[name] = list(value)
            else:
                static[name] = value
        if not mapped:
            raise ConfigurationError(
                f"task {self.name!r}: .map() needs at least one iterable argument"
            )
        lengths = {name: len(values) for name, values in mapped.items()}
        if len(set(lengths.values())) > 1:
            raise ConfigurationError(
                f"task {self.name!r}: .map() arguments have different lengths: {lengths}"
            )
        waits = flatten_futures(wait_for)
        futures: TaskRunFutureList[Any] = TaskRunFutureList()
        for index in range(next(iter(lengths.values()))):
            values = {**static, **{name: items[index] for name, items in mapped.items()}}
            call_args, call_kwargs = self.signature.call_args(values)
            futures.append(self.submit(*call_args, wait_for=waits, **call_kwargs))
        return futures


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _finish_sync(run: TaskRun, future: TaskRunFuture[Any]) -> None:
    try:
        state = run.run_sync()
    except BaseException:
        state = run.outcome()
    future._finish(state)


def _finish_sync_async(run: TaskRun, future: TaskRunFuture[Any]) -> None:
    try:
        state = asyncio.run(run.run_async())
    except BaseException:
        state = run.outcome()
    future._finish(state)


async def _finish_async(run: TaskRun, future: TaskRunFuture[Any]) -> None:
    try:
        state = await run.run_async()
    except BaseException:
        state = run.outcome()
        future._finish(state)
        raise
    future._finish(state)


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(**options: Unpack[TaskOptions]) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None, /, **options: Unpack[TaskOptions]
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Make a function a task: ``@task`` or ``@task(retries=2, cache_policy=INPUTS, ...)``."""
    if fn is not None:
        return Task(fn, **options)

    def decorate(function: Callable[P, R]) -> Task[P, R]:
        return Task(function, **options)

    return decorate
