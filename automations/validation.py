"""Turning a definition's ``ValidationError`` into one problem: the field's full path and a
message, for API answers (``actions.0.parameters.sha: unexpected '}'``) and the CLI."""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import SecretStr, ValidationError

from proctor.automations.definition import Automation
from proctor.automations.secrets import is_masked
from proctor.core.errors import DefinitionError, TemplateError

__all__ = ("masked_secrets", "parse_automation", "problem")

_PREFIXED: Final = re.compile(r"^(actions\.\d+|[a-z_]+(\.[a-z_0-9]+)*): ")


_TRIGGER_TAGS: Final = frozenset({"event", "compound", "sequence", "cron", "interval"})
_ACTION_TAGS: Final = frozenset(
    {
        "run-deployment",
        "retry-flow-run",
        "cancel-flow-run",
        "change-flow-run-state",
        "pause-deployment",
        "resume-deployment",
        "pause-automation",
        "resume-automation",
        "send-slack-message",
        "call-webhook",
        "emit-event",
    }
)
_TAGS: Final = _TRIGGER_TAGS | _ACTION_TAGS


def _location(loc: tuple[int | str, ...]) -> list[str]:
    """The path without the tags pydantic adds for tagged unions (``run-deployment`` after
    ``actions.0``, ``cron`` after ``trigger``)."""
    parts: list[str] = []
    for index, part in enumerate(loc):
        previous = loc[index - 1] if index else None
        tag_position = isinstance(previous, int) or previous == "trigger"
        if isinstance(part, str) and part in _TAGS and tag_position:
            continue
        parts.append(str(part))
    return parts


def problem(error: ValidationError) -> tuple[str, str]:
    """``(field, message)`` of the first error: the field as a dotted path from the
    automation (``trigger.cron``, ``actions.0.parameters.sha``), the message naming it."""
    first = error.errors()[0]
    parts = _location(tuple(first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, TemplateError):
        parts.append(cause.field)
        message = str(cause).split(": ", 1)[-1]
    else:
        inner = _PREFIXED.match(message)
        if inner is not None:  # a model-level check that names its own sub-field
            parts.extend(inner.group(1).split("."))
            message = message[inner.end() :]
    field = ".".join(parts) or "automation"
    more = error.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return field, f"{field}: {message}{suffix}"


def parse_automation(data: Any) -> Automation:
    """An automation from plain data or JSON, or ``DefinitionError`` naming the field."""
    try:
        if isinstance(data, str | bytes | bytearray):
            return Automation.model_validate_json(data)
        return Automation.model_validate(data)
    except ValidationError as error:
        field, message = problem(error)
        raise DefinitionError(message, field=field) from None


def masked_secrets(automation: Automation) -> list[str]:
    """Fields holding the mask instead of a secret (a definition read back from the API and
    sent again): saving them would lose the secret."""
    found: list[str] = []
    for index, action in enumerate(automation.actions):
        for name in ("webhook_url", "url", "secret"):
            value = getattr(action, name, None)
            if isinstance(value, SecretStr) and is_masked(value):
                found.append(f"actions.{index}.{name}")
    return found
