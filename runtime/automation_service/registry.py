"""Automations in the store: create, read, update, delete, pause, resume, apply a set by name.

A row of ``store.automations`` holds the definition whole (secrets included: the store is
trusted; the API never shows them) under ``definition["automation"]``. The automations that
deployments' schedules own are not stored: they are derived from the deployments, listed
here read-only. Every change is published as an event (``proctor.automation.created``,
``.updated``, ``.deleted``, ``.paused``, ``.resumed``): engines reload on them, and they are
the audit trail. ``AutomationRegistry`` is also the engine's ``AutomationSource`` and
``AutomationControl``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from proctor.automations import Automation, PauseDeployment, ResumeDeployment, RunDeployment
from proctor.automations.applying import ApplyReport, Stored, plan_apply
from proctor.automations.engine import LoadedAutomation
from proctor.automations.engine.reports import automation_resource
from proctor.automations.records import AutomationInfo
from proctor.automations.validation import masked_secrets, parse_automation
from proctor.core.errors import ConflictError, DefinitionError, ProctorError
from proctor.events.bus.base import EventBus
from proctor.events.model import Event
from proctor.runtime.automation_service.schedules import schedule_automations
from proctor.runtime.store import Store
from proctor.runtime.store.control import AutomationRow, DeploymentRow

__all__ = ("CHANGED", "AutomationRegistry", "StoredAutomation", "info_of")

log = logging.getLogger(__name__)

CHANGED: Final = (
    "proctor.automation.created",
    "proctor.automation.updated",
    "proctor.automation.deleted",
    "proctor.automation.paused",
    "proctor.automation.resumed",
)
"""The events that say the set of automations changed (engines reload on them)."""
_PAGE: Final = 1000


@dataclass(frozen=True)
class StoredAutomation:
    """An automation as stored (or derived from a deployment), with its row's metadata."""

    loaded: LoadedAutomation
    created: datetime | None = None
    updated: datetime | None = None
    paused_reason: str | None = None

    @property
    def id(self) -> str:
        return self.loaded.id

    @property
    def automation(self) -> Automation:
        return self.loaded.automation


def info_of(stored: StoredAutomation) -> AutomationInfo:
    """The API's view of a stored automation (secrets masked)."""
    automation = stored.automation
    return AutomationInfo(
        id=stored.id,
        name=automation.name,
        enabled=automation.enabled,
        owner=stored.loaded.owner,
        paused_reason=stored.paused_reason,
        digest=automation.digest(),
        created=stored.created,
        updated=stored.updated,
        automation=automation.model_dump(mode="json"),
    )


def _row_definition(automation: Automation, paused_reason: str | None) -> dict[str, Any]:
    return {"automation": automation.to_data(), "paused_reason": paused_reason}


def _stored(row: AutomationRow) -> StoredAutomation | None:
    try:
        automation = parse_automation(row.definition["automation"])
    except (DefinitionError, KeyError, TypeError) as error:
        log.error("automation %s (%s) cannot be read, skipped: %s", row.id, row.name, error)
        return None
    return StoredAutomation(
        LoadedAutomation(str(row.id), automation),
        created=row.created,
        updated=row.updated,
        paused_reason=row.definition.get("paused_reason"),
    )


