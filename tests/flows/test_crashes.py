"""Base exceptions (Ctrl-C, sys.exit, outside cancellation) end runs as Crashed, not Failed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from proctor import State, flow, task
from proctor.events.emit import BusThread
from tests.flows.conftest import changes, memory_events


def final_names(thread: BusThread) -> dict[str, str]:
    """Last state name of each run, by run name."""
    last: dict[str, str] = {}
    for change in changes(memory_events(thread)):
        last[change.run.name] = change.state.name
    return last


def test_keyboard_interrupt_crashes_the_task_and_flow_then_reraises(
    memory_publisher: BusThread,
) -> None:
    crashed_hooks: list[str] = []

    def on_crashed(owner: Any, run: Any, state: State[Any]) -> None:
        crashed_hooks.append(state.name)

    @task(on_crashed=[on_crashed], on_failure=[on_crashed])
    def interrupted() -> None:
        raise KeyboardInterrupt

    @flow(flow_run_name="ctrl-c", on_crashed=[on_crashed], retries=2)
    def main() -> None:
        interrupted()

    with pytest.raises(KeyboardInterrupt):
        main()
    names = final_names(memory_publisher)
    assert names == {"interrupted-0": "Crashed", "ctrl-c": "Crashed"}
    crashed = [e for e in memory_events(memory_publisher) if e.event.endswith(".Crashed")]
    assert [e.event for e in crashed] == ["proctor.task-run.Crashed", "proctor.flow-run.Crashed"]
    assert crashed_hooks == ["Crashed", "Crashed"]  # once each; crashes are never retried


def test_system_exit_in_a_submitted_task_crashes_the_flow(memory_publisher: BusThread) -> None:
    @task
    def exits() -> None:
        raise SystemExit(3)

    @flow(flow_run_name="exiting")
    def main() -> None:
        exits.submit().result()

    with pytest.raises(SystemExit):
        main()
    assert final_names(memory_publisher) == {"exits-0": "Crashed", "exiting": "Crashed"}


async def test_cancelling_an_async_flow_from_outside_crashes_it(
    memory_publisher: BusThread,
) -> None:
    started = asyncio.Event()

    @flow(flow_run_name="cancelled-from-outside")
    async def waits() -> None:
        started.set()
        await asyncio.Event().wait()

    running = asyncio.create_task(waits())
    await asyncio.wait_for(started.wait(), 5)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    final = list(changes(memory_events(memory_publisher)))[-1]
    assert final.state.name == "Crashed"
    assert final.state.message is not None
    assert "CancelledError" in final.state.message
