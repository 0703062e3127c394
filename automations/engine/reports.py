"""The events the engine emits about what it does: each firing, each action's outcome, a
stopped automation, suppressed firings, missed schedule slots.

Names (all under ``proctor.automation``): ``triggered``, ``action.executed``,
``action.failed``, ``stopped``, ``suppressed``, ``slots-missed``. Their resource is the
automation (``proctor.automation.<id>``, named after it). Ids are derived from what they
report, so a report made twice (a redelivery, a second replica) is stored once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from pydantic_core import to_json

from proctor.events.labels import ID_LABEL, MAX_LABELS, NAME_LABEL, ROLE_LABEL
from proctor.events.model import MAX_HOPS, Event, WireEvent
from proctor.triggers.firing import Firing, MissedSlots

__all__ = (
    "ACTION_EXECUTED",
    "ACTION_FAILED",
    "MAX_CARRIED_EVENT_BYTES",
    "REPORT_NAMESPACE",
    "SLOTS_MISSED",
    "STOPPED",
    "SUPPRESSED",
    "TRIGGERED",
    "action_event",
    "automation_resource",
    "missed_event",
    "stopped_event",
    "suppressed_event",
    "triggered_event",
    "triggered_hops",
    "triggered_wire",
)

TRIGGERED: Final = "proctor.automation.triggered"
ACTION_EXECUTED: Final = "proctor.automation.action.executed"
ACTION_FAILED: Final = "proctor.automation.action.failed"
STOPPED: Final = "proctor.automation.stopped"
SUPPRESSED: Final = "proctor.automation.suppressed"
SLOTS_MISSED: Final = "proctor.automation.slots-missed"
REPORT_NAMESPACE: Final = uuid.UUID("7d1e2c4b-9a0f-4e3d-8b6a-5f2c1e0d9b84")
MAX_CARRIED_EVENT_BYTES: Final = 128 * 1024
"""A triggering event larger than this travels in the triggered event without its payload."""


def automation_resource(automation_id: str, name: str) -> dict[str, str]:
    return {ID_LABEL: f"proctor.automation.{automation_id}", NAME_LABEL: name}


def _report_id(*parts: object) -> UUID:
    return uuid.uuid5(REPORT_NAMESPACE, "/".join(str(part) for part in parts))


def _carried(event: Event) -> tuple[dict[str, Any], bool]:
    """The event as JSON, without its payload if it is too large to carry (and whether it
    was dropped)."""
    data: dict[str, Any] = event.model_dump(mode="json")
    if len(event.to_wire()) > MAX_CARRIED_EVENT_BYTES:
        data["payload"] = {}
        return data, True
    return data, False


def _envelope(
    automation_id: str, name: str, firing: Firing, event: Event | None, now: datetime
) -> dict[str, Any]:
    """The fields of a ``triggered`` event but its payload."""
    related: list[dict[str, str]] = []
    if event is not None and len(event.resource) < MAX_LABELS:
        related.append({**event.resource.root, ROLE_LABEL: "triggering-event"})
    return {
        "event": TRIGGERED,
        "resource": automation_resource(automation_id, name),
        "related": related,
        "occurred": now,
        "id": firing.id,
        "caused_by": event.id if event is not None else None,
        "hops": triggered_hops(event),
    }


def triggered_hops(event: Event | None) -> int:
    """Causation hops of the ``triggered`` event of a firing ``event`` completed."""
    return min(event.hops + 1, MAX_HOPS) if event is not None else 0


def triggered_event(
    automation_id: str, name: str, firing: Firing, event: Event | None, now: datetime
) -> Event:
    """The report of a firing; its id is the firing's id, and it carries the event that
    completed the firing (for the actions' templates) and the causation chain."""
    carried, dropped = (None, False) if event is None else _carried(event)
    payload = {
        "automation": {"id": automation_id, "name": name},
        "firing": firing.model_dump(mode="json"),
        "event": carried,
        "event_payload_dropped": dropped,
    }
    return Event.build(payload=payload, **_envelope(automation_id, name, firing, event, now))


def triggered_wire(
    automation_id: str, name: str, firing: Firing, event: Event | None, now: datetime
) -> WireEvent | None:
    """``triggered_event``'s event serialised, its payload written as bytes (the firing and
    the carried event serialised once each, nothing validated twice); ``None`` when the
    carried event is too large to carry whole (``triggered_event`` drops its payload)."""
    carried = b"null" if event is None else event.to_wire()
    if len(carried) > MAX_CARRIED_EVENT_BYTES:
        return None
    payload = b"".join(
        (
            b'{"automation":',
            to_json({"id": automation_id, "name": name}),
            b',"firing":',
            firing.__pydantic_serializer__.to_json(firing),
            b',"event":',
            carried,
            b',"event_payload_dropped":false}',
        )
    )
    envelope = Event.build(**_envelope(automation_id, name, firing, event, now))
    return WireEvent.with_payload(envelope, payload)


def action_event(
    automation_id: str,
    name: str,
    *,
    firing_id: UUID,
    caused_by: UUID,
    hops: int,
    index: int,
    kind: str,
    key: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
    reason: str | None = None,
    message: str | None = None,
    attempts: int = 1,
    retryable: bool = False,
) -> Event:
    """``action.executed`` (no ``reason``) or ``action.failed`` (with ``reason``; after the
    engine gave up, the action is dead-lettered: ``dead_lettered`` is true). ``caused_by``
    and ``hops``: the id and hops of the firing's ``triggered`` event."""
    failed = reason is not None
    payload: dict[str, Any] = {
        "firing_id": str(firing_id),
        "action_index": index,
        "action_type": kind,
        "idempotency_key": key,
        "attempts": attempts,
    }
    if failed:
        payload.update(
            reason=reason,
            message=(message or "")[:1000],
            retryable=retryable,
            dead_lettered=True,
        )
    else:
        payload["detail"] = detail or {}
    return Event.build(
        ACTION_FAILED if failed else ACTION_EXECUTED,
        automation_resource(automation_id, name),
        payload=payload,
        occurred=now,
        id=_report_id("action", key, "failed" if failed else "executed"),
        caused_by=caused_by,
        hops=min(hops + 1, MAX_HOPS),
    )


def stopped_event(
    automation_id: str, name: str, *, reason: str, message: str, cause: Event | None, now: datetime
) -> Event:
    """The automation was stopped (paused) by the engine, e.g. by the loop guard."""
    return Event.build(
        STOPPED,
        automation_resource(automation_id, name),
        payload={"reason": reason, "message": message},
        occurred=now,
        id=_report_id("stopped", automation_id, cause.id if cause else now.isoformat()),
        caused_by=cause.id if cause is not None else None,
        hops=min(cause.hops + 1, MAX_HOPS) if cause is not None else 0,
    )


def suppressed_event(
    automation_id: str, name: str, *, reason: str, firing: Firing, now: datetime, detail: str
) -> Event:
    """A firing was dropped by ``throttle`` (reported once per throttled stretch)."""
    return Event.build(
        SUPPRESSED,
        automation_resource(automation_id, name),
        payload={"reason": reason, "firing_id": str(firing.id), "detail": detail},
        occurred=now,
        id=_report_id("suppressed", firing.id),
    )


def missed_event(automation_id: str, name: str, missed: MissedSlots, now: datetime) -> Event:
    """Schedule slots missed while nothing ran and not fired, by the catch-up policy."""
    return Event.build(
        SLOTS_MISSED,
        automation_resource(automation_id, name),
        payload={
            "schedule_id": missed.schedule_id,
            "first": missed.first.isoformat(),
            "last": missed.last.isoformat(),
        },
        occurred=now,
        id=_report_id("missed", missed.schedule_id, missed.first.isoformat()),
    )
