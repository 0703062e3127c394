"""``Automation``: a trigger and the actions it runs, as one JSON-serialisable definition.

``Automation(name, trigger, actions, ...)`` validates everything it can without a server when
it is made: unknown fields, bad cron expressions, JSONPath filters and templates are refused
with an error naming the field. ``to_json()`` / ``from_json()`` round-trip exactly (secrets
included); ``model_dump_json()`` masks secrets.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from proctor.automations.actions import Action
from proctor.automations.secrets import reveal_context
from proctor.triggers.definitions import CronTrigger, IntervalTrigger, Trigger

__all__ = ("MAX_ACTIONS", "MAX_DEBOUNCE", "Automation", "Throttle")

MAX_ACTIONS: Final = 32
"""Most actions one automation may run."""
MAX_DEBOUNCE: Final = timedelta(days=1)
"""Longest debounce: a pending firing waits at most this long."""
_MAX_NAME: Final = 200


class Throttle(BaseModel):
    """At most ``limit`` firings in any period of length ``per`` (a sliding window); the
    firings beyond it are dropped and reported."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: int = Field(ge=1, le=1000, description="Most firings within any `per`.")
    per: timedelta = Field(description="The length of the sliding window.")

    @field_validator("per", mode="after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"must be positive, not {value}")
        return value


class Automation(BaseModel):
    """When ``trigger`` fires, run ``actions`` in order (each with an idempotency key derived
    from the firing)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=_MAX_NAME,
        description="Unique name: `proctor automation apply` creates or updates by it.",
    )
    description: str = Field(default="", max_length=10_000, description="What it is for.")
    trigger: Trigger = Field(description="When it fires.")
    actions: tuple[Action, ...] = Field(
        min_length=1, max_length=MAX_ACTIONS, description="What it does, in order."
    )
    enabled: bool = Field(default=True, description="False: loaded but never fires (paused).")
    tags: tuple[str, ...] = Field(default=(), description="Free labels, for filtering.")
    debounce: timedelta | None = Field(
        default=None,
        description="Fire only once the trigger has been quiet this long (the latest firing "
        "runs); none: fire at once.",
    )
    throttle: Throttle | None = Field(
        default=None, description="At most `limit` firings `per` period; none: no limit."
    )

    @field_validator("name", mode="after")
    @classmethod
    def _name(cls, value: str) -> str:
        if value != value.strip() or any(not c.isprintable() for c in value):
            raise ValueError(
                "must be printable and not start or end with spaces (e.g. 'etl failures')"
            )
        return value

    @field_validator("debounce", mode="after")
    @classmethod
    def _debounce(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and not timedelta(0) < value <= MAX_DEBOUNCE:
            raise ValueError(f"must be positive and at most {MAX_DEBOUNCE}, not {value}")
        return value

    @model_validator(mode="after")
    def _actions_fit_the_trigger(self) -> Self:
        if isinstance(self.trigger, CronTrigger | IntervalTrigger):
            for index, action in enumerate(self.actions):
                if action.needs_event_run():
                    raise ValueError(
                        f"actions.{index}: {action.kind} acts on the flow run an event is "
                        f"about, but this automation's trigger is a schedule ({self.trigger.type}"
                        "): name the deployment or flow run explicitly"
                    )
        return self

    def to_json(self) -> str:
        """JSON with secrets revealed: what the API stores. ``from_json`` reads it back equal."""
        return self.model_dump_json(context=reveal_context())

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-compatible data with secrets revealed (the API request body)."""
        data: dict[str, Any] = self.model_dump(mode="json", context=reveal_context())
        return data

    @classmethod
    def from_json(cls, data: str | bytes) -> Self:
        """An automation from ``to_json()`` output (``ValidationError`` naming the field)."""
        return cls.model_validate_json(data)

    def digest(self) -> str:
        """A SHA-256 of the full definition: equal digests, equal automations."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()
