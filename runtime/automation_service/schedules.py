"""A deployment's schedules, as the automations it owns.

Each entry of ``DeploymentRow.schedules`` is ``{"cron": "0 9 * * *", "timezone":
"Europe/Paris"}`` or ``{"interval_s": 3600, "anchor": "2026-01-01T00:00:00Z"}`` (``interval``
is accepted for ``interval_s``), with an optional ``catch_up`` (``{"policy": "once" | "skip" |
"all", "window": ..., "grace": ...}``) and ``active`` (default true). Each becomes an
automation (a ``CronTrigger`` or ``IntervalTrigger`` → ``RunDeployment``) owned by the
deployment: the one clock-driven mechanism of the platform schedules deployments too. Its id
derives from the deployment and the schedule, so every engine replica derives the same one,
and a slot's run id derives from the slot. A paused deployment owns no running schedule; it
starts afresh when resumed (slots while paused are not caught up).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final
from uuid import UUID

from pydantic import ValidationError

from proctor.automations import Automation, RunDeployment
from proctor.automations.engine import LoadedAutomation
from proctor.automations.validation import problem
from proctor.core.errors import DefinitionError
from proctor.triggers import CronTrigger, IntervalTrigger

__all__ = ("OWNER_PREFIX", "deployment_owner", "schedule_automations", "schedule_trigger")

OWNER_PREFIX: Final = "deployment:"


def deployment_owner(deployment_id: UUID) -> str:
    return f"{OWNER_PREFIX}{deployment_id}"


def schedule_trigger(
    spec: Mapping[str, Any], *, field: str = "schedules"
) -> CronTrigger | IntervalTrigger:
    """The trigger of one schedule entry; ``DefinitionError`` naming the field if invalid."""
    data = {k: v for k, v in spec.items() if k != "active"}
    try:
        if "cron" in data:
            return CronTrigger.model_validate(data)
        seconds = data.pop("interval_s", data.pop("interval", None))
        if seconds is None:
            raise DefinitionError(
                f"{field}: give 'cron' (with 'timezone') or 'interval_s' (with 'anchor')",
                field=field,
            )
        try:
            every = timedelta(seconds=seconds)
        except (OverflowError, TypeError, ValueError):
            raise DefinitionError(
                f"{field}.interval_s: {seconds!r} is not a number of seconds between runs",
                field=f"{field}.interval_s",
            ) from None
        return IntervalTrigger.model_validate({**data, "every": every})
    except ValidationError as error:
        inner, message = problem(error)
        raise DefinitionError(f"{field}.{message}", field=f"{field}.{inner}") from None


def _schedule_id(deployment_id: UUID, spec: Mapping[str, Any]) -> str:
    text = json.dumps(spec, sort_keys=True, default=str)
    return f"d-{deployment_id.hex}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def schedule_automations(
    deployment_id: UUID,
    flow_name: str,
    name: str,
    schedules: Sequence[Mapping[str, Any]],
    *,
    paused: bool = False,
) -> list[LoadedAutomation]:
    """The automations a deployment's schedules become (none while it is paused). An entry
    that cannot be read is skipped (the API refuses it when the deployment is saved)."""
    if paused:
        return []
    owned: list[LoadedAutomation] = []
    for index, spec in enumerate(schedules):
        if not spec.get("active", True):
            continue
        try:
            trigger = schedule_trigger(spec, field=f"schedules.{index}")
        except DefinitionError:
            continue
        automation = Automation(
            name=f"{flow_name}/{name} schedule {index + 1}",
            description=f"Schedule {index + 1} of deployment {flow_name}/{name}",
            trigger=trigger,
            actions=(RunDeployment(deployment=str(deployment_id)),),
        )
        owned.append(
            LoadedAutomation(
                _schedule_id(deployment_id, spec), automation, deployment_owner(deployment_id)
            )
        )
    return owned
