"""``TriggerEvaluator``: events and clock ticks in, firings out; state behind a store.

Deterministic: time is an argument (``now``), events are placed in windows by their own
``occurred`` time, and every firing's id is derived from what fired it. ``evaluate(event,
now)`` finds candidate triggers through an index on event names (and on one exact-valued
label), checks labels and ``where``, and updates bucket state with compare-and-set (so
concurrent evaluations and replicas never lose a count). ``tick(now)`` closes proactive
windows, fires due schedule slots (through the shared schedule maths and catch-up policy) and
forgets idle buckets; ``next_deadline()`` says when the next tick is due, so the one clock loop
that drives it can sleep until then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from proctor.core.errors import ConfigurationError, TriggerStateConflictError
from proctor.events.model import Event
from proctor.triggers.definitions import Trigger
from proctor.triggers.evaluation.cache import StateCache
from proctor.triggers.evaluation.candidates import Candidates, Hit, candidates_for
from proctor.triggers.evaluation.combine import CombineStep, on_child
from proctor.triggers.evaluation.firings import (
    absence_firing,
    combined_firing,
    event_firing,
    slot_firing,
)
from proctor.triggers.evaluation.index import NameIndex
from proctor.triggers.evaluation.nodes import (
    CombineNode,
    EventNode,
    Node,
    ScheduleNode,
    compile_tree,
    walk_nodes,
)
from proctor.triggers.evaluation.windows import (
    UNCHANGED,
    WindowStep,
    arm,
    deadline_of,
    on_count,
    on_deadline,
    on_event,
)
from proctor.triggers.firing import Firing, MissedSlots
from proctor.triggers.schedules import SlotPlan, plan_slots
from proctor.triggers.state.base import TriggerStateStore
from proctor.triggers.state.memory import InMemoryTriggerStateStore
from proctor.triggers.state.records import (
    CombineRecord,
    EventRecord,
    Record,
    ScheduleRecord,
    StateRef,
)
from proctor.triggers.where import event_document

__all__ = ("DEFAULT_RETENTION", "Tick", "TriggerEvaluator")

DEFAULT_RETENTION: Final = timedelta(hours=1)
"""How long an idle bucket (and the event ids it remembers) is kept after its window."""
_KEY: Final = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_NAMES_CACHED: Final = 8192


@dataclass(frozen=True)
class Tick:
    """What a tick produced: firings, and schedule slots skipped by the catch-up policy."""

    firings: list[Firing] = field(default_factory=list)
    missed: list[MissedSlots] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Set:
    """A change that sets a record (``None``: leaves it)."""

    record: Record | None


@dataclass(frozen=True, slots=True)
class _ScheduleStep:
    record: ScheduleRecord | None
    plan: SlotPlan


Fired = list[tuple[Node, Firing]]


def _event_change(
    node: EventNode, hit: Hit, event_id: bytes, occurred: datetime, now: datetime
) -> Callable[[Record | None], WindowStep]:
    """The change an event makes to a bucket of ``node`` (see ``windows.on_event``)."""

    def change(record: Record | None) -> WindowStep:
        if record is not None and not isinstance(record, EventRecord):
            return UNCHANGED
        return on_event(
            node, record, event_id, occurred, expected=hit.expected, opens=hit.opens, now=now
        )

    return change


class TriggerEvaluator:
    """Evaluates the triggers added to it. One per engine process; state lives in ``store``."""

    def __init__(
        self,
        store: TriggerStateStore | None = None,
        *,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        if retention <= timedelta(0):
            raise ConfigurationError(
                f"retention must be positive, not {retention}", setting="retention"
            )
        self._retention = retention
        self._state = StateCache(
            store if store is not None else InMemoryTriggerStateStore(), self._wake_of
        )
        self._roots: dict[str, Node] = {}
        self._triggers: dict[str, Trigger] = {}
        self._nodes: dict[tuple[str, str], Node] = {}
        self._index: NameIndex[tuple[EventNode, bool]] = NameIndex()
        self._candidates: dict[str, Candidates] = {}

    @property
    def store(self) -> TriggerStateStore:
        return self._state.store

    def __contains__(self, key: object) -> bool:
        return key in self._roots

    def __len__(self) -> int:
        return len(self._roots)

    # -- loading ---------------------------------------------------------------------------

    async def add(self, key: str, trigger: Trigger, now: datetime) -> None:
        """Load ``trigger`` under ``key`` (replacing what was there), picking up stored state.

        ``key`` (e.g. the automation's id) is 1-128 letters, digits, ``-`` or ``_``. Proactive
        windows and schedules start at ``now`` unless the store already holds their state.
        """
        if not isinstance(key, str) or not _KEY.match(key):
            raise ConfigurationError(
                f"trigger key {key!r} must be 1-128 letters, digits, '-' or '_' (e.g. the "
                "automation's id)",
                setting="key",
            )
        if key in self._roots:
            await self.remove(key)
        root = compile_tree(key, trigger)
        self._roots[key] = root
        self._triggers[key] = trigger
        for node in walk_nodes(root):
            self._nodes[key, node.node_id] = node
            if not isinstance(node, ScheduleNode):
                node.keep = node.keep_for(self._retention)
            if isinstance(node, EventNode):
                for name in node.expect or (None,):
                    self._index.add(name, (node, True))
                for name in node.after:
                    self._index.add(name, (node, False))
        self._candidates.clear()
        for node in walk_nodes(root):
            if isinstance(node, EventNode) and node.proactive:
                await self._resume_windows(node, now)
            elif isinstance(node, ScheduleNode):
                ref = StateRef(key, node.node_id, ())
                await self._state.change(
                    ref, lambda r: _Set(ScheduleRecord(now, now) if r is None else None)
                )

    async def _resume_windows(self, node: EventNode, now: datetime) -> None:
        for ref, versioned in await self.store.scan(node.key, node.node_id):
            self._state.keep(ref, versioned)
        if node.heartbeat and not node.for_each:  # one window, opened when loaded
            ref = StateRef(node.key, node.node_id, ())
            await self._state.change(ref, lambda r: _Set(arm(now) if r is None else None))

    async def remove(self, key: str, *, forget_state: bool = False) -> None:
        """Unload the trigger under ``key``; with ``forget_state``, delete its stored state."""
        root = self._roots.pop(key, None)
        if root is None:
            return
        del self._triggers[key]
        nodes = walk_nodes(root)
        events = [node for node in nodes if isinstance(node, EventNode)]
        self._index.remove({(node, role) for node in events for role in (True, False)})
        self._candidates.clear()
        for node in nodes:
            self._nodes.pop((key, node.node_id), None)
        self._state.drop(key)
        if forget_state:
            for node in nodes:
                for ref, versioned in await self.store.scan(key, node.node_id):
                    try:
                        await self.store.delete(ref, versioned.revision)
                    except TriggerStateConflictError:
                        continue

    async def reload(self, key: str, now: datetime) -> None:
        """Forget what is cached of the trigger under ``key`` and read its state again from
        the store (after another evaluator changed it)."""
        trigger = self._triggers.get(key)
        if trigger is not None:
            await self.add(key, trigger, now)

    def concerns(self, name: str) -> bool:
        """Whether any loaded trigger counts or waits for events named ``name`` (cheap: the
        name index caches its answers), so events no trigger wants need not be decoded."""
        candidates = self._candidates.get(name)
        if candidates is None:
            return bool(self._index.lookup(name))
        return bool(candidates.plain or candidates.keyed)

    def _wake_of(self, ref: StateRef, record: Record) -> datetime | None:
        """When a record needs a visit: a schedule's next slot, a window's end, its expiry."""
        node = self._nodes.get((ref.trigger, ref.node))
        if node is None:
            return None
        if isinstance(record, ScheduleRecord):
            assert isinstance(node, ScheduleNode)
            return node.schedule.next_fire(record.handled_until)
        wake = record.touched + node.keep
        if isinstance(node, EventNode) and node.proactive and isinstance(record, EventRecord):
            deadline = deadline_of(node, record)
            if deadline is not None and deadline < wake:
                return deadline
        return wake

    # -- events ----------------------------------------------------------------------------

    def _hits(self, event: Event) -> Sequence[Hit]:
        candidates = self._candidates.get(event.event)
        if candidates is None:
            candidates = candidates_for(self._index, event.event)
            if len(self._candidates) >= _NAMES_CACHED:
                self._candidates.clear()
            self._candidates[event.event] = candidates
        return candidates.select(event)

    async def evaluate(self, event: Event, now: datetime) -> list[Firing]:
        """Apply ``event`` to every trigger it concerns; the firings it caused."""
        hits = self._hits(event)
        if not hits:
            return []
        document = None
        fired: Fired = []
        event_id, occurred = event.id.bytes, event.occurred
        state = self._state
        for hit in hits:
            node = hit.node
            if node.filters:
                if not node.accepts(event):
                    continue
                if node.where is not None:
                    if document is None:
                        document = event_document(event)
                    if not node.where.matches(document):
                        continue
            ref = node.root_ref or StateRef(node.key, node.node_id, node.bucket_of(event))
            cached = state.get(ref)
            if (
                cached is not None
                and node.counts_only
                and type(current := cached[0]) is EventRecord
            ):
                # The commonest case: a count in a cached record, saved at once. A reactive
                # record's visit is due ``keep`` after it was touched, later with each count:
                # a visit already planned comes soon enough (it plans the next if needed).
                record, counted = on_count(node, current, event_id, occurred, now)
                if record is None or state.store_now(
                    ref, record, cached, planned=current.touched == now or state.is_planned(ref)
                ):
                    if counted is not None:
                        firing = event_firing(node, ref.bucket, counted, occurred, now)
                        fired.append((node, firing))
                    continue
                cached = None  # could not save at once: the general path reads it again
            bucket = ref.bucket
            step: WindowStep | None = None
            if cached is not None and type(cached.record) is EventRecord:
                step = on_event(
                    node,
                    cached.record,
                    event_id,
                    occurred,
                    expected=hit.expected,
                    opens=hit.opens,
                    now=now,
                )
                if step.record is not None and not state.store_now(ref, step.record, cached):
                    step = None  # could not save at once: the general path reads it again
            if step is None:
                change = _event_change(node, hit, event_id, occurred, now)
                step = await state.change(ref, change)
            if step.absence is not None:
                fired.append((node, absence_firing(node, bucket, step.absence, now)))
            if step.counted is not None:
                assert step.occurred is not None
                fired.append((node, event_firing(node, bucket, step.counted, step.occurred, now)))
        return await self._propagate_all(fired, now) if fired else []

    async def _propagate_all(self, fired: Fired, now: datetime) -> list[Firing]:
        # Later children first: one event that fires steps 1 and 2 of a sequence fills one step.
        fired.sort(key=lambda pair: (pair[1].trigger, pair[1].path), reverse=True)
        results: list[Firing] = []
        for node, firing in fired:
            results.extend(await self._propagate(node, firing, now))
        results.sort(key=lambda firing: (firing.trigger, firing.path))
        return results

    async def _propagate(self, node: Node, firing: Firing, now: datetime) -> list[Firing]:
        """Hand a firing up through compound and sequence parents; the root's firing, if any."""
        parent = node.parent
        while parent is not None:

            def change(
                record: Record | None, parent: CombineNode = parent, firing: Firing = firing
            ) -> CombineStep:
                current = record if isinstance(record, CombineRecord) else None
                return on_child(parent, current, firing, now)

            step = await self._state.change(StateRef(parent.key, parent.node_id, ()), change)
            if step.fired is None:
                return []
            firing = combined_firing(parent, step.fired, now)
            parent = parent.parent
        return [firing]

    # -- the clock -------------------------------------------------------------------------

    def next_deadline(self) -> datetime | None:
        """When ``tick`` next has something to do (``None``: nothing is pending)."""
        return self._state.next_visit()

    async def tick(self, now: datetime) -> Tick:
        """Close proactive windows that ended, fire due schedule slots, forget idle buckets.

        Each record is visited at most once per tick: a long catch-up continues at the next
        tick (``next_deadline()`` is then already due).
        """
        result = Tick()
        fired: Fired = []
        for ref in self._state.due(now):
            node = self._nodes.get((ref.trigger, ref.node))
            if node is None or ref not in self._state:
                continue
            if isinstance(node, ScheduleNode):
                await self._tick_schedule(node, ref, now, fired, result.missed)
            elif isinstance(node, EventNode) and node.proactive:
                await self._tick_window(node, ref, now, fired)
            await self._expire(node, ref, now)
        if fired:
            result.firings.extend(await self._propagate_all(fired, now))
        return result

    async def _tick_window(
        self, node: EventNode, ref: StateRef, now: datetime, fired: Fired
    ) -> None:
        def change(record: Record | None) -> WindowStep:
            if not isinstance(record, EventRecord):
                return UNCHANGED
            return on_deadline(node, record, now)

        step = await self._state.change(ref, change)
        if step.absence is not None:
            fired.append((node, absence_firing(node, ref.bucket, step.absence, now)))

    async def _tick_schedule(
        self,
        node: ScheduleNode,
        ref: StateRef,
        now: datetime,
        fired: Fired,
        missed: list[MissedSlots],
    ) -> None:
        def change(record: Record | None) -> _ScheduleStep:
            handled = record.handled_until if isinstance(record, ScheduleRecord) else now
            plan = plan_slots(node.schedule, handled, now, node.catch_up)
            if plan.handled_until == handled and not plan.fire:
                return _ScheduleStep(None, plan)
            return _ScheduleStep(ScheduleRecord(plan.handled_until, now), plan)

        plan = (await self._state.change(ref, change)).plan
        fired.extend((node, slot_firing(node, slot, now)) for slot in plan.fire)
        if plan.skipped is not None:
            first, last = plan.skipped.first, plan.skipped.last
            missed.append(MissedSlots(node.key, node.path, node.schedule_id, first, last))

    async def _expire(self, node: Node, ref: StateRef, now: datetime) -> None:
        """Forget a record idle past its retention (windows closed); else plan its next visit."""
        current = self._state.get(ref)
        if current is None or self._state.is_planned(ref):
            return
        record = current.record
        idle = not isinstance(node, ScheduleNode) and record.touched + node.keep <= now
        open_window = (
            isinstance(node, EventNode)
            and isinstance(record, EventRecord)
            and (deadline_of(node, record) is not None)
        )
        if idle and not open_window:
            await self._state.delete(ref)
        else:
            self._state.plan(ref, record)
