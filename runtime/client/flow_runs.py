"""``client.flow_runs`` and ``client.task_runs``: the read side of runs."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from proctor.core.errors import ApiError, NotFoundError
from proctor.runtime.client.base import ApiTransport
from proctor.runtime.client.run_commands import RunCommandsClient
from proctor.runtime.client.streams import EventStream
from proctor.runtime.deployments.models import RunStatus
from proctor.runtime.run_events import FLOW_RUN_PREFIX, flow_run_resource_id
from proctor.runtime.store import (
    FlowRunFilter,
    FlowRunRecord,
    Page,
    RunLogRecord,
    RunSort,
    StateRecord,
    TaskGraph,
    TaskRunFilter,
    TaskRunRecord,
)

__all__ = ("FlowRunsClient", "TaskRunsClient")


def _query(where: FlowRunFilter | TaskRunFilter | None, **extra: Any) -> dict[str, Any]:
    params = where.model_dump(mode="json", exclude_none=True) if where is not None else {}
    params.update(extra)
    return params


class FlowRunsClient:
    def __init__(self, transport: ApiTransport) -> None:
        self._transport = transport

    async def list(
        self,
        where: FlowRunFilter | None = None,
        *,
        sort: RunSort = RunSort.EXPECTED_START_TIME_DESC,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[FlowRunRecord]:
        params = _query(where, sort=sort.value, limit=limit, page_token=page_token)
        answer = await self._transport.request("GET", "/api/flow-runs", params=params)
        return Page[FlowRunRecord].model_validate(answer)

    async def read(self, flow_run_id: UUID) -> FlowRunRecord:
        """The run as stored. A run requested from a deployment a moment ago (by ``retry``, a
        schedule, an automation) that the recorder has not stored yet is read from the
        runtime instead: its names, deployment and latest state; its parameters, tags and
        times once it is stored. ``NotFoundError`` if neither knows it."""
        try:
            answer = await self._transport.request("GET", f"/api/flow-runs/{flow_run_id}")
        except NotFoundError as missing:
            try:
                status = await RunCommandsClient(self._transport).status(flow_run_id)
            except NotFoundError:
                raise missing from None
            return _record_of(status)
        return FlowRunRecord.model_validate(answer)

    async def states(self, flow_run_id: UUID) -> builtins.list[StateRecord]:
        answer = await self._transport.request("GET", f"/api/flow-runs/{flow_run_id}/states")
        return [StateRecord.model_validate(item) for item in answer]

    async def graph(self, flow_run_id: UUID) -> TaskGraph:
        answer = await self._transport.request("GET", f"/api/flow-runs/{flow_run_id}/graph")
        return TaskGraph.model_validate(answer)

    async def logs(
        self,
        flow_run_id: UUID,
        *,
        min_level: int = 0,
        limit: int = 200,
        page_token: str | None = None,
    ) -> Page[RunLogRecord]:
        params = {"min_level": min_level, "limit": limit, "page_token": page_token}
        path = f"/api/flow-runs/{flow_run_id}/logs"
        answer = await self._transport.request("GET", path, params=params)
        return Page[RunLogRecord].model_validate(answer)

    async def watch(self, flow_run_id: UUID, *, quiet_s: float = 3.0) -> AsyncIterator[StateRecord]:
        """The run's current state, then each state it enters, ending with a final one.

        Follows the live event stream (subscribed before the run is read, so no change is
        missed); when the stream is quiet for ``quiet_s`` or drops, the run is read again.
        """
        resource = flow_run_resource_id(flow_run_id)
        seen: set[UUID] = set()
        latest: StateRecord | None = None
        while True:
            try:
                async with EventStream(
                    self._transport, names=[f"{FLOW_RUN_PREFIX}.>"], resource_id=resource
                ) as events:
                    candidates = [(await self.read(flow_run_id)).state]
                    while True:
                        for state in candidates:
                            if state.id in seen or (latest and state.timestamp < latest.timestamp):
                                continue
                            seen.add(state.id)
                            latest = state
                            yield state
                            if state.type.is_terminal:
                                return
                        candidates = [
                            await _next_state(events, quiet_s) or await self._current(flow_run_id)
                        ]
            except ApiError as error:
                if error.status != 0:  # refused (404, 401...): not a dropped connection
                    raise
                await asyncio.sleep(1.0)  # the server restarts or the network blips: re-read

    async def _current(self, flow_run_id: UUID) -> StateRecord:
        return (await self.read(flow_run_id)).state

    async def follow_logs(
        self,
        flow_run_id: UUID,
        *,
        min_level: int = 0,
        follow: bool = True,
        poll_s: float = 0.5,
        grace_s: float = 1.5,
    ) -> AsyncIterator[RunLogRecord]:
        """The run's log lines, oldest first; with ``follow``, new ones as they are recorded,
        until the run is final and no line came for ``grace_s`` (logs are recorded apart from
        states, a little later)."""
        cursor: str | None = None
        seen: set[UUID] = set()
        quiet_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            page = await self.logs(flow_run_id, min_level=min_level, limit=500, page_token=cursor)
            fresh = [line for line in page.items if line.id not in seen]
            for line in fresh:
                seen.add(line.id)
                yield line
            if page.next_page is not None:
                cursor = page.next_page  # a full page: read on from its end
                continue
            if not follow:
                return
            if fresh:
                quiet_since = None
            elif (await self._current(flow_run_id)).type.is_terminal:
                quiet_since = quiet_since if quiet_since is not None else loop.time()
                if loop.time() - quiet_since >= grace_s:
                    return
            await asyncio.sleep(poll_s)


def _record_of(status: RunStatus) -> FlowRunRecord:
    """A stored-run view of a run the runtime holds."""
    return FlowRunRecord(
        id=status.flow_run_id,
        name=status.name,
        flow_name=status.flow_name,
        deployment_id=status.deployment_id,
        deployment_name=status.deployment_name,
        work_pool=status.work_pool,
        work_queue=status.work_queue,
        expected_start_time=status.scheduled_time,
        state=StateRecord.model_validate(status.state.model_dump()),
    )


async def _next_state(events: EventStream, quiet_s: float) -> StateRecord | None:
    """The state of the next state-change event, or None when none came within ``quiet_s``."""
    try:
        event = await events.next(quiet_s)
    except TimeoutError:
        return None
    try:
        return StateRecord.model_validate(event.payload["state"])
    except (KeyError, ValidationError):
        return None


class TaskRunsClient:
    def __init__(self, transport: ApiTransport) -> None:
        self._transport = transport

    async def list(
        self,
        where: TaskRunFilter | None = None,
        *,
        sort: RunSort = RunSort.EXPECTED_START_TIME_ASC,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Page[TaskRunRecord]:
        params = _query(where, sort=sort.value, limit=limit, page_token=page_token)
        answer = await self._transport.request("GET", "/api/task-runs", params=params)
        return Page[TaskRunRecord].model_validate(answer)

    async def count(self, where: TaskRunFilter | None = None) -> int:
        """How many task runs match ``where``."""
        answer = await self._transport.request("GET", "/api/task-runs/count", params=_query(where))
        return int(answer["count"])
