"""The automations an engine runs: where it loads them from, and an in-memory catalogue.

An ``AutomationSource`` lists every automation with its id (the trigger key: 1-128 letters,
digits, ``-`` or ``_``). The runtime's source reads the store (and derives the automations
that deployments' schedules own); ``InMemoryAutomations`` is the harness for tests and
embedded use, and also implements ``AutomationControl``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from proctor.automations.definition import Automation
from proctor.core.errors import ConfigurationError

__all__ = ("AutomationSource", "InMemoryAutomations", "LoadedAutomation")


@dataclass(frozen=True)
class LoadedAutomation:
    """An automation as an engine holds it: its id, its definition, and who owns it
    (``deployment:<id>`` for a deployment's schedule; ``None`` for users' automations)."""

    id: str
    automation: Automation
    owner: str | None = None

    @property
    def name(self) -> str:
        return self.automation.name

    @property
    def enabled(self) -> bool:
        return self.automation.enabled

    @cached_property
    def digest(self) -> str:
        return self.automation.digest()


class AutomationSource(Protocol):
    """Where an engine loads its automations from."""

    async def load_all(self) -> list[LoadedAutomation]:
        """Every automation, enabled or not."""
        ...


@dataclass
class InMemoryAutomations:
    """Automations in a dict: an ``AutomationSource`` and an ``AutomationControl``.

    ``paused`` records why each automation was paused (``pause_automation``'s reason).
    """

    items: dict[str, LoadedAutomation] = field(default_factory=dict)
    paused: dict[str, str] = field(default_factory=dict)

    def put(
        self, automation: Automation, *, id: str | None = None, owner: str | None = None
    ) -> LoadedAutomation:
        """Add or replace an automation (by ``id``, else by name); the loaded form."""
        if id is None:
            existing = self._find(automation.name)
            id = existing.id if existing is not None else str(uuid.uuid4())
        loaded = LoadedAutomation(id, automation, owner)
        self.items[id] = loaded
        return loaded

    def remove(self, reference: str) -> None:
        found = self._find(reference)
        if found is not None:
            del self.items[found.id]

    def _find(self, reference: str) -> LoadedAutomation | None:
        if reference in self.items:
            return self.items[reference]
        return next((a for a in self.items.values() if a.name == reference), None)

    def get(self, reference: str) -> LoadedAutomation:
        found = self._find(reference)
        if found is None:
            raise ConfigurationError(f"no automation named {reference!r}", setting="automation")
        return found

    async def load_all(self) -> list[LoadedAutomation]:
        return list(self.items.values())

    async def pause_automation(self, automation: str, *, reason: str) -> None:
        loaded = self.get(automation)
        self.paused[loaded.id] = reason
        disabled = loaded.automation.model_copy(update={"enabled": False})
        self.items[loaded.id] = LoadedAutomation(loaded.id, disabled, loaded.owner)

    async def resume_automation(self, automation: str) -> None:
        loaded = self.get(automation)
        self.paused.pop(loaded.id, None)
        enabled = loaded.automation.model_copy(update={"enabled": True})
        self.items[loaded.id] = LoadedAutomation(loaded.id, enabled, loaded.owner)
