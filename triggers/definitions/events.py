"""``EventTrigger``: fires on matching events (reactive) or on their absence (proactive)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from proctor.events.names import NameFilter
from proctor.triggers.definitions.labels import BucketLabel, LabelPatterns, RelatedPatterns
from proctor.triggers.where import compile_where

__all__ = ("EventTrigger", "NamePattern")


def _check_name(pattern: str) -> str:
    NameFilter(pattern)  # EventError (a ValueError) says which token is wrong
    return pattern


def _check_where(text: str | None) -> str | None:
    if text is not None:
        compile_where(text)
    return text


NamePattern = Annotated[str, AfterValidator(_check_name)]
"""An event name or name filter: ``github.push``, ``proctor.flow-run.*``, ``shop.>``."""


class EventTrigger(BaseModel):
    """Fires when events match — or, proactive, when too few arrive in time.

    Reactive: fires when ``threshold`` matching ``expect`` events arrive within ``within``
    (the window opens at the first counted event, or at an ``after`` event if ``after`` is
    given), separately for each ``for_each`` bucket; the bucket then starts over.
    Proactive: an ``after`` event opens a window of ``within``; the trigger fires when it
    closes with fewer than ``threshold`` ``expect`` events in it. Without ``after``, each
    ``expect`` event (re)opens its bucket's window (a heartbeat monitor), and the bucket without
    ``for_each`` labels opens when the trigger is loaded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["event"] = Field(default="event", description="Discriminator: 'event'.")
    expect: tuple[NamePattern, ...] = Field(
        default=(),
        description="Names (or filters: '*' one token, 'prefix*', '>' the rest) of the events "
        "that count. Empty: every event counts.",
    )
    after: tuple[NamePattern, ...] = Field(
        default=(),
        description="Names of the events that open a window; empty: the window opens at the "
        "first counted event (reactive) or when the trigger is loaded (proactive).",
    )
    match: LabelPatterns = Field(
        default_factory=dict,
        description="Labels the event's resource must have: {label: pattern or [patterns]}; "
        "'prefix*' and '*' match, '!pattern' excludes.",
    )
    match_related: RelatedPatterns = Field(
        default_factory=list,
        description="Label specifications that related resources must meet: each one by at "
        "least one related resource (e.g. {'proctor.resource.role': 'flow', "
        "'proctor.resource.name': 'etl'}).",
    )
    where: Annotated[str | None, AfterValidator(_check_where)] = Field(
        default=None,
        description="A JSONPath filter over the event as JSON, e.g. "
        "\"$.payload.ref == 'refs/heads/main'\" (see proctor.triggers.where).",
    )
    for_each: tuple[BucketLabel, ...] = Field(
        default=(),
        description="Count separately per distinct value of these labels: resource labels, or "
        "'related:<role>:<label>'.",
    )
    posture: Literal["reactive", "proactive"] = Field(
        default="reactive",
        description="'reactive' fires on matching events; 'proactive' on their absence.",
    )
    threshold: int = Field(
        default=1,
        ge=1,
        description="How many matching events fire it (reactive), or must arrive to prevent "
        "firing (proactive).",
    )
    within: timedelta | None = Field(
        default=None,
        validate_default=True,
        description="Length of the window. Reactive: none means no time limit. Proactive: "
        "required.",
    )

    @field_validator("within", mode="after")
    @classmethod
    def _window(cls, within: timedelta | None, info: ValidationInfo) -> timedelta | None:
        if within is not None and within <= timedelta(0):
            raise ValueError(f"must be positive, not {within}")
        if within is None and info.data.get("posture") == "proactive":
            raise ValueError(
                "is required when posture is 'proactive': how long to wait for the expected events"
            )
        return within
