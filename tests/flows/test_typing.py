"""The decorators keep signatures and return types (checked by mypy on this file)."""

from __future__ import annotations

from typing import assert_type

from proctor import Flow, State, Task, TaskRunFuture, TaskRunFutureList, flow, task


@task
def add(x: int, y: int) -> int:
    return x + y


@task(retries=1)
async def fetch(url: str) -> bytes:
    return url.encode()


@flow
def sync_flow(n: int) -> str:
    assert_type(add(1, 2), int)
    assert_type(add.submit(1, 2), TaskRunFuture[int])
    assert_type(add.submit(1, 2).result(), int)
    assert_type(add.map([1, 2], 3), TaskRunFutureList[int])
    assert_type(fetch.submit("u"), TaskRunFuture[bytes])
    assert_type(add(1, 2, return_state=True), State[int])
    return str(n)


@flow(name="async-flow")
async def async_flow(n: int) -> int:
    assert_type(await fetch("u"), bytes)
    assert_type(await fetch("u", return_state=True), State[bytes])
    return n


def test_decorated_functions_keep_their_types() -> None:
    typed_task: Task[[int, int], int] = add
    typed_flow: Flow[[int], str] = sync_flow
    assert typed_task is add
    assert typed_flow is sync_flow
    assert_type(sync_flow(3), str)
    assert_type(sync_flow(3, return_state=True), State[str])
    assert sync_flow(3) == "3"
    assert sync_flow.name == "sync-flow"
    assert sync_flow.fn.__name__ == "sync_flow"
    assert async_flow.is_async
