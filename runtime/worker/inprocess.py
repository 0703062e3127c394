"""``InProcessLauncher``: runs flows in threads of the worker's own process (``flow.serve``).

No process to start, so a run begins within milliseconds of its request; the price is that a
flow that crashes the interpreter takes the server with it. A cancelled sync flow gets the
cancellation raised in its thread at its next Python step (a blocking call finishes first);
an async flow's task is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import threading
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from proctor.events.emit import BusThread, use_publisher
from proctor.runtime.engine.flow_engine import FlowRun
from proctor.runtime.engine.flows import Flow
from proctor.runtime.run_events import FlowRunSnapshot, StateSnapshot
from proctor.runtime.worker.launchers import ReportSink
from proctor.runtime.worker.messages import CancelCommand, ErrorReport, Job, StateReport

__all__ = ("InProcessLauncher", "ThreadHandle")

log = logging.getLogger(__name__)


class _Cancelled(BaseException):
    """Raised in a served sync flow's thread when the run is cancelled."""


class ThreadHandle:
    """A run executing in a thread of this process."""

    def __init__(self, flow: Flow[Any, Any], job: Job, report: ReportSink, bus: BusThread):
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._report = report
        self._final = False
        self._task: asyncio.Task[Any] | None = None
        self._task_loop: asyncio.AbstractEventLoop | None = None
        self._seed = job.seed(self._on_state)
        self._thread = threading.Thread(
            target=self._main, args=(flow, job, bus), name=f"proctor-run-{job.run.name}"
        )
        self._thread.start()

    @property
    def pid(self) -> int | None:
        return None

    def _send(self, message: StateReport | ErrorReport) -> None:
        with contextlib.suppress(RuntimeError):  # the worker's loop is closed
            self._loop.call_soon_threadsafe(self._report, message)

    def _on_state(self, run: FlowRunSnapshot, state: StateSnapshot, event_id: UUID | None) -> None:
        self._final = state.type.is_terminal
        self._send(StateReport(run=run, state=state, event_id=event_id))

    def _main(self, flow: Flow[Any, Any], job: Job, bus: BusThread) -> None:
        code = 1
        try:
            with use_publisher(bus):
                code = self._execute(flow, job)
        except BaseException:
            log.exception("served run %s raised", job.run.id)
        finally:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._set_exited, code)

    def _set_exited(self, code: int) -> None:
        if not self._exited.done():
            self._exited.set_result(code)

    def _execute(self, flow: Flow[Any, Any], job: Job) -> int:
        try:
            run = FlowRun(flow, (), dict(job.parameters), seed=self._seed)
        except TypeError as error:
            self._send(ErrorReport(message=f"parameters do not fit the flow: {error}", failed=True))
            return 1
        if self._seed.cancel.is_set():
            return 0
        if flow.is_async:
            with contextlib.suppress(asyncio.CancelledError):
                asyncio.run(self._run_async(run))
            return 0
        with contextlib.suppress(BaseException):  # a crash or cancel is recorded by the engine
            run.run_sync()
        return 0

    async def _run_async(self, run: FlowRun) -> None:
        self._task = asyncio.current_task()
        self._task_loop = asyncio.get_running_loop()
        if self._seed.cancel.is_set():
            return
        await run.run_async()

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def cancel(self, command: CancelCommand) -> None:
        if self._seed.cancel.is_set() or self._final:
            return
        self._seed.cancel.request(command.state, command.event_id, command.message)
        task, loop = self._task, self._task_loop
        if task is not None and loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        elif self._thread.ident is not None and self._thread.is_alive():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread.ident), ctypes.py_object(_Cancelled)
            )

    def kill(self) -> None:
        log.warning("a served run cannot be killed; its thread ends when its code returns")


class InProcessLauncher:
    """Runs the flows of some deployments (by deployment id) in threads of this process."""

    def __init__(self, flows: Mapping[UUID, Flow[Any, Any]], bus: BusThread) -> None:
        self.flows = dict(flows)
        self._bus = bus

    async def start(self, job: Job, report: ReportSink) -> ThreadHandle:
        flow = self.flows.get(job.run.deployment_id) if job.run.deployment_id else None
        if flow is None:
            raise LookupError(f"this process serves no deployment {job.run.deployment_id}")
        return ThreadHandle(flow, job, report, self._bus)

    async def close(self) -> None:
        return None
