"""Workers: claim run requests of a pool and execute them (a process per run, or in process)."""

from proctor.runtime.worker.entrypoints import entrypoint_of, load_flow
from proctor.runtime.worker.inprocess import InProcessLauncher
from proctor.runtime.worker.launchers import Launcher, RunHandle
from proctor.runtime.worker.process import ProcessLauncher
from proctor.runtime.worker.worker import Worker

__all__ = (
    "InProcessLauncher",
    "Launcher",
    "ProcessLauncher",
    "RunHandle",
    "Worker",
    "entrypoint_of",
    "load_flow",
)
