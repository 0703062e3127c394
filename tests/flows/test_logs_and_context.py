"""Run logs, print capture, run context, transition rules, and running with no server at all."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from proctor import (
    Completed,
    InvalidStateTransitionError,
    MissingContextError,
    Pending,
    Running,
    flow,
    get_run_context,
    get_run_logger,
    task,
)
from proctor.events.bus import InMemoryEventBus
from proctor.events.emit import BusThread
from proctor.runtime.engine import validate_transition
from proctor.runtime.engine.log_shipping import memory_logs
from proctor.runtime.engine.logs import RunLog
from tests.flows.conftest import changes, memory_events


def shipped(thread: BusThread) -> list[RunLog]:
    bus = thread.bus
    assert isinstance(bus, InMemoryEventBus)
    return memory_logs(bus)


def test_run_logs_carry_the_run_ids(memory_publisher: BusThread) -> None:
    @task
    def work() -> None:
        get_run_logger().warning("inside the task")

    @flow
    def logged() -> None:
        get_run_logger().info("inside the flow")
        work()

    logged()
    runs = {c.run.name: c.run.id for c in changes(memory_events(memory_publisher))}
    lines = {log.message: log for log in shipped(memory_publisher)}
    flow_run_id = next(id_ for name, id_ in runs.items() if name != "work-0")
    assert lines["inside the flow"].flow_run_id == flow_run_id
    assert lines["inside the flow"].task_run_id is None
    assert lines["inside the task"].task_run_id == runs["work-0"]
    assert lines["inside the task"].flow_run_id == flow_run_id
    assert lines["inside the task"].level == 30


def test_log_prints_sends_print_to_the_run_log(
    memory_publisher: BusThread, capsys: pytest.CaptureFixture[str]
) -> None:
    @task(log_prints=False)
    def quiet() -> None:
        print("to stdout from a task")

    @flow(log_prints=True)
    def chatty() -> None:
        print("to the log", 42)
        quiet()

    chatty()
    print("after the flow")
    messages = [log.message for log in shipped(memory_publisher)]
    assert "to the log 42" in messages
    assert "to stdout from a task" not in messages
    out = capsys.readouterr().out
    assert "to stdout from a task" in out
    assert "after the flow" in out
    assert "to the log" not in out


def test_run_context_and_logger_need_a_run() -> None:
    with pytest.raises(MissingContextError, match="inside a @flow or @task"):
        get_run_logger()

    @flow
    def inside() -> str:
        return get_run_context().run.snapshot.name

    assert inside()


def test_an_ended_run_never_goes_back_to_running() -> None:
    validate_transition(None, Pending().snapshot)
    validate_transition(Pending().snapshot, Running().snapshot)
    with pytest.raises(InvalidStateTransitionError, match="it has ended"):
        validate_transition(Completed().snapshot, Running().snapshot)
    with pytest.raises(InvalidStateTransitionError):
        validate_transition(Running().snapshot, Running().snapshot)
    with pytest.raises(InvalidStateTransitionError):
        validate_transition(None, Running().snapshot)


SCRIPT = textwrap.dedent(
    """
    from proctor import flow, task

    @task
    def add(x: int, y: int) -> int:
        return x + y

    @flow(log_prints=True)
    def plain_script() -> int:
        print("hello from a plain script")
        return add.submit(1, 2).result() + add(3, 4)

    print("result", plain_script())
    """
)


def test_a_plain_script_with_no_server_runs_without_network_waits(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_")}
    env["PROCTOR_HOME"] = str(tmp_path / "home")  # no discovery file there: no server
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "result 10" in done.stdout
    assert "hello from a plain script" in done.stderr  # printed as a run log line
    assert "Traceback" not in done.stderr
    assert "Error" not in done.stderr
    assert elapsed < 10  # an interpreter start, not a connection timeout
