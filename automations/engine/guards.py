"""Debounce and throttle: which firings become actions, kept in a ``KeyValueStore`` with
compare-and-set so every engine replica (and a restarted one) agrees.

- ``throttle(limit, per)``: a firing is admitted if fewer than ``limit`` were admitted in the
  last ``per``; the rest are dropped, and the first one dropped in a stretch is reported.
  Admission is idempotent per firing id: a re-evaluated firing gets the same answer.
- ``debounce``: a firing is held; each newer firing replaces it and restarts the wait; when
  the automation has been quiet for ``debounce``, the held firing is released (by whichever
  replica claims it first, with a compare-and-set delete).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from proctor.automations.definition import Throttle
from proctor.automations.engine.catalog import LoadedAutomation
from proctor.automations.engine.kv import KeyValueStore
from proctor.events.model import Event
from proctor.triggers.firing import Firing

__all__ = ("Admission", "Guards", "Held", "throttle_step")

log = logging.getLogger(__name__)

_ATTEMPTS: Final = 16


@dataclass(frozen=True, slots=True)
class Held:
    """A firing released by its debounce, with the event that completed it."""

    automation_id: str
    firing: Firing
    event: Event | None


@dataclass(frozen=True, slots=True)
class Admission:
    """``admit``'s answer: go ahead, hold (debounce), or drop (throttle; ``report`` on the
    first drop of a stretch)."""

    admitted: bool
    held: bool = False
    report: str | None = None


def throttle_step(
    admitted: list[tuple[str, datetime]], firing_id: str, throttle: Throttle, now: datetime
) -> tuple[bool, list[tuple[str, datetime]]]:
    """Whether ``firing_id`` is admitted at ``now``, and the admissions to keep."""
    if any(known == firing_id for known, _ in admitted):
        return True, admitted
    recent = [(known, at) for known, at in admitted if at > now - throttle.per]
    if len(recent) < throttle.limit:
        return True, [*recent, (firing_id, now)]
    return False, recent


def _throttle_key(automation_id: str) -> str:
    return f"{automation_id}.throttle"


def _debounce_key(automation_id: str) -> str:
    return f"{automation_id}.debounce"


@dataclass
class Guards:
    """Applies each automation's debounce and throttle."""

    kv: KeyValueStore
    _held: dict[str, datetime] = field(default_factory=dict)
    """Automations with a held firing, and when it is due (what this replica knows)."""

    async def resume(self, automations: list[LoadedAutomation]) -> None:
        """Learn of firings held before a restart (or by another replica)."""
        debounced = {a.id for a in automations if a.automation.debounce is not None}
        for key in await self.kv.keys("*.debounce"):
            automation_id = key.removesuffix(".debounce")
            if automation_id not in debounced:
                continue
            stored = await self.kv.get(key)
            if stored is not None:
                self._held[automation_id] = datetime.fromisoformat(json.loads(stored[0])["due"])

    def next_deadline(self) -> datetime | None:
        return min(self._held.values(), default=None)

    async def admit(
        self, loaded: LoadedAutomation, firing: Firing, event: Event | None, now: datetime
    ) -> Admission:
        """Apply debounce (hold the firing) or throttle (admit or drop it)."""
        automation = loaded.automation
        if automation.debounce is not None:
            await self._hold(loaded.id, firing, event, now + automation.debounce)
            return Admission(admitted=False, held=True)
        return await self.throttle(loaded, firing, now)

    async def throttle(self, loaded: LoadedAutomation, firing: Firing, now: datetime) -> Admission:
        throttle = loaded.automation.throttle
        if throttle is None:
            return Admission(admitted=True)
        key = _throttle_key(loaded.id)
        for _ in range(_ATTEMPTS):
            stored = await self.kv.get(key)
            record: dict[str, Any] = json.loads(stored[0]) if stored else {}
            admitted = [(i, datetime.fromisoformat(at)) for i, at in record.get("admitted", [])]
            allowed, kept = throttle_step(admitted, str(firing.id), throttle, now)
            reported = bool(record.get("reported")) and not allowed
            new = {
                "admitted": [[i, at.isoformat()] for i, at in kept],
                "reported": not allowed,
            }
            revision = await self.kv.put(
                key, json.dumps(new).encode(), stored[1] if stored else None
            )
            if revision is not None:
                if allowed:
                    return Admission(admitted=True)
                detail = f"more than {throttle.limit} firings within {throttle.per}"
                return Admission(admitted=False, report=None if reported else detail)
        log.warning("automation %s: throttle state kept changing; admitting", loaded.id)
        return Admission(admitted=True)

    async def _hold(
        self, automation_id: str, firing: Firing, event: Event | None, due: datetime
    ) -> None:
        key = _debounce_key(automation_id)
        value = json.dumps(
            {
                "due": due.isoformat(),
                "firing": firing.model_dump(mode="json"),
                "event": event.model_dump(mode="json") if event is not None else None,
            }
        ).encode()
        for _ in range(_ATTEMPTS):
            stored = await self.kv.get(key)
            if await self.kv.put(key, value, stored[1] if stored else None) is not None:
                self._held[automation_id] = due
                return
        log.warning("automation %s: could not hold a debounced firing", automation_id)

    async def release(self, now: datetime) -> list[Held]:
        """The held firings whose quiet time has come, each claimed by this replica."""
        released: list[Held] = []
        for automation_id, due in list(self._held.items()):
            if due > now:
                continue
            key = _debounce_key(automation_id)
            stored = await self.kv.get(key)
            if stored is None:
                del self._held[automation_id]
                continue
            record = json.loads(stored[0])
            stored_due = datetime.fromisoformat(record["due"])
            if stored_due > now:  # a newer firing restarted the wait
                self._held[automation_id] = stored_due
                continue
            del self._held[automation_id]
            if await self.kv.delete(key, stored[1]):
                event = record["event"]
                released.append(
                    Held(
                        automation_id,
                        Firing.model_validate(record["firing"]),
                        Event.model_validate(event) if event is not None else None,
                    )
                )
        return released

    def forget(self, automation_id: str) -> None:
        self._held.pop(automation_id, None)
