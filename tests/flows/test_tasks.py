"""Tasks: retries and their delays, timeouts, caching, hooks, concurrency and the task graph."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest

from proctor import (
    FakeClock,
    MissingContextError,
    RunTimeoutError,
    State,
    UpstreamFailedError,
    exponential_backoff,
    flow,
    task,
    unmapped,
    use_clock,
)
from proctor.cache_policies import INPUTS
from proctor.events.emit import BusThread
from proctor.runtime.run_events import TaskRunSnapshot
from tests.flows.conftest import changes, memory_events, names_of


def task_runs(thread: BusThread) -> dict[str, TaskRunSnapshot]:
    """The last snapshot of each task run, by run name."""
    runs: dict[str, TaskRunSnapshot] = {}
    for change in changes(memory_events(thread)):
        if isinstance(change.run, TaskRunSnapshot):
            runs[change.run.name] = change.run
    return runs


def test_retries_wait_the_per_attempt_delays_on_the_clock(memory_publisher: BusThread) -> None:
    attempts: list[int] = []

    @task(retries=3, retry_delay_seconds=[1, 10, 100])
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 4:
            raise ConnectionError("try again")
        return "ok"

    @flow
    def uses_flaky() -> str:
        return flaky()

    with use_clock(FakeClock()) as clock:
        assert uses_flaky() == "ok"
    assert clock.sleeps == [1, 10, 100]
    run = task_runs(memory_publisher)["flaky-0"]
    assert run.run_count == 4


def test_a_single_delay_and_jitter_stay_within_the_factor(memory_publisher: BusThread) -> None:
    @task(retries=5, retry_delay_seconds=10, retry_jitter_factor=0.5)
    def always_fails() -> None:
        raise ValueError("never")

    with use_clock(FakeClock(seed=7)) as clock:
        state = always_fails(return_state=True)
    assert state.is_failed()
    assert len(clock.sleeps) == 5
    assert all(5 <= s <= 15 for s in clock.sleeps)
    assert len(set(clock.sleeps)) > 1


def test_retry_condition_can_refuse_a_retry(memory_publisher: BusThread) -> None:
    calls: list[int] = []

    def only_connection_errors(task: Any, run: TaskRunSnapshot, state: State[Any]) -> bool:
        return isinstance(state.error, ConnectionError)

    @task(retries=3, retry_condition_fn=only_connection_errors)
    def picky() -> None:
        calls.append(1)
        raise ValueError("not worth retrying")

    with use_clock(FakeClock()):
        assert picky(return_state=True).is_failed()
    assert len(calls) == 1


def test_a_timed_out_task_fails_as_timed_out(memory_publisher: BusThread) -> None:
    never = threading.Event()

    @task(timeout_seconds=0.05)
    def stuck() -> None:
        while not never.wait(0.005):
            pass

    @flow
    def waits() -> State[None]:
        return stuck(return_state=True)

    state = waits(return_state=True)  # a flow returning a failed state fails with it
    assert state.is_failed()
    assert state.name == "TimedOut"
    assert isinstance(state.error, RunTimeoutError)
    assert (
        names_of(memory_events(memory_publisher), task_runs(memory_publisher)["stuck-0"].id)[-1]
        == "TimedOut"
    )


async def test_a_timed_out_async_flow_fails_as_timed_out(memory_publisher: BusThread) -> None:
    @flow(timeout_seconds=0.05)
    async def forever() -> None:
        await asyncio.Event().wait()

    state = await forever(return_state=True)
    assert state.is_failed()
    assert state.name == "TimedOut"
    with pytest.raises(RunTimeoutError, match=r"timeout of 0\.05"):
        await forever()


def test_a_cached_result_is_reused_without_calling_the_function(
    memory_publisher: BusThread,
) -> None:
    calls: list[int] = []

    @task(cache_policy=INPUTS, cache_expiration=timedelta(minutes=5))
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 10

    @flow
    def twice() -> list[str]:
        states = [expensive(1, return_state=True), expensive(1, return_state=True)]
        assert [s.result() for s in states] == [10, 10]
        return [s.name for s in states]

    clock = FakeClock()
    with use_clock(clock):
        assert twice() == ["Completed", "Cached"]
        assert calls == [1]
        clock.advance(301)  # past the expiration: computed again
        assert twice() == ["Completed", "Cached"]
    assert calls == [1, 1]
    cached = [c for c in changes(memory_events(memory_publisher)) if c.state.name == "Cached"]
    assert len(cached) == 2
    assert cached[0].previous_state is not None
    assert cached[0].previous_state.name == "Pending"


def test_cache_key_fn_and_refresh_cache(memory_publisher: BusThread) -> None:
    calls: list[str] = []

    def by_name(context: Any, parameters: dict[str, Any]) -> str:
        return f"greeting-{parameters['name']}"

    @task(cache_key_fn=by_name)
    def greet(name: str, punctuation: str) -> str:
        calls.append(name)
        return name + punctuation

    assert greet("ada", "!") == "ada!"
    assert greet("ada", "?") == "ada!"  # same key: cached
    assert greet.with_options(refresh_cache=True)("ada", "?") == "ada?"
    assert calls == ["ada", "ada"]


def test_hooks_are_called_exactly_once(memory_publisher: BusThread) -> None:
    seen: list[tuple[str, str]] = []

    def record(kind: str) -> Any:
        def hook(owner: Any, run: Any, state: State[Any]) -> None:
            seen.append((kind, state.name))

        return hook

    @task(retries=2, on_completion=[record("task-done")], on_failure=[record("task-failed")])
    def eventually(attempts: list[int]) -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return len(attempts)

    @task(on_failure=[record("bad-failed")], on_completion=[record("bad-done")])
    def bad() -> None:
        raise RuntimeError("bad")

    @flow(on_completion=[record("flow-done")], on_failure=[record("flow-failed")])
    def hooked() -> int:
        bad(return_state=True)
        return eventually([])

    with use_clock(FakeClock()):
        assert hooked() == 3
    assert sorted(seen) == sorted(
        [("bad-failed", "Failed"), ("task-done", "Completed"), ("flow-done", "Completed")]
    )


def test_map_over_a_hundred_inputs(memory_publisher: BusThread) -> None:
    @task
    def scale(x: int, factor: int) -> int:
        return x * factor

    @flow
    def scaled() -> list[int]:
        return scale.map(range(100), unmapped(3)).result()

    assert scaled() == [3 * x for x in range(100)]
    runs = task_runs(memory_publisher)
    assert len(runs) == 100
    assert {r.dynamic_key for r in runs.values()} == {str(i) for i in range(100)}
    by_run: dict[Any, list[str]] = {}
    for change in changes(memory_events(memory_publisher)):
        by_run.setdefault(change.run.id, []).append(change.state.name)
    for run in runs.values():
        assert by_run[run.id] == ["Pending", "Running", "Completed"]


def test_a_diamond_dependency_records_the_right_edges(memory_publisher: BusThread) -> None:
    @task
    def source() -> int:
        return 1

    @task
    def left(x: int) -> int:
        return x + 1

    @task
    def right(x: int) -> int:
        return x + 2

    @task
    def join(values: list[int]) -> int:
        return sum(values)

    @task
    def last() -> str:
        return "after"

    @flow
    def diamond() -> tuple[int, str]:
        top = source.submit()
        a, b = left.submit(top), right.submit(top)
        bottom = join.submit([a, b])
        return bottom.result(), last.submit(wait_for=[bottom]).result()

    assert diamond() == (5, "after")
    runs = task_runs(memory_publisher)
    top, a, b = runs["source-0"], runs["left-0"], runs["right-0"]
    assert top.task_inputs == {}
    assert a.task_inputs == {"x": [top.id]}
    assert b.task_inputs == {"x": [top.id]}
    assert runs["join-0"].task_inputs == {"values": [a.id, b.id]}
    assert runs["last-0"].wait_for == [runs["join-0"].id]
    assert runs["last-0"].upstream_ids == {runs["join-0"].id}
    flow_run_id = changes(memory_events(memory_publisher))[0].run.id
    assert {r.flow_run_id for r in runs.values()} == {flow_run_id}


def test_a_failed_upstream_fails_its_downstream_without_running_it(
    memory_publisher: BusThread,
) -> None:
    ran: list[str] = []

    @task
    def breaks() -> int:
        raise RuntimeError("upstream broke")

    @task
    def after(x: int) -> int:
        ran.append("after")
        return x

    @flow
    def chain() -> int:
        return after.submit(breaks.submit()).result()

    with pytest.raises(UpstreamFailedError, match="breaks-0"):
        chain()
    assert ran == []


async def test_async_tasks_run_concurrently_on_the_loop(memory_publisher: BusThread) -> None:
    both_started = asyncio.Event()
    started: list[int] = []

    @task
    async def meet(i: int) -> int:
        started.append(i)
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), 5)  # only if both run at once
        return i

    @flow
    async def together() -> list[int]:
        futures = [meet.submit(1), meet.submit(2)]
        return [await f for f in futures]

    assert await together() == [1, 2]


def test_sync_tasks_run_concurrently_on_threads(memory_publisher: BusThread) -> None:
    barrier = threading.Barrier(3, timeout=5)

    @task
    def meet() -> str:
        barrier.wait()  # only passes if three run at once
        return threading.current_thread().name

    @flow
    def together() -> set[str]:
        return {f.result() for f in [meet.submit(), meet.submit(), meet.submit()]}

    assert len(together()) == 3


def test_submit_outside_a_flow_is_a_clear_error() -> None:
    @task
    def lonely() -> int:
        return 1

    assert lonely() == 1  # a direct call runs as a task run of its own
    with pytest.raises(MissingContextError, match="inside a flow"):
        lonely.submit()


def test_exponential_backoff_delays(memory_publisher: BusThread) -> None:
    @task(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2))
    def failing() -> None:
        raise OSError("down")

    with use_clock(FakeClock()) as clock:
        assert failing(return_state=True).is_failed()
    assert clock.sleeps == [2, 4, 8]
