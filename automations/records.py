"""What the API answers about automations (shared by the server and the client)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from proctor.automations.definition import Automation

__all__ = ("AutomationInfo",)


class AutomationInfo(BaseModel):
    """An automation as the API shows it: its definition with secrets masked."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    enabled: bool
    owner: str | None = Field(
        default=None, description="'deployment:<id>' for a deployment's schedule; else null."
    )
    paused_reason: str | None = Field(default=None, description="Why it was last paused.")
    digest: str = Field(description="SHA-256 of the full definition (secrets included).")
    created: datetime | None = None
    updated: datetime | None = None
    automation: dict[str, Any] = Field(description="The definition; secrets are masked.")

    def definition(self) -> Automation:
        """The definition as an ``Automation`` (its secrets are the mask: read-only use)."""
        return Automation.model_validate(self.automation)
