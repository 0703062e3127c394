"""The triggers an event name concerns, with the roles the name plays for each, and an index on
one exact-valued label so that many triggers told apart by a label cost one lookup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from proctor.events.model import Event
from proctor.triggers.evaluation.index import NameIndex
from proctor.triggers.evaluation.nodes import EventNode

__all__ = ("Candidates", "Hit", "candidates_for")


@dataclass(frozen=True, slots=True)
class Hit:
    """An event trigger an event name concerns: as an ``expect`` name, an ``after`` name, both."""

    node: EventNode
    expected: bool
    opens: bool


@dataclass(frozen=True, slots=True)
class Candidates:
    """Hits to check for every event of a name, and hits indexed by one resource label."""

    plain: tuple[Hit, ...]
    keyed: tuple[tuple[str, dict[str, tuple[Hit, ...]]], ...]

    @classmethod
    def of(cls, hits: list[Hit]) -> Candidates:
        plain: list[Hit] = []
        keyed: dict[str, dict[str, list[Hit]]] = {}
        for hit in hits:
            discriminator = hit.node.discriminator
            if discriminator is None:
                plain.append(hit)
                continue
            label, values = discriminator
            for value in values:
                keyed.setdefault(label, {}).setdefault(value, []).append(hit)
        tables = tuple(
            (label, {value: tuple(found) for value, found in table.items()})
            for label, table in keyed.items()
        )
        return cls(tuple(plain), tables)

    def select(self, event: Event) -> Sequence[Hit]:
        """The hits left once the event's indexed labels are looked up."""
        if not self.keyed:
            return self.plain
        selected = list(self.plain)
        labels = event.resource.root
        for label, table in self.keyed:
            value = labels.get(label)
            if value is not None:
                selected.extend(table.get(value, ()))
        return selected


def candidates_for(index: NameIndex[tuple[EventNode, bool]], name: str) -> Candidates:
    """The candidates for ``name`` from an index of ``(node, is_expect)`` registrations."""
    roles: dict[EventNode, list[bool]] = {}
    for node, expected in index.lookup(name):
        flags = roles.setdefault(node, [False, False])
        flags[0 if expected else 1] = True
    return Candidates.of([Hit(node, flags[0], flags[1]) for node, flags in roles.items()])
