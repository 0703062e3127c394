"""Triggers for the everyday cases: a flow run failed, a flow run completed, an event happened.

Flow-run events are named ``proctor.flow-run.<StateName>`` and relate the run to its flow
(role ``flow``, named after the flow), deployment (role ``deployment``, id
``proctor.deployment.<uuid>``, named after the deployment) and tags (role ``tag``, one per tag):
the wire schema of ``proctor.runtime.run_events``, which this lower layer mirrors as constants.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from proctor.events.labels import ID_LABEL, NAME_LABEL, ROLE_LABEL
from proctor.triggers.definitions.events import EventTrigger

__all__ = (
    "FLOW_RUN_COMPLETED_STATES",
    "FLOW_RUN_EVENT_PREFIX",
    "FLOW_RUN_FAILED_STATES",
    "on_event",
    "on_flow_completed",
    "on_flow_failed",
)

FLOW_RUN_EVENT_PREFIX: Final = "proctor.flow-run"
"""Mirrors ``proctor.runtime.run_events.FLOW_RUN_PREFIX`` (a test keeps them equal)."""
FLOW_RUN_FAILED_STATES: Final = ("Failed", "Crashed", "TimedOut")
FLOW_RUN_COMPLETED_STATES: Final = ("Completed", "Cached")
_FLOW_ROLE: Final = "flow"
_DEPLOYMENT_ROLE: Final = "deployment"
_TAG_ROLE: Final = "tag"
_DEPLOYMENT_ID_PREFIX: Final = "proctor.deployment."

Names = str | Sequence[str] | None


def _patterns(value: str | Sequence[str]) -> str | list[str]:
    return value if isinstance(value, str) else list(value)


def _deployment_specs(deployment: str | Sequence[str]) -> list[dict[str, str | list[str]]]:
    """Match a deployment by id (a UUID given), by ``flow-name/deployment-name``, or by
    deployment name (anything else)."""
    if isinstance(deployment, str) and "/" in deployment:
        flow, _, name = deployment.partition("/")
        if not flow or not name or "/" in name:
            raise ValueError(f"deployment {deployment!r}: write 'flow-name/deployment-name'")
        return [
            {ROLE_LABEL: _DEPLOYMENT_ROLE, NAME_LABEL: name},
            {ROLE_LABEL: _FLOW_ROLE, NAME_LABEL: flow},
        ]
    return [_deployment_spec(deployment)]


def _deployment_spec(deployment: str | Sequence[str]) -> dict[str, str | list[str]]:
    values = [deployment] if isinstance(deployment, str) else list(deployment)
    if any("/" in value for value in values):
        raise ValueError(
            "deployment: 'flow-name/deployment-name' names one deployment; to match several, "
            "give their names or ids"
        )
    ids, names = [], []
    for value in values:
        try:
            ids.append(f"{_DEPLOYMENT_ID_PREFIX}{uuid.UUID(value)}")
        except ValueError:
            names.append(value)
    if ids and names:
        raise ValueError("deployment: give deployment ids or names, not a mix of both")
    label, patterns = (ID_LABEL, ids) if ids else (NAME_LABEL, names)
    return {ROLE_LABEL: _DEPLOYMENT_ROLE, label: patterns[0] if len(patterns) == 1 else patterns}


def _flow_run_trigger(
    states: Sequence[str],
    flow: Names,
    deployment: Names,
    tags: Sequence[str] | None,
    within: timedelta | None,
    threshold: int,
    for_each: Sequence[str],
) -> EventTrigger:
    related: list[dict[str, str | list[str]]] = []
    if flow is not None:
        related.append({ROLE_LABEL: _FLOW_ROLE, NAME_LABEL: _patterns(flow)})
    if deployment is not None:
        related.extend(_deployment_specs(deployment))
    if isinstance(tags, str):
        tags = [tags]
    related.extend({ROLE_LABEL: _TAG_ROLE, NAME_LABEL: tag} for tag in tags or ())
    return EventTrigger(
        expect=tuple(f"{FLOW_RUN_EVENT_PREFIX}.{state}" for state in states),
        match_related=related,
        for_each=tuple(for_each),
        threshold=threshold,
        within=within,
    )


def on_flow_failed(
    flow: Names = None,
    *,
    deployment: Names = None,
    tags: Sequence[str] | None = None,
    threshold: int = 1,
    within: timedelta | None = None,
    for_each: Sequence[str] = (),
) -> EventTrigger:
    """Fires when a flow run ends Failed, Crashed or TimedOut.

    ``flow`` and ``deployment`` take names (or patterns such as ``"etl-*"``, or several as a
    list; a deployment may also be given by id, or as ``"flow-name/deployment-name"``); every
    tag in ``tags`` must be on the run.
    ``on_flow_failed("etl", threshold=3, within=timedelta(hours=1))`` fires on the third
    failure within an hour.
    """
    return _flow_run_trigger(
        FLOW_RUN_FAILED_STATES, flow, deployment, tags, within, threshold, for_each
    )


def on_flow_completed(
    flow: Names = None,
    *,
    deployment: Names = None,
    tags: Sequence[str] | None = None,
    threshold: int = 1,
    within: timedelta | None = None,
    for_each: Sequence[str] = (),
) -> EventTrigger:
    """Fires when a flow run ends Completed (or Cached); arguments as for ``on_flow_failed``."""
    return _flow_run_trigger(
        FLOW_RUN_COMPLETED_STATES, flow, deployment, tags, within, threshold, for_each
    )


def on_event(
    name: str | Sequence[str],
    *,
    where: str | None = None,
    match: dict[str, str | list[str]] | None = None,
    threshold: int = 1,
    within: timedelta | None = None,
    for_each: Sequence[str] = (),
) -> EventTrigger:
    """Fires on events named ``name`` (or matching a name filter) that pass ``where``:
    ``on_event("github.push", where="$.payload.ref == 'refs/heads/main'")``."""
    names = (name,) if isinstance(name, str) else tuple(name)
    return EventTrigger(
        expect=names,
        where=where,
        match=match or {},
        threshold=threshold,
        within=within,
        for_each=tuple(for_each),
    )
