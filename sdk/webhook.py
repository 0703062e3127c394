"""``proctor.Webhook``: an inbound webhook defined in code, with ``apply()`` to a server."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from proctor.core.errors import ConfigurationError
from proctor.runtime.webhooks.records import WebhookApplied, WebhookCreate

if TYPE_CHECKING:
    from proctor.runtime.client import ProctorClient

__all__ = ("Webhook",)


class Webhook(WebhookCreate):
    """An endpoint, ``POST /hooks/<slug>`` on the server, whose verified requests become
    events (``webhook.<slug>`` by default).

    ``Webhook(slug="github-push", preset="github").apply()`` creates it (the generated secret
    is in the answer's ``.secret``, shown once) or updates the one with that slug, keeping its
    secret unless ``secret=`` is given. Wire it to a flow with an automation on
    ``on_event("webhook.github-push")``.
    """

    async def aapply(self, *, client: ProctorClient | None = None) -> WebhookApplied:
        """Create or update this webhook on the server (by slug)."""
        if client is not None:
            return await client.webhooks.apply(self)
        from proctor.runtime.client import get_client

        async with get_client() as made:
            return await made.webhooks.apply(self)

    def apply(self) -> WebhookApplied:
        """``aapply`` from synchronous code (in async code, ``await webhook.aapply()``)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.aapply())
        raise ConfigurationError(
            "Webhook.apply() was called inside a running event loop: use "
            "`await webhook.aapply()` there",
            setting="apply",
        )
