"""``ProcessLauncher``: each run in its own process, forked from a warm fork server.

Starting a fresh interpreter and importing Proctor takes about 0.3 s; the fork server
(``multiprocessing``'s "forkserver" start method) imports it once, then forks a process per
run in milliseconds. The run's process is a child of the fork server, which is a child of the
worker: when the worker dies, the fork server exits, the link to each run closes, and each
run's process kills itself (see ``proctor.runtime.worker.child``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
from multiprocessing.context import ForkServerContext
from typing import Any

from proctor.runtime.worker.child import child_main
from proctor.runtime.worker.launchers import ReportSink
from proctor.runtime.worker.messages import CancelCommand, Job, parse_report

__all__ = ("ProcessHandle", "ProcessLauncher")

log = logging.getLogger(__name__)

PRELOAD = [
    "__main__",
    "proctor.runtime.worker.child",
    "proctor.events.bus.jetstream",
    "proctor.runtime.engine.log_shipping",
    "proctor.runtime.worker._warm",
]


def _noop() -> None:
    return None


class ProcessHandle:
    """A run's process: reports read from its link, its end awaited through its sentinel."""

    def __init__(
        self,
        process: Any,
        link: multiprocessing.connection.Connection,
        report: ReportSink,
    ) -> None:
        self._process = process
        self._link = link
        self._report = report
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._loop.add_reader(link.fileno(), self._on_readable)
        self._loop.add_reader(process.sentinel, self._on_exit)

    @property
    def pid(self) -> int | None:
        return int(self._process.pid) if self._process.pid is not None else None

    def _on_readable(self) -> None:
        try:
            while self._link.poll():
                data = self._link.recv_bytes()
                try:
                    self._report(parse_report(data))
                except Exception:
                    log.exception("run %s sent a report that could not be handled", self.pid)
        except (EOFError, OSError):
            self._loop.remove_reader(self._link.fileno())

    def _on_exit(self) -> None:
        self._loop.remove_reader(self._process.sentinel)
        with contextlib.suppress(OSError, ValueError):
            self._on_readable()  # the last reports, sent just before the process ended
        with contextlib.suppress(OSError, ValueError):
            self._loop.remove_reader(self._link.fileno())
        code = self._process.exitcode
        self._link.close()
        if not self._exited.done():
            self._exited.set_result(int(code) if code is not None else -1)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def cancel(self, command: CancelCommand) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._link.send_bytes(command.model_dump_json().encode())

    def kill(self) -> None:
        if not self._exited.done():
            with contextlib.suppress(OSError, ValueError):
                self._process.kill()


class ProcessLauncher:
    """Forks a process per run from a warm fork server (started by ``warm_up`` or on first use)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("forkserver")
        assert isinstance(context, ForkServerContext)
        context.set_forkserver_preload(PRELOAD)
        self._context = context
        self._warm = False

    async def warm_up(self) -> None:
        """Start the fork server and fork once, so the first run does not pay for imports."""
        if self._warm:
            return

        def probe() -> None:
            process = self._context.Process(target=_noop, name="proctor-warm-up")
            process.start()
            process.join()

        await asyncio.to_thread(probe)
        self._warm = True

    async def start(self, job: Job, report: ReportSink) -> ProcessHandle:
        await self.warm_up()
        link, child_link = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=child_main,
            args=(job.model_dump_json(), child_link),
            name=f"proctor-run-{job.run.id}",
        )
        try:  # start() waits for the fork server to fork: not on the event loop
            await asyncio.to_thread(process.start)
        finally:
            child_link.close()
        return ProcessHandle(process, link, report)

    async def close(self) -> None:
        return None
