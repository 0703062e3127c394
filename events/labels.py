"""Resources (labelled things an event is about) and the one matcher for labels.

A resource is a flat ``{label: value}`` mapping that must hold ``proctor.resource.id``;
a related resource must also hold ``proctor.resource.role``. A label specification
(``ResourceSpecification``) maps a label to a value pattern or a list of them:

- ``"value"`` exact, ``"prefix*"`` starts with, ``"*"`` any value (the label must be present);
- ``"!pattern"`` negation: the label must be absent or match none of the negated patterns.

Within one label, positive patterns are OR-ed; across labels, everything is AND-ed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import RootModel, field_validator

__all__ = (
    "ID_LABEL",
    "MAX_LABELS",
    "MAX_LABEL_KEY_LENGTH",
    "MAX_LABEL_VALUE_LENGTH",
    "NAME_LABEL",
    "ROLE_LABEL",
    "RelatedResource",
    "Resource",
    "ResourceSpecification",
    "check_labels",
)

ID_LABEL = "proctor.resource.id"
NAME_LABEL = "proctor.resource.name"
ROLE_LABEL = "proctor.resource.role"
MAX_LABELS = 64
MAX_LABEL_KEY_LENGTH = 256
MAX_LABEL_VALUE_LENGTH = 2048


def check_labels(labels: dict[str, str], required: Sequence[str]) -> dict[str, str]:
    """``labels`` if within the limits and holding every ``required`` label; else ``ValueError``."""
    if len(labels) > MAX_LABELS:
        raise ValueError(f"has {len(labels)} labels; the limit is {MAX_LABELS}")
    for key, value in labels.items():
        if not key or len(key) > MAX_LABEL_KEY_LENGTH:
            raise ValueError(f"label {key[:40]!r}: keys are 1 to {MAX_LABEL_KEY_LENGTH} characters")
        if len(value) > MAX_LABEL_VALUE_LENGTH:
            raise ValueError(
                f"label {key!r}: value is {len(value)} characters; the limit is "
                f"{MAX_LABEL_VALUE_LENGTH}"
            )
    for label in required:
        if not labels.get(label):
            raise ValueError(f"must hold a non-empty {label!r} label")
    return labels


class _Labelled(RootModel[dict[str, str]]):
    """A flat mapping of string labels to string values."""

    model_config = {"frozen": True}

    def __getitem__(self, label: str) -> str:
        return self.root[label]

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.root)

    def __len__(self) -> int:
        return len(self.root)

    def __contains__(self, label: object) -> bool:
        return label in self.root

    def get(self, label: str, default: str | None = None) -> str | None:
        return self.root.get(label, default)

    def items(self) -> Any:
        return self.root.items()

    @property
    def id(self) -> str:
        return self.root[ID_LABEL]

    @property
    def name(self) -> str | None:
        return self.root.get(NAME_LABEL)

    @property
    def labels(self) -> Mapping[str, str]:
        return self.root


class Resource(_Labelled):
    """The resource an event is about. Must hold ``proctor.resource.id``."""

    @field_validator("root", mode="after")
    @classmethod
    def _valid(cls, labels: dict[str, str]) -> dict[str, str]:
        return check_labels(labels, (ID_LABEL,))


class RelatedResource(_Labelled):
    """Another resource an event involves, with its ``proctor.resource.role`` in the event."""

    @field_validator("root", mode="after")
    @classmethod
    def _valid(cls, labels: dict[str, str]) -> dict[str, str]:
        return check_labels(labels, (ID_LABEL, ROLE_LABEL))

    @property
    def role(self) -> str:
        return self.root[ROLE_LABEL]


class _ValuePattern:
    __slots__ = ("any", "exact", "prefix")

    def __init__(self, pattern: str) -> None:
        self.any = pattern == "*"
        self.prefix = pattern[:-1] if pattern.endswith("*") and not self.any else None
        self.exact = pattern

    def matches(self, value: str) -> bool:
        if self.any:
            return True
        if self.prefix is not None:
            return value.startswith(self.prefix)
        return value == self.exact


class ResourceSpecification:
    """A compiled label filter: ``ResourceSpecification({"proctor.tag": ["prod", "!dev*"]})``."""

    __slots__ = ("_rules", "spec")

    def __init__(self, spec: Mapping[str, str | Sequence[str]]) -> None:
        self.spec = {k: [v] if isinstance(v, str) else list(v) for k, v in spec.items()}
        rules = []
        for label, patterns in self.spec.items():
            if not patterns:
                raise ValueError(f"label {label!r}: give at least one value pattern")
            positive = [_ValuePattern(p) for p in patterns if not p.startswith("!")]
            negative = [_ValuePattern(p[1:]) for p in patterns if p.startswith("!")]
            rules.append((label, positive, negative))
        self._rules = tuple(rules)

    def __repr__(self) -> str:
        return f"ResourceSpecification({self.spec!r})"

    def matches(self, labels: Mapping[str, str] | _Labelled) -> bool:
        """Whether one resource's labels satisfy every rule of this specification."""
        values = labels.root if isinstance(labels, _Labelled) else labels
        for label, positive, negative in self._rules:
            value = values.get(label)
            if value is None:
                if positive:
                    return False
                continue
            if positive and not any(p.matches(value) for p in positive):
                return False
            if any(n.matches(value) for n in negative):
                return False
        return True

    def matches_any(self, resources: Sequence[Mapping[str, str] | _Labelled]) -> bool:
        """Whether at least one of ``resources`` satisfies this specification."""
        return any(self.matches(r) for r in resources)
