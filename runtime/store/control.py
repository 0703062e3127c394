"""Storage models of the control plane: deployments, work pools, automations, webhooks and
API tokens. Written through the API (commands), read by the engine, workers and the UI.

Their definitions (schedules, triggers, actions, templates) are JSON documents whose shape
belongs to the layer that owns them; the store keeps them whole and indexes what is looked up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, Text, UniqueConstraint
from sqlmodel import Field

from proctor.events.ids import uuid7
from proctor.events.model import utcnow
from proctor.runtime.store.columns import StoreModel, UTCDateTime

__all__ = (
    "ApiTokenRow",
    "AutomationRow",
    "DeploymentRow",
    "WebhookRow",
    "WorkPoolRow",
)


class _Timestamps(StoreModel):
    created: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DeploymentRow(_Timestamps, table=True):
    """A flow made runnable by a worker pool, with its parameters and schedules."""

    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("flow_name", "name"),)

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    name: str
    flow_name: str = Field(index=True)
    version: str | None = None
    description: str | None = Field(default=None, sa_type=Text)
    entrypoint: str | None = Field(default=None, description="module:function or path:function")
    work_pool: str | None = Field(default=None, index=True)
    work_queue: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    schedules: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    paused: bool = False
    catch_up: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    concurrency_limit: int | None = None
    collision_strategy: str = Field(
        default="enqueue", sa_column_kwargs={"server_default": "enqueue"}
    )
    job_variables: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSON, sa_column_kwargs={"server_default": "{}"}
    )


class WorkPoolRow(_Timestamps, table=True):
    """A pool of workers that claim the runs of its deployments."""

    __tablename__ = "work_pool"

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    name: str = Field(unique=True)
    type: str = "process"
    description: str | None = Field(default=None, sa_type=Text)
    concurrency_limit: int | None = None
    paused: bool = False
    base_job_template: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    queues: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=JSON, sa_column_kwargs={"server_default": "[]"}
    )


class AutomationRow(_Timestamps, table=True):
    """An automation: its trigger and actions as one JSON definition."""

    __tablename__ = "automation"

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    name: str = Field(index=True)
    description: str | None = Field(default=None, sa_type=Text)
    enabled: bool = True
    definition: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class WebhookRow(_Timestamps, table=True):
    """An inbound webhook: where it listens, how it verifies and templates its event."""

    __tablename__ = "webhook"

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    name: str = Field(unique=True)
    slug: str = Field(unique=True, description="The path segment it is reached at.")
    description: str | None = Field(default=None, sa_type=Text)
    enabled: bool = True
    definition: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class ApiTokenRow(StoreModel, table=True):
    """An API token, stored hashed; the token itself is shown once, at creation."""

    __tablename__ = "api_token"

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    name: str = Field(unique=True)
    scope: str = Field(description="read, write or admin.")
    token_hash: str = Field(unique=True)
    created: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked: bool = False
