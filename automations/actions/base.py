"""What every action shares: a ``type`` tag, strict fields, and templates compiled once.

A field listed in ``template_fields`` may hold Jinja templates (a string, or any JSON value
whose strings are templates); they are compiled when the action is made, so a template that
does not parse is refused when the automation is saved, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator

from proctor.automations.templating import TemplateStructure, compile_structure

__all__ = ("ActionBase",)


def _plain(value: Any) -> Any:
    """Tuples as lists, models as dicts: the JSON-like shape templates are compiled from."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class ActionBase(BaseModel):
    """Base of every action. Subclasses set ``type`` (the tag) and ``template_fields``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template_fields: ClassVar[tuple[str, ...]] = ()
    _templates: dict[str, TemplateStructure] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _compile_templates(self) -> Self:
        for name in self.template_fields:
            value = getattr(self, name)
            if value is not None:
                self._templates[name] = compile_structure(_plain(value), field=name)
        return self

    def needs_event_run(self) -> bool:
        """Whether the action acts on the flow run (or its deployment) the firing's event is
        about: such an action makes no sense on a schedule trigger."""
        return False

    @property
    def kind(self) -> str:
        """The action's type tag (``run-deployment``...)."""
        return str(getattr(self, "type"))  # noqa: B009 - every subclass defines it

    @property
    def variables(self) -> frozenset[str]:
        """The top-level names the action's templates read (``event``, ``flow_run``...)."""
        found: set[str] = set()
        for template in self._templates.values():
            found |= template.variables
        return frozenset(found)

    def render(self, name: str, context: Mapping[str, Any]) -> Any:
        """The value of field ``name`` with its templates rendered (``TemplateError`` naming
        the field if one fails)."""
        template = self._templates.get(name)
        if template is None:
            return _plain(getattr(self, name))
        return template.render(context)