class AutomationRegistry:
    """The automations of one server, over its store (and its bus, for change events)."""

    def __init__(self, store: Store, bus: EventBus | None = None) -> None:
        self.store = store
        self.bus = bus

    # -- reading ---------------------------------------------------------------------------

    async def _rows(self) -> list[AutomationRow]:
        rows: list[AutomationRow] = []
        token: str | None = None
        while True:
            page = await self.store.automations.list(limit=_PAGE, page_token=token)
            rows.extend(page.items)
            token = page.next_page
            if token is None:
                return rows

    async def _deployments(self) -> list[DeploymentRow]:
        rows: list[DeploymentRow] = []
        token: str | None = None
        while True:
            page = await self.store.deployments.list(limit=_PAGE, page_token=token)
            rows.extend(page.items)
            token = page.next_page
            if token is None:
                return rows

    async def all(self, *, owned: bool = True) -> list[StoredAutomation]:
        """Every automation, by name; with ``owned``, the deployments' schedules too."""
        found = [stored for row in await self._rows() if (stored := _stored(row)) is not None]
        if owned:
            for deployment in await self._deployments():
                found.extend(
                    StoredAutomation(loaded, created=deployment.created, updated=deployment.updated)
                    for loaded in schedule_automations(
                        deployment.id,
                        deployment.flow_name,
                        deployment.name,
                        deployment.schedules,
                        paused=deployment.paused,
                    )
                )
        return sorted(found, key=lambda stored: (stored.automation.name, stored.id))

    async def find(self, reference: str) -> StoredAutomation | None:
        """The automation with this id or name."""
        for stored in await self.all():
            if reference in (stored.id, stored.automation.name):
                return stored
        return None

    async def load_all(self) -> list[LoadedAutomation]:
        """``AutomationSource``: every automation an engine runs."""
        return [stored.loaded for stored in await self.all()]

    # -- checks ----------------------------------------------------------------------------

    async def check(self, automation: Automation) -> None:
        """Refuse what a definition alone cannot show: masked secrets, unknown deployments."""
        masked = masked_secrets(automation)
        if masked:
            raise DefinitionError(
                f"{masked[0]}: is the mask '**********', not a secret: send the real value "
                "(definitions read back from the API have their secrets masked)",
                field=masked[0],
            )
        for index, action in enumerate(automation.actions):
            if not isinstance(action, RunDeployment | PauseDeployment | ResumeDeployment):
                continue
            if action.deployment is not None and await self.deployment(action.deployment) is None:
                field = f"actions.{index}.deployment"
                raise DefinitionError(
                    f"{field}: no deployment {action.deployment!r} (give its id or "
                    "'flow-name/deployment-name'; `proctor deployment ls` lists them)",
                    field=field,
                )

    async def deployment(self, reference: str) -> DeploymentRow | None:
        """A deployment by id or ``flow-name/deployment-name``."""
        try:
            return await self.store.deployments.get(UUID(reference))
        except ValueError:
            pass
        flow_name, slash, name = reference.partition("/")
        if not slash:
            return None
        return await self.store.deployments.find(flow_name=flow_name, name=name)

    # -- changing --------------------------------------------------------------------------

    async def create(self, automation: Automation) -> StoredAutomation:
        """Store a new automation (``ConflictError`` if its name is taken)."""
        await self.check(automation)
        if await self.find(automation.name) is not None:
            raise ConflictError(
                f"an automation named {automation.name!r} exists already; update it, or use "
                "`proctor automation apply`",
                field="name",
            )
        row = AutomationRow(
            name=automation.name,
            description=automation.description or None,
            enabled=automation.enabled,
            definition=_row_definition(automation, None),
        )
        row = await self.store.automations.create(row)
        stored = _stored(row)
        assert stored is not None
        await self._changed("created", stored)
        return stored

    async def _row(self, reference: str) -> AutomationRow | None:
        stored = await self.find(reference)
        if stored is None:
            return None
        if stored.loaded.owner is not None:
            raise DefinitionError(
                f"automation {stored.automation.name!r} belongs to {stored.loaded.owner}: change "
                "the deployment's schedules instead",
                field="owner",
            )
        return await self.store.automations.get(UUID(stored.id))

    async def replace(self, reference: str, automation: Automation) -> StoredAutomation | None:
        """Replace an automation's definition (keeping its id); ``None`` if there is none."""
        await self.check(automation)
        row = await self._row(reference)
        if row is None:
            return None
        clash = await self.find(automation.name)
        if clash is not None and clash.id != str(row.id):
            raise ConflictError(
                f"an automation named {automation.name!r} exists already", field="name"
            )
        updated = await self.store.automations.update(
            row.id,
            name=automation.name,
            description=automation.description or None,
            enabled=automation.enabled,
            definition=_row_definition(automation, None),
        )
        if updated is None:
            return None
        stored = _stored(updated)
        assert stored is not None
        await self._changed("updated", stored)
        return stored

    async def delete(self, reference: str) -> bool:
        """Delete an automation; ``False`` if there was none."""
        row = await self._row(reference)
        if row is None:
            return False
        stored = _stored(row)
        deleted = await self.store.automations.delete(row.id)
        if deleted and stored is not None:
            await self._changed("deleted", stored)
        return deleted

    async def set_enabled(
        self, reference: str, enabled: bool, *, reason: str | None = None
    ) -> StoredAutomation | None:
        """Pause (``enabled=False``, with a reason) or resume an automation."""
        row = await self._row(reference)
        if row is None:
            return None
        current = _stored(row)
        if current is None:
            return None
        automation = current.automation.model_copy(update={"enabled": enabled})
        updated = await self.store.automations.update(
            row.id,
            enabled=enabled,
            definition=_row_definition(automation, None if enabled else reason),
        )
        if updated is None:
            return None
        stored = _stored(updated)
        assert stored is not None
        await self._changed("resumed" if enabled else "paused", stored, reason=reason)
        return stored

    async def pause_automation(self, automation: str, *, reason: str) -> None:
        """``AutomationControl``: pause, recording why."""
        if await self.set_enabled(automation, False, reason=reason) is None:
            raise DefinitionError(f"no automation {automation!r}", field="automation")

    async def resume_automation(self, automation: str) -> None:
        """``AutomationControl``: resume."""
        if await self.set_enabled(automation, True) is None:
            raise DefinitionError(f"no automation {automation!r}", field="automation")

    async def apply(
        self, automations: Sequence[Automation], *, prune: bool = False, dry_run: bool = False
    ) -> ApplyReport:
        """Create or update ``automations`` by name (and with ``prune`` delete the others,
        except deployments' schedules); what changed, or would with ``dry_run``."""
        for index, automation in enumerate(automations):
            try:
                await self.check(automation)
            except DefinitionError as error:
                field = f"automations.{index}.{error.field}"
                raise DefinitionError(f"{automation.name!r}: {error}", field=field) from None
        remote = {
            stored.automation.name: Stored(
                id=stored.id, automation=stored.automation, owner=stored.loaded.owner
            )
            for stored in await self.all()
        }
        try:
            report = plan_apply(automations, remote, prune=prune)
        except ProctorError as error:
            raise DefinitionError(str(error), field="automations") from None
        if dry_run:
            return report.model_copy(update={"dry_run": True})
        by_name = {automation.name: automation for automation in automations}
        for name in report.created:
            await self.create(by_name[name])
        for change in report.updated:
            await self.replace(remote[change.name].id, by_name[change.name])
        for name in report.deleted:
            await self.delete(remote[name].id)
        return report

    async def _changed(
        self, change: str, stored: StoredAutomation, reason: str | None = None
    ) -> None:
        if self.bus is None:
            return
        payload: dict[str, Any] = {"change": change, "digest": stored.automation.digest()}
        if reason is not None:
            payload["reason"] = reason[:1000]
        event = Event.build(
            f"proctor.automation.{change}",
            automation_resource(stored.id, stored.automation.name),
            payload=payload,
        )
        try:
            await self.bus.publish(event)
        except ProctorError as error:  # engines also resynchronise periodically
            log.warning("could not publish %s for automation %s: %s", event.event, stored.id, error)
