"""``proctor.Automation``: the automation definition, with ``apply()`` to a server."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from proctor.automations.applying import ApplyReport
from proctor.automations.definition import Automation as AutomationDefinition
from proctor.core.errors import ConfigurationError

if TYPE_CHECKING:
    from proctor.runtime.client import ProctorClient

__all__ = ("Automation",)


class Automation(AutomationDefinition):
    """When ``trigger`` fires, run ``actions`` in order.

    ``Automation(name="etl failures", trigger=on_flow_failed("etl"),
    actions=[SendSlackMessage(webhook_url=...)]).apply()`` creates it on the server, or updates
    the one of that name. ``proctor automation apply rules.py`` does the same for every
    automation a file defines.
    """

    async def aapply(
        self, *, client: ProctorClient | None = None, dry_run: bool = False
    ) -> ApplyReport:
        """Create or update this automation on the server (by name); what changed."""
        if client is not None:
            return await client.automations.apply([self], dry_run=dry_run)
        from proctor.runtime.client import get_client

        async with get_client() as made:
            return await made.automations.apply([self], dry_run=dry_run)

    def apply(self, *, dry_run: bool = False) -> ApplyReport:
        """``aapply`` from synchronous code (in async code, ``await automation.aapply()``)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.aapply(dry_run=dry_run))
        raise ConfigurationError(
            "Automation.apply() was called inside a running event loop: use "
            "`await automation.aapply()` there",
            setting="apply",
        )
