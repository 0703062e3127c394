"""Events that say a deployment, a work pool or a worker changed (the UI and engines reload
on them; they are also the audit trail). Announcing never fails the change it reports."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from proctor.core.errors import ProctorError
from proctor.events.bus.base import EventBus
from proctor.events.labels import ID_LABEL, NAME_LABEL, ROLE_LABEL
from proctor.events.model import Event

__all__ = ("announce",)

log = logging.getLogger(__name__)


async def announce(
    bus: EventBus,
    kind: str,
    resource_id: str,
    name: str,
    change: str,
    *,
    payload: Mapping[str, Any] | None = None,
    pool: str | None = None,
) -> None:
    """Publish ``proctor.<kind>.<change>`` about ``proctor.<kind>.<resource_id>``."""
    related = []
    if pool is not None:
        related.append(
            {ID_LABEL: f"proctor.work-pool.{pool}", NAME_LABEL: pool, ROLE_LABEL: "work-pool"}
        )
    event = Event.build(
        f"proctor.{kind}.{change}",
        {ID_LABEL: f"proctor.{kind}.{resource_id}", NAME_LABEL: name},
        payload={"change": change, **(payload or {})},
        related=related,
    )
    try:
        await bus.publish(event)
    except ProctorError as error:
        log.warning("could not publish %s: %s", event.event, error)
