"""A trigger tree compiled for evaluation: filters compiled once, each node with its id.

A node's id is a digest of its path and definition, so its stored state follows the
definition: change a trigger and its nodes start from empty state; leave it and a restarted
engine picks up the counts where they were.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from proctor.events.labels import ResourceSpecification
from proctor.events.model import Event
from proctor.events.names import NameFilter, compile_filter
from proctor.triggers.definitions import (
    CompoundTrigger,
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    SequenceTrigger,
    Trigger,
)
from proctor.triggers.definitions.labels import split_key
from proctor.triggers.firing import firing_prefix, path_text
from proctor.triggers.schedules import CatchUp, Schedule
from proctor.triggers.state.records import StateRef
from proctor.triggers.where import Where, compile_where

__all__ = ("CombineNode", "EventNode", "Node", "ScheduleNode", "compile_tree", "walk_nodes")


@dataclass(eq=False, kw_only=True)
class _Base:
    key: str
    path: tuple[int, ...]
    node_id: str
    parent: CombineNode | None = field(default=None, repr=False)
    keep: timedelta = timedelta(0)
    """How long an idle record of this node is kept; the evaluator sets it (``keep_for``)."""
    id_prefix: str = ""

    def __post_init__(self) -> None:
        self.id_prefix = firing_prefix(self.key, self.path)

    @property
    def index(self) -> int:
        """This node's position among its parent's triggers."""
        return self.path[-1]


@dataclass(eq=False, kw_only=True)
class EventNode(_Base):
    """An ``EventTrigger``, with its filters compiled."""

    trigger: EventTrigger = field(repr=False)
    expect: tuple[NameFilter, ...]
    after: tuple[NameFilter, ...]
    match: ResourceSpecification | None
    related: tuple[ResourceSpecification, ...]
    where: Where | None
    for_each: tuple[tuple[str | None, str], ...]
    threshold: int
    within: timedelta | None
    proactive: bool
    counts_only: bool = field(init=False)
    """Reactive without ``after``: each event is counted (``windows.on_count``)."""
    filters: bool = field(init=False)
    """Has ``match``, ``match_related`` or ``where``: not every event of its names passes."""
    root_ref: StateRef | None = field(init=False)
    """The one record of a node without ``for_each`` (made once, not per event)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.counts_only = not self.proactive and not self.after
        self.filters = self.match is not None or bool(self.related) or self.where is not None
        self.root_ref = None if self.for_each else StateRef(self.key, self.node_id, ())

    @property
    def discriminator(self) -> tuple[str, tuple[str, ...]] | None:
        """A resource label ``match`` requires to hold one of a few exact values, if any: the
        evaluator indexes on it, so a thousand triggers told apart by a label cost one lookup.
        """
        for label in sorted(self.trigger.match):
            value = self.trigger.match[label]
            patterns = (value,) if isinstance(value, str) else tuple(value)
            if all(not p.endswith("*") and not p.startswith("!") for p in patterns):
                return label, patterns
        return None

    @property
    def heartbeat(self) -> bool:
        """Proactive without ``after``: expected events themselves open windows."""
        return self.proactive and not self.after

    def keep_for(self, retention: timedelta) -> timedelta:
        """How long an idle bucket is kept: its window, and then the retention."""
        return retention if self.within is None else self.within + retention

    def accepts(self, event: Event) -> bool:
        """Whether the event's labels pass ``match`` and ``match_related`` (not ``where``)."""
        if self.match is not None and not self.match.matches(event.resource):
            return False
        return all(spec.matches_any(event.related) for spec in self.related)

    def bucket_of(self, event: Event) -> tuple[str, ...]:
        """The values of the ``for_each`` labels in ``event`` (missing labels are ``""``)."""
        if not self.for_each:
            return ()
        values: list[str] = []
        for role, label in self.for_each:
            if role is None:
                values.append(event.resource.get(label) or "")
                continue
            value = ""
            for related in event.related:
                if related.role == role:
                    value = related.get(label) or ""
                    break
            values.append(value)
        return tuple(values)


@dataclass(eq=False, kw_only=True)
class CombineNode(_Base):
    """A ``CompoundTrigger`` or ``SequenceTrigger`` over compiled children."""

    sequence: bool
    required: int
    within: timedelta | None
    children: list[Node] = field(default_factory=list, repr=False)

    def keep_for(self, retention: timedelta) -> timedelta:
        """How long an idle record is kept: its window, and then the retention."""
        return retention if self.within is None else self.within + retention


@dataclass(eq=False, kw_only=True)
class ScheduleNode(_Base):
    """A ``CronTrigger`` or ``IntervalTrigger`` with its schedule maths."""

    schedule: Schedule = field(repr=False)
    catch_up: CatchUp

    @property
    def schedule_id(self) -> str:
        """The id its slot ids derive from: the trigger key, and the path if nested."""
        return self.key if not self.path else f"{self.key}/{path_text(self.path)}"


Node = EventNode | CombineNode | ScheduleNode


def _node_id(path: tuple[int, ...], trigger: Trigger) -> str:
    text = f"{path_text(path)}\x1f{trigger.model_dump_json()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compile_tree(
    key: str, trigger: Trigger, path: tuple[int, ...] = (), parent: CombineNode | None = None
) -> Node:
    """Compile ``trigger`` (loaded under ``key``) and its children."""
    node_id = _node_id(path, trigger)
    if isinstance(trigger, EventTrigger):
        return EventNode(
            key=key,
            path=path,
            node_id=node_id,
            parent=parent,
            trigger=trigger,
            expect=tuple(compile_filter(name) for name in trigger.expect),
            after=tuple(compile_filter(name) for name in trigger.after),
            match=ResourceSpecification(trigger.match) if trigger.match else None,
            related=tuple(ResourceSpecification(spec) for spec in trigger.match_related),
            where=compile_where(trigger.where) if trigger.where is not None else None,
            for_each=tuple(split_key(label) for label in trigger.for_each),
            threshold=trigger.threshold,
            within=trigger.within,
            proactive=trigger.posture == "proactive",
        )
    if isinstance(trigger, CronTrigger | IntervalTrigger):
        return ScheduleNode(
            key=key,
            path=path,
            node_id=node_id,
            parent=parent,
            schedule=trigger.schedule(),
            catch_up=trigger.catch_up,
        )
    sequence = isinstance(trigger, SequenceTrigger)
    node = CombineNode(
        key=key,
        path=path,
        node_id=node_id,
        parent=parent,
        sequence=sequence,
        required=len(trigger.triggers) if sequence else _required(trigger),
        within=trigger.within,
    )
    node.children = [
        compile_tree(key, child, (*path, index), node)
        for index, child in enumerate(trigger.triggers)
    ]
    return node


def _required(trigger: CompoundTrigger | SequenceTrigger) -> int:
    assert isinstance(trigger, CompoundTrigger)
    return trigger.required


def walk_nodes(node: Node) -> list[Node]:
    """``node`` and every node below it, parents first."""
    found: list[Node] = [node]
    if isinstance(node, CombineNode):
        for child in node.children:
            found.extend(walk_nodes(child))
    return found
