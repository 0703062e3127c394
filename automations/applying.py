"""Rules as code: what applying a set of automations to a server changes, by name.

``plan_apply(local, remote, prune=...)`` compares the automations defined in code with those
stored (by name) and says which are created, updated (and which fields change), unchanged,
or deleted (with ``prune``: stored ones the code no longer defines; automations owned by a
deployment are never pruned). Pure: the API applies the plan, the CLI prints it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from proctor.automations.definition import Automation
from proctor.automations.secrets import reveal_context
from proctor.core.errors import ConfigurationError

__all__ = ("ApplyReport", "Stored", "Updated", "changed_fields", "plan_apply")


class Stored(BaseModel):
    """An automation as stored: its id, definition and owner."""

    model_config = ConfigDict(frozen=True)

    id: str
    automation: Automation
    owner: str | None = None


class Updated(BaseModel):
    """An automation whose definition changes, and which top-level fields do."""

    model_config = ConfigDict(frozen=True)

    name: str
    fields: tuple[str, ...]


class ApplyReport(BaseModel):
    """What applying changes (or would change, with ``dry_run``), by automation name."""

    model_config = ConfigDict(frozen=True)

    created: tuple[str, ...] = ()
    updated: tuple[Updated, ...] = ()
    unchanged: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    dry_run: bool = Field(default=False, description="Nothing was changed.")

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def lines(self) -> list[str]:
        """The diff, one line per automation: ``+ created``, ``~ updated``, ``- deleted``,
        ``= unchanged``."""
        out = [f"+ {name} (created)" for name in self.created]
        out += [f"~ {u.name} (updated: {', '.join(u.fields)})" for u in self.updated]
        out += [f"- {name} (deleted)" for name in self.deleted]
        out += [f"= {name} (unchanged)" for name in self.unchanged]
        return out


def changed_fields(old: Automation, new: Automation) -> tuple[str, ...]:
    """The top-level fields whose value differs (secrets compared, never shown)."""
    before: dict[str, Any] = old.model_dump(mode="json", context=reveal_context())
    after: dict[str, Any] = new.model_dump(mode="json", context=reveal_context())
    return tuple(name for name in after if before.get(name) != after[name])


def plan_apply(
    local: Sequence[Automation], remote: Mapping[str, Stored], *, prune: bool
) -> ApplyReport:
    """The changes that make ``remote`` (stored, by name) match ``local``."""
    names = [automation.name for automation in local]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError(
            f"automation names must be unique; defined more than once: {', '.join(duplicates)}",
            setting="name",
        )
    created: list[str] = []
    updated: list[Updated] = []
    unchanged: list[str] = []
    for automation in local:
        stored = remote.get(automation.name)
        if stored is None:
            created.append(automation.name)
        elif stored.owner is not None:
            raise ConfigurationError(
                f"automation {automation.name!r} is owned by {stored.owner} and changes with it; "
                "give yours another name",
                setting="name",
            )
        elif stored.automation.digest() == automation.digest():
            unchanged.append(automation.name)
        else:
            updated.append(
                Updated(name=automation.name, fields=changed_fields(stored.automation, automation))
            )
    deleted: list[str] = []
    if prune:
        wanted = set(names)
        deleted = sorted(
            name for name, stored in remote.items() if name not in wanted and stored.owner is None
        )
    return ApplyReport(
        created=tuple(created),
        updated=tuple(updated),
        unchanged=tuple(unchanged),
        deleted=tuple(deleted),
    )
