"""The process that runs one flow run: forked by a worker's launcher, or started on its own as
``python -m proctor.runtime.worker.child`` with the job as JSON in ``PROCTOR_RUN_JOB`` (the
shape a container or Kubernetes worker would use).

It connects to NATS itself and publishes the run's events and logs like any flow. It sets up
tracing from the environment (the worker's, plus the deployment's ``env``) and exports its
spans before it leaves. With a
connection to its worker it reports each state, takes cancel commands, and kills itself if the
worker goes away (the connection closes), so no run outlives its worker unnoticed. SIGTERM
cancels the run too; SIGINT is ignored (a Ctrl-C in the worker's terminal is the worker's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from proctor.core.errors import ConfigurationError
from proctor.core.tracing_setup import configure_tracing, flush_tracing
from proctor.events.bus.jetstream import JetStreamEventBus
from proctor.events.emit import BusThread, use_publisher
from proctor.events.naming import Naming
from proctor.runtime.engine.flow_engine import FlowRun
from proctor.runtime.run_events import FlowRunSnapshot, StateSnapshot
from proctor.runtime.worker.entrypoints import load_flow
from proctor.runtime.worker.messages import CancelCommand, ErrorReport, Job, StateReport

__all__ = ("JOB_ENV", "TRACING_SERVICE", "child_main")

log = logging.getLogger(__name__)

JOB_ENV = "PROCTOR_RUN_JOB"
TRACING_SERVICE = "proctor-worker"
"""The ``service.name`` of a run's spans unless ``OTEL_SERVICE_NAME`` says otherwise."""


class _Cancelled(BaseException):
    """Raised in the main thread of a sync flow run when it is cancelled."""


class _Child:
    def __init__(self, job: Job, conn: Connection | None) -> None:
        self.job = job
        self.conn = conn
        self._lock = threading.Lock()
        self.seed = job.seed(self._on_state)
        self.final = False
        self.running_sync = False
        self.interrupt: Callable[[], None] | None = None

    def send(self, message: BaseModel) -> None:
        if self.conn is None:
            return
        with self._lock, contextlib.suppress(OSError):
            self.conn.send_bytes(message.model_dump_json().encode())

    def _on_state(self, run: FlowRunSnapshot, state: StateSnapshot, event_id: UUID | None) -> None:
        self.final = state.type.is_terminal
        self.send(StateReport(run=run, state=state, event_id=event_id))

    def listen(self) -> None:
        """Commands from the worker; its going away ends this process at once."""
        assert self.conn is not None
        while True:
            try:
                data = self.conn.recv_bytes()
            except (EOFError, OSError):
                os.kill(os.getpid(), signal.SIGKILL)
                return
            command = CancelCommand.model_validate_json(data)
            self.cancel(command.state, command.event_id, command.message)

    def cancel(
        self, state: StateSnapshot | None, event_id: UUID | None, message: str | None
    ) -> None:
        if self.seed.cancel.is_set() or self.final:
            return
        self.seed.cancel.request(state, event_id, message or "cancelled on request")
        if self.interrupt is not None:
            self.interrupt()

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if not self.seed.cancel.is_set():
            self.seed.cancel.request(message="cancelled: the process was sent SIGTERM")
        if self.running_sync and not self.final:
            raise _Cancelled

    def run(self) -> int:
        job = self.job
        os.environ.update(job.env)
        os.environ["PROCTOR_NATS_URL"] = job.nats_url
        os.environ["PROCTOR_NAMESPACE"] = job.namespace
        if job.working_dir:
            os.chdir(job.working_dir)
        try:
            configure_tracing(TRACING_SERVICE)
        except ConfigurationError as error:
            log.warning("running untraced: %s", error)
        try:
            flow = load_flow(job.entrypoint, job.working_dir)
        except Exception as error:
            self.send(ErrorReport(message=str(error)))
            return 1
        naming = Naming(job.namespace)
        try:
            publisher = BusThread(
                lambda: JetStreamEventBus.connect(job.nats_url, naming=naming, declare=False),
                name="proctor-run-bus",
            )
        except Exception as error:
            self.send(ErrorReport(message=f"cannot publish the run's events: {error}"))
            return 1
        # No close: the engine has waited for every event and log line to be acknowledged,
        # and the process leaves with os._exit right after.
        with use_publisher(publisher):
            return self._execute(flow)

    def _execute(self, flow: Any) -> int:
        try:
            run = FlowRun(flow, (), dict(self.job.parameters), seed=self.seed)
        except TypeError as error:
            self.send(ErrorReport(message=f"parameters do not fit the flow: {error}", failed=True))
            return 1
        if self.seed.cancel.is_set():  # cancelled while loading: never started
            return 0
        if flow.is_async:
            with contextlib.suppress(asyncio.CancelledError, _Cancelled):
                asyncio.run(self._run_async(run))
            return 0
        main = threading.main_thread().ident
        assert main is not None
        self.interrupt = lambda: signal.pthread_kill(main, signal.SIGTERM)
        self.running_sync = True
        try:
            run.run_sync()
        except _Cancelled:
            pass
        except BaseException:  # recorded Crashed by the engine
            return 0
        finally:
            self.running_sync = False
        return 0

    async def _run_async(self, run: FlowRun) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def cancel_task() -> None:
            if not self.seed.cancel.is_set():
                self.seed.cancel.request(message="cancelled: the process was sent SIGTERM")
            if not self.final:
                task.cancel()

        def interrupt() -> None:
            loop.call_soon_threadsafe(cancel_task)

        loop.add_signal_handler(signal.SIGTERM, cancel_task)
        self.interrupt = interrupt
        await run.run_async()


def child_main(job_json: str, conn: Connection | None = None) -> None:
    """Run the job, then leave at once (threads a cancelled flow left behind don't hold it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    job = Job.model_validate_json(job_json)
    child = _Child(job, conn)
    signal.signal(signal.SIGTERM, child.on_sigterm)
    if conn is not None:
        threading.Thread(target=child.listen, name="proctor-worker-link", daemon=True).start()
    code = 1
    try:
        code = child.run()
    finally:
        with contextlib.suppress(Exception):
            flush_tracing()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def main() -> None:
    child_main(os.environ[JOB_ENV])


if __name__ == "__main__":
    main()
