"""``client.automations``: automations over the API, and ``apply`` for rules as code."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from proctor.automations.applying import ApplyReport
from proctor.automations.definition import Automation
from proctor.automations.records import AutomationInfo
from proctor.runtime.client.base import ApiTransport

__all__ = ("AutomationsClient",)


def _path(reference: str) -> str:
    return f"/api/automations/{quote(reference, safe='')}"


class AutomationsClient:
    def __init__(self, transport: ApiTransport) -> None:
        self._transport = transport

    async def list(self, *, owned: bool = True) -> list[AutomationInfo]:
        """Every automation (with ``owned``, the schedules deployments own too)."""
        answer = await self._transport.request(
            "GET", "/api/automations", params={"owned": str(owned).lower()}
        )
        return [AutomationInfo.model_validate(item) for item in answer]

    async def read(self, reference: str) -> AutomationInfo:
        """One automation by id or name (``NotFoundError`` if there is none)."""
        return AutomationInfo.model_validate(await self._transport.request("GET", _path(reference)))

    async def create(self, automation: Automation) -> AutomationInfo:
        """Store a new automation (``ApiError`` 409 if its name is taken, 422 if invalid)."""
        answer = await self._transport.request(
            "POST", "/api/automations", json=automation.to_data()
        )
        return AutomationInfo.model_validate(answer)

    async def replace(self, reference: str, automation: Automation) -> AutomationInfo:
        """Replace an automation's definition."""
        answer = await self._transport.request("PUT", _path(reference), json=automation.to_data())
        return AutomationInfo.model_validate(answer)

    async def delete(self, reference: str) -> None:
        await self._transport.request("DELETE", _path(reference))

    async def pause(self, reference: str, reason: str | None = None) -> AutomationInfo:
        answer = await self._transport.request(
            "POST", f"{_path(reference)}/pause", json={"reason": reason}
        )
        return AutomationInfo.model_validate(answer)

    async def resume(self, reference: str) -> AutomationInfo:
        return AutomationInfo.model_validate(
            await self._transport.request("POST", f"{_path(reference)}/resume")
        )

    async def apply(
        self, automations: Sequence[Automation], *, prune: bool = False, dry_run: bool = False
    ) -> ApplyReport:
        """Create or update ``automations`` by name (``prune``: delete the others); the diff."""
        body = {
            "automations": [automation.to_data() for automation in automations],
            "prune": prune,
            "dry_run": dry_run,
        }
        answer = await self._transport.request("POST", "/api/automations/apply", json=body)
        return ApplyReport.model_validate(answer)
