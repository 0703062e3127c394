"""examples/hello_flow.py: run as a user runs it (no server), and what its runs leave on the bus."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from examples.hello_flow import hello

from proctor.events.bus import JetStreamEventBus
from proctor.events.emit import BusThread
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.run_events import TaskRunSnapshot
from tests.flows.conftest import changes
from tests.flows.test_jetstream_runs import stored_events, stored_logs

ROOT = Path(__file__).resolve().parents[2]


def test_the_script_runs_with_no_server(isolated_environment: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_")}
    env["PROCTOR_HOME"] = str(isolated_environment)
    done = subprocess.run(
        [sys.executable, "examples/hello_flow.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "['Hello, Ada!', 'Hello, Grace!']" in done.stdout
    assert "the run ended Completed: ['Hello, Linus!']" in done.stdout
    assert "Task run 'greet-1' - greeting Grace" in done.stderr  # get_run_logger()
    assert "- Hello, Ada!" in done.stderr  # print() went to the run log (log_prints)
    assert "Traceback" not in done.stderr


@pytest.mark.nats
async def test_its_runs_and_logs_reach_the_bus(
    jetstream_publisher: BusThread, nats_server: EmbeddedNats, naming: Naming
) -> None:
    assert await asyncio.to_thread(hello, ["Ada", "Grace"]) == ["Hello, Ada!", "Hello, Grace!"]
    bus = await JetStreamEventBus.connect(nats_server.url, naming=naming, declare=False)
    try:
        events, logs = await stored_events(bus), await stored_logs(bus)
    finally:
        await bus.close()
    finals = {c.run.name: c.state.name for c in changes(events) if c.state.type.is_terminal}
    assert finals.pop("greet-0") == finals.pop("greet-1") == "Completed"
    assert list(finals.values()) == ["Completed"]  # the flow run
    tasks = {c.run.id for c in changes(events) if isinstance(c.run, TaskRunSnapshot)}
    lines = {(log.message, log.task_run_id in tasks) for log in logs}
    assert {("greeting Ada", True), ("Hello, Ada!", False), ("greeted 2 name(s)", False)} <= lines
