"""Helpers shared by the trigger tests: times and events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from proctor.events.labels import ID_LABEL, NAME_LABEL, ROLE_LABEL
from proctor.events.model import Event

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def event(
    name: str,
    occurred: datetime = T0,
    *,
    resource: Mapping[str, str] | None = None,
    related: Sequence[Mapping[str, str]] = (),
    payload: Mapping[str, Any] | None = None,
    id: UUID | None = None,
) -> Event:
    return Event.build(
        name,
        resource or {ID_LABEL: "thing.1"},
        related=related,
        payload=payload,
        occurred=occurred,
        id=id,
    )


def related(role: str, name: str, resource_id: str | None = None) -> dict[str, str]:
    return {ID_LABEL: resource_id or f"proctor.{role}.{name}", ROLE_LABEL: role, NAME_LABEL: name}
