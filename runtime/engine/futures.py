"""Futures of submitted task runs, and resolving them when they are passed as arguments.

A future (or a list of them) passed to a task is replaced by its result before the task runs,
and recorded as an upstream edge of the task graph (``TaskRunSnapshot.task_inputs``); futures
in ``wait_for`` are waited on without passing their result (``TaskRunSnapshot.wait_for``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, Generic, TypeVar
from uuid import UUID

from proctor.core.errors import MissingContextError, UpstreamFailedError
from proctor.runtime.engine.runs import RunTracker
from proctor.runtime.engine.states import State
from proctor.runtime.run_events import TaskRunSnapshot

__all__ = (
    "TaskRunFuture",
    "TaskRunFutureList",
    "aresolve_inputs",
    "collect_upstream",
    "resolve_inputs",
    "unmapped",
)

R = TypeVar("R")
T = TypeVar("T")


class TaskRunFuture(Generic[R]):
    """The pending outcome of a submitted task run: ``.result()``, ``.wait()``, ``.state``."""

    __slots__ = ("_future", "_loop", "_run", "_tracker", "_work")

    def __init__(
        self, tracker: RunTracker[TaskRunSnapshot], loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self._tracker = tracker
        self._loop = loop
        self._future: concurrent.futures.Future[State[R]] = concurrent.futures.Future()
        self._run: Any = None  # the TaskRun, set by submit
        self._work: concurrent.futures.Future[None] | asyncio.Task[None] | None = None

    @property
    def task_run_id(self) -> UUID:
        return self._tracker.id

    @property
    def state(self) -> State[R]:
        """The final state once done; the current state before."""
        if self._future.done():
            return self._future.result()
        current = self._tracker.state
        assert current is not None
        return State(current)

    def done(self) -> bool:
        return self._future.done()

    def _check_wait(self) -> None:
        if self._future.done() or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is self._loop:
            raise MissingContextError(
                "this task run runs on this event loop: `await future` instead of blocking on "
                "future.result() or future.wait()"
            )

    def wait(self, timeout: float | None = None) -> None:
        """Block until the task run ends (or ``timeout`` seconds pass)."""
        self._check_wait()
        concurrent.futures.wait([self._future], timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        """The task's value; re-raises its exception if it failed."""
        self._check_wait()
        return self._future.result(timeout).result(raise_on_failure)

    def add_done_callback(self, fn: Callable[[TaskRunFuture[R]], object]) -> None:
        self._future.add_done_callback(lambda _: fn(self))

    async def wait_async(self) -> State[R]:
        return await asyncio.wrap_future(self._future)

    def __await__(self) -> Generator[Any, None, R]:
        state = yield from self.wait_async().__await__()
        return state.result()

    def _finish(self, state: State[R]) -> None:
        self._future.set_result(state)

    def __repr__(self) -> str:
        return f"TaskRunFuture({self._tracker.snapshot.name!r}, {self.state!r})"


class TaskRunFutureList(list[TaskRunFuture[R]]):
    """The futures of a ``.map()``: ``.wait()`` for all, ``.result()`` for all values."""

    def wait(self, timeout: float | None = None) -> None:
        for future in self:
            future.wait(timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[R]:
        return [future.result(timeout, raise_on_failure) for future in self]


# Collections searched for futures (exact types: a user's list subclass is left alone).
_CONTAINERS = (list, tuple, set, frozenset, dict, TaskRunFutureList)


class unmapped(Generic[T]):
    """Pass ``value`` to every call of a ``.map()`` instead of iterating it."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


def _walk(value: Any, found: list[TaskRunFuture[Any]]) -> None:
    if isinstance(value, TaskRunFuture):
        found.append(value)
    elif type(value) in _CONTAINERS:
        for item in value.values() if isinstance(value, dict) else value:
            _walk(item, found)


def flatten_futures(items: Iterable[Any] | None) -> list[TaskRunFuture[Any]] | None:
    """``wait_for`` as a flat list of futures: a ``.map()`` result stands for all of its own."""
    if items is None:
        return None
    found: list[TaskRunFuture[Any]] = []
    _walk(list(items), found)
    return found


def collect_upstream(parameters: Mapping[str, Any]) -> dict[str, list[TaskRunFuture[Any]]]:
    """The futures inside each parameter (looking into lists, tuples, sets and dicts)."""
    upstream: dict[str, list[TaskRunFuture[Any]]] = {}
    for name, value in parameters.items():
        if isinstance(value, TaskRunFuture) or type(value) in _CONTAINERS:
            found: list[TaskRunFuture[Any]] = []
            _walk(value, found)
            if found:
                upstream[name] = found
    return upstream


def _value_of(state: State[Any], future: TaskRunFuture[Any]) -> Any:
    if not state.is_completed():
        raise UpstreamFailedError(
            f"upstream task run {future._tracker.snapshot.name!r} ({future.task_run_id}) did "
            f"not complete: it ended {state.name}"
            + (f" ({state.message})" if state.message else "")
        )
    return state.data


def _replace(value: Any, states: Mapping[int, tuple[State[Any], TaskRunFuture[Any]]]) -> Any:
    if isinstance(value, TaskRunFuture):
        state, future = states[id(value)]
        return _value_of(state, future)
    kind = type(value)
    if kind is dict:
        return {key: _replace(item, states) for key, item in value.items()}
    if kind is TaskRunFutureList:  # the task receives the values, as a plain list
        return [_replace(item, states) for item in value]
    if kind in _CONTAINERS:
        return kind(_replace(item, states) for item in value)
    return value


def _check_waited(wait_for: Iterable[TaskRunFuture[Any]], states: list[State[Any]]) -> None:
    for future, state in zip(wait_for, states, strict=True):
        _value_of(state, future)


def resolve_inputs(
    parameters: dict[str, Any],
    upstream: Mapping[str, list[TaskRunFuture[Any]]],
    wait_for: list[TaskRunFuture[Any]],
) -> dict[str, Any]:
    """Wait for upstream futures; parameters with each future replaced by its value.

    ``UpstreamFailedError`` if one of them (or of ``wait_for``) did not complete.
    """
    if wait_for:
        _check_waited(wait_for, [f._future.result() for f in wait_for])
    if not upstream:
        return parameters
    states = {id(f): (f._future.result(), f) for found in upstream.values() for f in found}
    return {
        name: _replace(value, states) if name in upstream else value
        for name, value in parameters.items()
    }


async def aresolve_inputs(
    parameters: dict[str, Any],
    upstream: Mapping[str, list[TaskRunFuture[Any]]],
    wait_for: list[TaskRunFuture[Any]],
) -> dict[str, Any]:
    """``resolve_inputs`` for async task runs: awaits instead of blocking the loop."""
    if wait_for:
        _check_waited(wait_for, [await f.wait_async() for f in wait_for])
    if not upstream:
        return parameters
    states = {id(f): (await f.wait_async(), f) for found in upstream.values() for f in found}
    return {
        name: _replace(value, states) if name in upstream else value
        for name, value in parameters.items()
    }
