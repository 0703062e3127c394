"""Launchers: where a claimed run executes. The worker is the same whatever the launcher.

``ProcessLauncher`` (``proctor worker start``) forks each run from a warm process that has
imported Proctor already, so a run starts in milliseconds and a crash or a cancel cannot take
the worker down. ``InProcessLauncher`` (``flow.serve()``) runs flows in threads of the serving
process. A container or Kubernetes launcher would start ``python -m
proctor.runtime.worker.child`` with the job in ``PROCTOR_RUN_JOB`` and follow it the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from proctor.runtime.worker.messages import CancelCommand, ErrorReport, Job, StateReport

__all__ = ("Launcher", "ReportSink", "RunHandle")

ReportSink = Callable[[StateReport | ErrorReport], None]
"""Receives what the run reports, in order, on the worker's event loop."""


class RunHandle(Protocol):
    """One executing run, as its worker sees it."""

    @property
    def pid(self) -> int | None:
        """Its process id (None when it runs inside the worker)."""
        ...

    async def wait(self) -> int:
        """Wait until it has ended; its exit code (0: the run reached a final state itself)."""
        ...

    def cancel(self, command: CancelCommand) -> None:
        """Ask it to end Cancelled (its on_cancellation hooks run)."""
        ...

    def kill(self) -> None:
        """Stop it now, without hooks (after a cancel's grace period)."""
        ...


class Launcher(Protocol):
    """Starts runs somewhere: a process per run, threads, containers..."""

    async def start(self, job: Job, report: ReportSink) -> RunHandle:
        """Start ``job``; its reports go to ``report``."""
        ...

    async def close(self) -> None:
        """Release what the launcher holds (its warm process...)."""
        ...
