"""Label specifications and ``for_each`` keys as they appear in trigger definitions.

A specification maps a label to a value pattern or a list of them (``"prod"``, ``"etl-*"``,
``"*"``, ``"!dev"``); it is compiled by ``proctor.events.labels.ResourceSpecification``, the one
label matcher. A ``for_each`` key names a label of the event's resource, or of a related
resource by role: ``related:<role>:<label>``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from proctor.events.labels import ResourceSpecification

__all__ = ("RELATED_PREFIX", "BucketLabel", "LabelPatterns", "RelatedPatterns", "split_key")

RELATED_PREFIX = "related:"


def _check_patterns(spec: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
    for label, value in spec.items():
        if not label:
            raise ValueError("a label name is empty")
        for pattern in [value] if isinstance(value, str) else value:
            if pattern in ("", "!"):
                raise ValueError(f"label {label!r}: value pattern {pattern!r} is empty")
    ResourceSpecification(spec)  # raises ValueError naming the label
    return spec


def _as_list(value: Any) -> Any:
    if isinstance(value, dict):
        return [value] if value else []
    return value


LabelPatterns = Annotated[dict[str, str | list[str]], AfterValidator(_check_patterns)]
"""``{label: pattern or [patterns]}``: positive patterns OR-ed, labels AND-ed, ``!`` negates."""

RelatedPatterns = Annotated[list[LabelPatterns], BeforeValidator(_as_list)]
"""Each specification must be met by at least one related resource (a dict is one spec)."""


def split_key(key: str) -> tuple[str | None, str]:
    """``(role, label)`` of a ``for_each`` key; role ``None`` for the event's own resource."""
    if key.startswith(RELATED_PREFIX):
        role, _, label = key[len(RELATED_PREFIX) :].partition(":")
        return role, label
    return None, key


def _check_key(key: str) -> str:
    role, label = split_key(key)
    if not label or role == "":
        raise ValueError(
            f"for_each key {key!r}: give a label of the resource ('proctor.resource.id') or "
            "'related:<role>:<label>' (e.g. 'related:flow:proctor.resource.name')"
        )
    return key


BucketLabel = Annotated[str, AfterValidator(_check_key)]
"""A ``for_each`` key: a resource label, or ``related:<role>:<label>``."""
