"""Actions on automations: pause one (this one by default) and resume one."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from proctor.automations.actions.base import ActionBase

__all__ = ("PauseAutomation", "ResumeAutomation")


class PauseAutomation(ActionBase):
    """Pause an automation: it stops firing until it is resumed."""

    type: Literal["pause-automation"] = Field(
        default="pause-automation", description="Discriminator."
    )
    automation: str | None = Field(
        default=None, min_length=1, description="Its name or id; none: this automation."
    )


class ResumeAutomation(ActionBase):
    """Resume a paused automation."""

    type: Literal["resume-automation"] = Field(
        default="resume-automation", description="Discriminator."
    )
    automation: str = Field(min_length=1, description="Its name or id.")
