"""Deployments and work pools on the server: stored, mirrored for workers, and run.

``DeploymentService.request_run`` is the one way a deployment run is requested (API, CLI,
``run_deployment()``, the automations' RunDeployment action).
"""

from proctor.runtime.deployments.models import (
    Cron,
    Deployment,
    DeploymentSpec,
    Interval,
    JobVariables,
    QueueStatus,
    ScheduleSpec,
    WorkPool,
    WorkPoolSpec,
)
from proctor.runtime.deployments.pools import WorkPoolService
from proctor.runtime.deployments.runtime import (
    LazyRuntime,
    Runtime,
    RuntimeService,
    runtime_service,
)
from proctor.runtime.deployments.service import DeploymentService, run_id_for

__all__ = (
    "Cron",
    "Deployment",
    "DeploymentService",
    "DeploymentSpec",
    "Interval",
    "JobVariables",
    "LazyRuntime",
    "QueueStatus",
    "Runtime",
    "RuntimeService",
    "ScheduleSpec",
    "WorkPool",
    "WorkPoolService",
    "WorkPoolSpec",
    "run_id_for",
    "runtime_service",
)
