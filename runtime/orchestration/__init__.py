"""Runs in flight on NATS: requests, leases (run entries), concurrency slots, the monitor.

``RunPlane`` reaches the stream and buckets; ``submit_run`` and ``cancel_run`` are the
commands; ``RunMonitor`` marks runs Crashed and Late. Workers live in
``proctor.runtime.worker``; deployments (what requests runs) in ``proctor.runtime.deployments``.
"""

from proctor.runtime.orchestration.commands import cancel_run, submit_run
from proctor.runtime.orchestration.model import (
    DEFAULT_QUEUE,
    CollisionStrategy,
    EntryStatus,
    PoolConfig,
    QueueConfig,
    RunEntry,
    RunJob,
    WorkerBeat,
)
from proctor.runtime.orchestration.monitor import RunMonitor
from proctor.runtime.orchestration.options import RuntimeOptions
from proctor.runtime.orchestration.plane import RunPlane

__all__ = (
    "DEFAULT_QUEUE",
    "CollisionStrategy",
    "EntryStatus",
    "PoolConfig",
    "QueueConfig",
    "RunEntry",
    "RunJob",
    "RunMonitor",
    "RunPlane",
    "RuntimeOptions",
    "WorkerBeat",
    "cancel_run",
    "submit_run",
)
