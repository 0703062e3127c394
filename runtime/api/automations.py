"""``/api/automations``: create, list, read, replace, delete, pause and resume automations, and
apply a set by name (rules as code). Definitions are validated when saved: an unknown field,
a cron, JSONPath or template that does not parse, or a deployment that does not exist is a
422 naming the field (``actions.0.parameters.sha``). Secrets are never shown."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from proctor.automations import Automation
from proctor.automations.applying import ApplyReport
from proctor.automations.records import AutomationInfo
from proctor.automations.validation import parse_automation
from proctor.core.errors import ConflictError, DefinitionError
from proctor.runtime.api.errors import error_response
from proctor.runtime.automation_service.registry import AutomationRegistry, info_of

__all__ = ("ApplyRequest", "PauseRequest", "automations_router")

Definition = Annotated[
    dict[str, Any], Body(description="An automation, as `Automation.to_json()` writes it.")
]


class ApplyRequest(BaseModel):
    """A set of automations to create or update by name."""

    model_config = ConfigDict(extra="forbid")

    automations: list[dict[str, Any]] = Field(description="The automations, as JSON.")
    prune: bool = Field(default=False, description="Delete stored ones not in the set.")
    dry_run: bool = Field(default=False, description="Only say what would change.")


class PauseRequest(BaseModel):
    """Why an automation is paused (recorded with it)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)


def _refused(error: DefinitionError | ConflictError) -> JSONResponse:
    status = 409 if isinstance(error, ConflictError) else 422
    return error_response(status, str(error), error.field)


def _not_found(reference: str) -> JSONResponse:
    return error_response(404, f"no automation {reference!r} (by id or name)")


def automations_router(registry: AutomationRegistry) -> APIRouter:
    router = APIRouter(prefix="/automations", tags=["automations"])

    @router.get("", summary="Automations, by name (secrets masked)")
    async def list_automations(
        owned: Annotated[bool, Query(description="Include the schedules deployments own.")] = True,
    ) -> list[AutomationInfo]:
        return [info_of(stored) for stored in await registry.all(owned=owned)]

    @router.get("/{reference}", summary="One automation, by id or name", response_model=None)
    async def read(reference: str) -> AutomationInfo | JSONResponse:
        stored = await registry.find(reference)
        return info_of(stored) if stored is not None else _not_found(reference)

    @router.post("", status_code=201, summary="Create an automation", response_model=None)
    async def create(definition: Definition) -> AutomationInfo | JSONResponse:
        try:
            stored = await registry.create(parse_automation(definition))
        except (DefinitionError, ConflictError) as error:
            return _refused(error)
        return info_of(stored)

    @router.put("/{reference}", summary="Replace an automation's definition", response_model=None)
    async def replace(reference: str, definition: Definition) -> AutomationInfo | JSONResponse:
        try:
            stored = await registry.replace(reference, parse_automation(definition))
        except (DefinitionError, ConflictError) as error:
            return _refused(error)
        return info_of(stored) if stored is not None else _not_found(reference)

    @router.delete(
        "/{reference}", status_code=204, summary="Delete an automation", response_model=None
    )
    async def delete(reference: str) -> Response:
        try:
            deleted = await registry.delete(reference)
        except DefinitionError as error:
            return _refused(error)
        return Response(status_code=204) if deleted else _not_found(reference)

    @router.post("/{reference}/pause", summary="Pause an automation", response_model=None)
    async def pause(
        reference: str, request: PauseRequest | None = None
    ) -> AutomationInfo | JSONResponse:
        reason = (request.reason if request else None) or "paused through the API"
        try:
            stored = await registry.set_enabled(reference, False, reason=reason)
        except DefinitionError as error:
            return _refused(error)
        return info_of(stored) if stored is not None else _not_found(reference)

    @router.post("/{reference}/resume", summary="Resume a paused automation", response_model=None)
    async def resume(reference: str) -> AutomationInfo | JSONResponse:
        try:
            stored = await registry.set_enabled(reference, True)
        except DefinitionError as error:
            return _refused(error)
        return info_of(stored) if stored is not None else _not_found(reference)

    @router.post(
        "/apply",
        summary="Create or update automations by name (rules as code); say what changed",
        response_model=None,
    )
    async def apply(request: ApplyRequest) -> ApplyReport | JSONResponse:
        automations: list[Automation] = []
        for index, data in enumerate(request.automations):
            try:
                automations.append(parse_automation(data))
            except DefinitionError as error:
                field = f"automations.{index}.{error.field}"
                return error_response(422, f"automations.{index}.{error}", field)
        try:
            return await registry.apply(automations, prune=request.prune, dry_run=request.dry_run)
        except (DefinitionError, ConflictError) as error:
            return _refused(error)

    return router
