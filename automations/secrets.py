"""``Secret``: a credential inside a definition (a Slack webhook URL, a signing key).

It is a ``SecretStr``: ``repr`` and ``str`` show ``**********``, and so does JSON, unless the
serialisation context asks for the value (``REVEAL``). The API stores definitions revealed
and answers with them masked; nothing else ever reveals them (logs, errors, events).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import PlainSerializer, SecretStr, SerializationInfo

__all__ = ("MASK", "REVEAL", "Secret", "is_masked", "reveal_context")

MASK: Final = "**********"
"""What a secret looks like when it is not revealed."""
REVEAL: Final = "proctor_reveal_secrets"
"""Serialisation context key: ``model_dump_json(context={REVEAL: True})`` shows secrets."""


def reveal_context() -> dict[str, Any]:
    """The serialisation context that reveals secrets (for storing a definition)."""
    return {REVEAL: True}


def _serialize(value: SecretStr, info: SerializationInfo) -> str:
    context = info.context
    if isinstance(context, dict) and context.get(REVEAL):
        return value.get_secret_value()
    return MASK


Secret = Annotated[SecretStr, PlainSerializer(_serialize, return_type=str)]
"""A credential: masked when serialised unless the context holds ``REVEAL``."""


def is_masked(value: SecretStr | None) -> bool:
    """Whether ``value`` is the mask itself (a definition read back without its secrets)."""
    return value is not None and value.get_secret_value() == MASK
