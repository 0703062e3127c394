"""Run commands over the API: cancel a run, and follow a requested run through the runtime
(usable before the store has recorded it). ``client.flow_runs.cancel`` calls these."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

from proctor.runtime.client.base import ApiTransport
from proctor.runtime.deployments.models import RunStatus
from proctor.runtime.orchestration.model import EntryStatus

__all__ = ("RunCommandsClient",)

_LONG_POLL_S = 30.0
_ANSWER_GRACE_S = 15.0  # a long poll's answer may come this long after its wait ends


class RunCommandsClient:
    def __init__(self, transport: ApiTransport) -> None:
        self._transport = transport

    async def cancel(self, flow_run_id: UUID, message: str | None = None) -> RunStatus:
        """Cancel a requested run (``ApiError`` 409 if it has ended, 404 if unknown)."""
        answer = await self._transport.request(
            "POST", f"/api/flow-runs/{flow_run_id}/cancel", json={"message": message}
        )
        return RunStatus.model_validate(answer)

    async def retry(self, flow_run_id: UUID) -> RunStatus:
        """Run an ended deployment run again with its parameters (``ApiError`` 409 if it is
        still going); the new run's ``retry_of`` links it."""
        answer = await self._transport.request("POST", f"/api/flow-runs/{flow_run_id}/retry")
        return RunStatus.model_validate(answer)

    async def status(
        self, flow_run_id: UUID, *, after: UUID | None = None, wait_s: float = 0
    ) -> RunStatus:
        """The run as the runtime holds it (waiting up to ``wait_s`` for a state after
        ``after``)."""
        answer = await self._transport.request(
            "GET",
            f"/api/flow-runs/{flow_run_id}/runtime",
            params={"after": str(after) if after else None, "wait_s": wait_s or None},
            timeout_s=wait_s + _ANSWER_GRACE_S if wait_s else None,
        )
        return RunStatus.model_validate(answer)

    async def follow(
        self, flow_run_id: UUID, *, timeout_s: float | None = None
    ) -> AsyncIterator[RunStatus]:
        """The run's current status, then one per new state, until it ends (or
        ``TimeoutError`` after ``timeout_s``)."""
        async with asyncio.timeout(timeout_s):
            current = await self.status(flow_run_id)
            yield current
            while current.status is not EntryStatus.FINAL:
                newer = await self.status(flow_run_id, after=current.state.id, wait_s=_LONG_POLL_S)
                if newer.state.id != current.state.id or newer.status is EntryStatus.FINAL:
                    current = newer
                    yield current
