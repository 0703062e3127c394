"""``ProctorClient`` (async) and ``SyncProctorClient``: one object per API, sub-clients per area."""

from __future__ import annotations

from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from proctor.core.loop_thread import LoopThread
from proctor.core.settings import ProctorSettings
from proctor.runtime.client.automations import AutomationsClient
from proctor.runtime.client.base import ApiTransport, resolve_api_url
from proctor.runtime.client.deployments import DeploymentsClient
from proctor.runtime.client.events import EventsClient
from proctor.runtime.client.flow_runs import FlowRunsClient, TaskRunsClient
from proctor.runtime.client.run_commands import RunCommandsClient
from proctor.runtime.client.webhooks import WebhooksClient
from proctor.runtime.client.work_pools import ConcurrencyLimitsClient, WorkPoolsClient

__all__ = ("ProctorClient", "SyncProctorClient", "get_client")

T = TypeVar("T")


class ProctorClient:
    """The async client; one sub-client per area: ``events``, ``flow_runs``, ``task_runs``..."""

    def __init__(self, transport: ApiTransport) -> None:
        self.transport = transport
        self.automations = AutomationsClient(transport)
        self.events = EventsClient(transport)
        self.flow_runs = FlowRunsClient(transport)
        self.task_runs = TaskRunsClient(transport)
        self.webhooks = WebhooksClient(transport)
        self.deployments = DeploymentsClient(transport)
        self.work_pools = WorkPoolsClient(transport)
        self.concurrency_limits = ConcurrencyLimitsClient(transport)
        self.runs = RunCommandsClient(transport)

    @classmethod
    def from_settings(
        cls,
        settings: ProctorSettings | None = None,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> ProctorClient:
        settings = settings or ProctorSettings()
        key = settings.api_key.get_secret_value() if settings.api_key else None
        url = resolve_api_url(settings)
        return cls(ApiTransport(url, api_key=key, transport=http_transport))

    async def health(self) -> bool:
        """Whether the API answers ``/health``."""
        answer = await self.transport.request("GET", "/health")
        return bool(answer == {"status": "ok"})

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class SyncProctorClient:
    """The sync twin: runs an async client on a private event-loop thread.

    ``client.call(client.api.flow_runs.read(run_id))`` — every async method is reachable
    through ``api``; ``call`` waits for it.
    """

    def __init__(self, settings: ProctorSettings | None = None) -> None:
        self._runner = LoopThread("proctor-client")
        self.api = ProctorClient.from_settings(settings)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        return self._runner.call(coroutine, timeout_s)

    def close(self) -> None:
        self.call(self.api.close())
        self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def get_client(settings: ProctorSettings | None = None) -> ProctorClient:
    """An async client for the configured API, or the local server's."""
    return ProctorClient.from_settings(settings)
