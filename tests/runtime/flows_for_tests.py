"""Flows the runtime tests deploy (loaded by entrypoint in worker processes)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from proctor import aemit_event, emit_event, flow

STARTED = "test.flow.started"
"""Emitted by the long-running flows once their body runs, with their pid."""


def _append(path: str, line: str) -> None:
    with open(path, "a") as file:  # one write per line: O_APPEND keeps lines whole
        file.write(line + "\n")


@flow
def record(path: str, label: str = "") -> str:
    """Appends its label (or its pid) to ``path``: one line per execution."""
    _append(path, label or str(os.getpid()))
    return label


@flow
def timed(path: str, seconds: float) -> None:
    """Records when it started and ended (monotonic, comparable across processes)."""
    started = time.monotonic()
    time.sleep(seconds)  # allow-sleep: simulated work whose overlap the test measures
    _append(path, f"{started} {time.monotonic()}")


def _cancelled_hook(flow: Any, run: Any, state: Any) -> None:
    Path(os.environ["PROCTOR_TEST_HOOK_FILE"]).write_text(f"{run.id} {state.name}")


@flow(on_cancellation=[_cancelled_hook])
def long_running() -> None:
    """Says it started (with its pid), then sleeps until it is cancelled."""
    emit_event(STARTED, {"proctor.resource.id": "test.flow"}, payload={"pid": os.getpid()})
    time.sleep(60)  # allow-sleep: a long-running flow for the test to cancel


@flow(on_cancellation=[_cancelled_hook])
async def long_running_async() -> None:
    import asyncio

    await aemit_event(STARTED, {"proctor.resource.id": "test.flow"}, payload={"pid": os.getpid()})
    await asyncio.sleep(60)  # allow-sleep: a long-running flow for the test to cancel


def _hang_hook(flow: Any, run: Any, state: Any) -> None:
    emit_event(STARTED, {"proctor.resource.id": "test.flow"}, payload={"pid": os.getpid()})
    threading.Event().wait()  # a final-state hook that never returns


@flow(on_completion=[_hang_hook])
def completes_then_hangs() -> None:
    """Completes, then hangs in its on_completion hook."""
