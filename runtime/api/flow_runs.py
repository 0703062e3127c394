"""``/api/flow-runs``, ``/api/task-runs``, ``/api/flows``: the read side of runs."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from pydantic import Field

from proctor.runtime.store import (
    FlowRecord,
    FlowRunFilter,
    FlowRunRecord,
    Page,
    RunLogRecord,
    RunSort,
    StateRecord,
    Store,
    TaskGraph,
    TaskRunFilter,
    TaskRunRecord,
)

__all__ = ("FlowRunQuery", "TaskRunQuery", "runs_router")

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
PageToken = Annotated[str | None, Query(description="`next_page` of the previous page.")]
_PAGING = {"sort", "limit", "page_token"}


class FlowRunQuery(FlowRunFilter):
    """A flow-run filter plus order and paging, as query parameters."""

    sort: RunSort = RunSort.EXPECTED_START_TIME_DESC
    limit: int = Field(default=100, ge=1, le=1000, description="Page size.")
    page_token: str | None = Field(default=None, description="`next_page` of the last page.")

    def where(self) -> FlowRunFilter:
        return FlowRunFilter.model_validate(self.model_dump(exclude=_PAGING))


class TaskRunQuery(TaskRunFilter):
    """A task-run filter plus order and paging, as query parameters."""

    sort: RunSort = RunSort.EXPECTED_START_TIME_ASC
    limit: int = Field(default=100, ge=1, le=1000, description="Page size.")
    page_token: str | None = Field(default=None, description="`next_page` of the last page.")

    def where(self) -> TaskRunFilter:
        return TaskRunFilter.model_validate(self.model_dump(exclude=_PAGING))


def runs_router(store: Store) -> APIRouter:
    router = APIRouter(tags=["runs"])

    async def flow_run_or_404(flow_run_id: UUID) -> FlowRunRecord:
        run = await store.runs.flow_run(flow_run_id)
        if run is None:
            raise HTTPException(404, f"flow run {flow_run_id} not found")
        return run

    @router.get("/flow-runs", summary="Flow runs, filtered and paginated")
    async def list_flow_runs(query: Annotated[FlowRunQuery, Query()]) -> Page[FlowRunRecord]:
        return await store.runs.flow_runs(
            query.where(), sort=query.sort, limit=query.limit, page_token=query.page_token
        )

    @router.get("/flow-runs/count", summary="How many flow runs match a filter")
    async def count_flow_runs(where: Annotated[FlowRunFilter, Query()]) -> dict[str, int]:
        return {"count": await store.runs.count_flow_runs(where)}

    @router.get("/flow-runs/{flow_run_id}", summary="One flow run with its current state")
    async def read_flow_run(flow_run_id: UUID) -> FlowRunRecord:
        return await flow_run_or_404(flow_run_id)

    @router.get("/flow-runs/{flow_run_id}/states", summary="The state history, oldest first")
    async def flow_run_states(flow_run_id: UUID) -> list[StateRecord]:
        await flow_run_or_404(flow_run_id)
        return await store.runs.states(flow_run_id)

    @router.get("/flow-runs/{flow_run_id}/graph", summary="Task runs and their dependencies")
    async def flow_run_graph(flow_run_id: UUID) -> TaskGraph:
        await flow_run_or_404(flow_run_id)
        return await store.runs.task_graph(flow_run_id)

    @router.get("/flow-runs/{flow_run_id}/logs", summary="Log lines, oldest first")
    async def flow_run_logs(
        flow_run_id: UUID,
        task_run_id: UUID | None = None,
        min_level: Annotated[int, Query(ge=0, le=50)] = 0,
        limit: Limit = 200,
        page_token: PageToken = None,
    ) -> Page[RunLogRecord]:
        await flow_run_or_404(flow_run_id)
        return await store.logs.query(
            flow_run_id,
            task_run_id=task_run_id,
            min_level=min_level,
            limit=limit,
            page_token=page_token,
        )

    @router.get("/task-runs", summary="Task runs, filtered and paginated")
    async def list_task_runs(query: Annotated[TaskRunQuery, Query()]) -> Page[TaskRunRecord]:
        return await store.runs.task_runs(
            query.where(), sort=query.sort, limit=query.limit, page_token=query.page_token
        )

    @router.get("/task-runs/count", summary="How many task runs match a filter")
    async def count_task_runs(where: Annotated[TaskRunFilter, Query()]) -> dict[str, int]:
        return {"count": await store.runs.count_task_runs(where)}

    @router.get("/task-runs/{task_run_id}", summary="One task run with its current state")
    async def read_task_run(task_run_id: UUID) -> TaskRunRecord:
        run = await store.runs.task_run(task_run_id)
        if run is None:
            raise HTTPException(404, f"task run {task_run_id} not found")
        return run

    @router.get("/task-runs/{task_run_id}/states", summary="The state history, oldest first")
    async def task_run_states(task_run_id: UUID) -> list[StateRecord]:
        return await store.runs.states(task_run_id)

    @router.get("/flows", summary="Flows that have run")
    async def list_flows(limit: Limit = 100, page_token: PageToken = None) -> Page[FlowRecord]:
        return await store.runs.flows(limit=limit, page_token=page_token)

    return router
