"""``CompoundTrigger`` and ``SequenceTrigger`` (they nest), and ``Trigger``, the tagged union."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, model_validator

from proctor.triggers.definitions.events import EventTrigger
from proctor.triggers.definitions.schedules import CronTrigger, IntervalTrigger

__all__ = (
    "MAX_DEPTH",
    "MAX_TRIGGERS",
    "CompoundTrigger",
    "SequenceTrigger",
    "Trigger",
    "parse_trigger",
    "walk",
)

MAX_DEPTH: Final = 8
"""Deepest nesting of compound and sequence triggers."""
MAX_TRIGGERS: Final = 64
"""Most triggers in one tree, counting every level."""


def _check_within(within: timedelta | None) -> None:
    if within is not None and within <= timedelta(0):
        raise ValueError(f"within must be positive, not {within}")


def _check_tree(root: CompoundTrigger | SequenceTrigger) -> None:
    count = 0
    for path, _ in walk(root):
        count += 1
        if len(path) > MAX_DEPTH:
            raise ValueError(f"triggers nest {len(path)} levels deep; the limit is {MAX_DEPTH}")
    if count > MAX_TRIGGERS:
        raise ValueError(f"holds {count} triggers in all; the limit is {MAX_TRIGGERS}")


class CompoundTrigger(BaseModel):
    """Fires when ``require`` of its triggers (``any``, ``all`` or a number) have fired within
    ``within`` of each other, in any order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["compound"] = Field(default="compound", description="Discriminator.")
    triggers: tuple[Trigger, ...] = Field(
        min_length=1, description="The triggers to combine (any kind; they nest)."
    )
    require: Literal["any", "all"] | StrictInt = Field(
        default="all", description="How many must fire: 'any', 'all', or a number."
    )
    within: timedelta | None = Field(
        default=None,
        description="Longest time from the first to the last of the firings that count; none: "
        "no limit.",
    )

    @model_validator(mode="after")
    def _valid(self) -> Self:
        _check_within(self.within)
        if isinstance(self.require, int) and not 1 <= self.require <= len(self.triggers):
            raise ValueError(
                f"require is {self.require}; give 'any', 'all' or a number from 1 to "
                f"{len(self.triggers)} (the number of triggers)"
            )
        _check_tree(self)
        return self

    @property
    def required(self) -> int:
        """``require`` as a number of distinct triggers."""
        if self.require == "any":
            return 1
        if self.require == "all":
            return len(self.triggers)
        return self.require


class SequenceTrigger(BaseModel):
    """Fires when its triggers have fired in order (others may fire in between), the first to
    the last within ``within``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["sequence"] = Field(default="sequence", description="Discriminator.")
    triggers: tuple[Trigger, ...] = Field(
        min_length=2, description="The triggers, in the order they must fire (they nest)."
    )
    within: timedelta | None = Field(
        default=None,
        description="Longest time from the first firing to the last; none: no limit.",
    )

    @model_validator(mode="after")
    def _valid(self) -> Self:
        _check_within(self.within)
        _check_tree(self)
        return self


Trigger = Annotated[
    EventTrigger | CompoundTrigger | SequenceTrigger | CronTrigger | IntervalTrigger,
    Field(discriminator="type"),
]
"""Any trigger: a tagged union on ``type``, for ``Automation(trigger=...)`` and the API."""

CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()

_ADAPTER: TypeAdapter[Trigger] = TypeAdapter(Trigger)


def parse_trigger(data: Any) -> Trigger:
    """A trigger from JSON text/bytes or plain data; ``pydantic.ValidationError`` naming the
    field otherwise."""
    if isinstance(data, str | bytes | bytearray):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(data)


def walk(trigger: Trigger, path: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], Trigger]]:
    """Every trigger of the tree with its path (child indexes from the root), parents first."""
    found: list[tuple[tuple[int, ...], Trigger]] = [(path, trigger)]
    if isinstance(trigger, CompoundTrigger | SequenceTrigger):
        for index, child in enumerate(trigger.triggers):
            found.extend(walk(child, (*path, index)))
    return found
