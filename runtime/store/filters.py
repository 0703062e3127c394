"""Query filters of the store, as models the HTTP API can take as they are.

Time ranges are half-open: ``*_after`` is inclusive, ``*_before`` exclusive. Lists within one
field are OR-ed; fields are AND-ed. An empty filter selects everything.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proctor.events.names import NameFilter, compile_filter
from proctor.runtime.run_events import StateType

__all__ = ("EventFilter", "FlowRunFilter", "RunSort", "TaskRunFilter")

_FILTER = ConfigDict(frozen=True, extra="forbid")


class RunSort(StrEnum):
    """Orders of run listings (ties broken by id)."""

    EXPECTED_START_TIME_DESC = "expected_start_time_desc"
    EXPECTED_START_TIME_ASC = "expected_start_time_asc"
    START_TIME_DESC = "start_time_desc"
    START_TIME_ASC = "start_time_asc"
    UPDATED_DESC = "updated_desc"
    NAME_ASC = "name_asc"


class _RunFilter(BaseModel):
    model_config = _FILTER

    ids: list[UUID] | None = Field(default=None, description="Runs with one of these ids.")
    name_contains: str | None = Field(default=None, description="Substring of the run name.")
    state_types: list[StateType] | None = Field(default=None, description="Current state type.")
    state_names: list[str] | None = Field(default=None, description="Current state name.")
    tags: list[str] | None = Field(default=None, description="Runs carrying all these tags.")
    start_after: datetime | None = Field(default=None, description="start_time >= this.")
    start_before: datetime | None = Field(default=None, description="start_time < this.")
    expected_start_after: datetime | None = Field(
        default=None, description="expected_start_time >= this."
    )
    expected_start_before: datetime | None = Field(
        default=None, description="expected_start_time < this."
    )
    updated_after: datetime | None = Field(
        default=None, description="Current state entered at or after this."
    )
    updated_before: datetime | None = Field(
        default=None, description="Current state entered before this."
    )


class FlowRunFilter(_RunFilter):
    """Which flow runs to list."""

    flow_names: list[str] | None = Field(default=None, description="Runs of these flows.")
    deployment_ids: list[UUID] | None = Field(default=None, description="Of these deployments.")
    work_pools: list[str] | None = Field(default=None, description="In these work pools.")
    parent_flow_run_ids: list[UUID] | None = Field(
        default=None, description="Subflow runs of these flow runs."
    )


class TaskRunFilter(_RunFilter):
    """Which task runs to list."""

    flow_run_ids: list[UUID] | None = Field(default=None, description="Of these flow runs.")
    task_keys: list[str] | None = Field(default=None, description="Calls of these tasks.")


class EventFilter(BaseModel):
    """Which events to list from the events index."""

    model_config = _FILTER

    names: list[str] | None = Field(
        default=None,
        description="Event name filters: 'a.b', 'a.*' (one token), 'a.>' (the rest), "
        "'a.Fail*' (a token prefix).",
    )
    resource_ids: list[str] | None = Field(
        default=None, description="The event's resource id: exact, or 'prefix*'."
    )
    related_resource_ids: list[str] | None = Field(
        default=None, description="A related resource's id: exact, or 'prefix*'."
    )
    occurred_after: datetime | None = Field(default=None, description="occurred >= this.")
    occurred_before: datetime | None = Field(default=None, description="occurred < this.")
    order: Literal["asc", "desc"] = Field(default="desc", description="By occurred, then id.")

    @field_validator("names", mode="after")
    @classmethod
    def _valid_names(cls, names: list[str] | None) -> list[str] | None:
        for name in names or ():
            compile_filter(name)  # EventError (a ValueError) names the bad token
        return names

    def name_filters(self) -> list[NameFilter]:
        """The compiled name filters."""
        return [compile_filter(name) for name in self.names or ()]
