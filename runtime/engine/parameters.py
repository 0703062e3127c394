"""Call parameters: binding, validation against type hints (pydantic), and JSON-safe records."""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic_core import to_json, to_jsonable_python

from proctor.core.errors import ParameterValidationError

__all__ = ("MAX_PARAMETER_BYTES", "Signature", "jsonable_parameters")

log = logging.getLogger(__name__)

MAX_PARAMETER_BYTES = 16 * 1024
"""Largest recorded parameter (as JSON); a larger one is recorded as a placeholder."""

_LAX = ConfigDict(arbitrary_types_allowed=True)


class Signature:
    """A function's parameters: bind a call, validate it, and call the function with it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.signature = inspect.signature(fn)
        self.parameters = self.signature.parameters
        self._adapters: dict[str, TypeAdapter[Any]] | None = None
        plain = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in self.parameters.values())
        self._plain_names = tuple(self.parameters) if plain else None

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name, defaults applied (``TypeError`` if unbound)."""
        if not args and not kwargs and not self.parameters:
            return {}
        names = self._plain_names
        if names is not None and not kwargs and len(args) == len(names):
            return dict(zip(names, args, strict=True))  # what ``bind`` gives, at a tenth
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments

    def call_args(self, values: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments to call the function with ``values``."""
        names = self._plain_names
        if names is not None and len(values) == len(names):
            try:
                return [values[name] for name in names], {}  # the same call, positionally
            except KeyError:
                pass
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for name, parameter in self.parameters.items():
            if name not in values:
                continue
            value = values[name]
            if parameter.kind is parameter.VAR_POSITIONAL:
                args.extend(value)
            elif parameter.kind is parameter.VAR_KEYWORD:
                kwargs.update(value)
            elif parameter.kind is parameter.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[name] = value
        return args, kwargs

    def validate(self, values: dict[str, Any], owner: str) -> dict[str, Any]:
        """``values`` checked and coerced against the type hints.

        Raises ``ParameterValidationError`` naming the first bad parameter.
        """
        adapters = self._adapters if self._adapters is not None else self._build()
        if not adapters:
            return values
        validated = dict(values)
        for name, adapter in adapters.items():
            if name not in values:
                continue
            try:
                validated[name] = adapter.validate_python(values[name])
            except ValidationError as error:
                first = error.errors()[0]
                where = "".join(f"[{part!r}]" for part in first["loc"])
                raise ParameterValidationError(
                    f"{owner}: parameter {name!r}{where} is invalid: {first['msg']} "
                    f"(got {_short(values[name])})",
                    parameter=name,
                ) from None
        return validated

    def _build(self) -> dict[str, TypeAdapter[Any]]:
        try:
            hints = typing.get_type_hints(self.fn, include_extras=True)
        except Exception as error:  # an unresolvable forward reference
            log.debug("not validating parameters of %r: %s", self.fn, error)
            hints = {}
        adapters: dict[str, TypeAdapter[Any]] = {}
        for name, parameter in self.parameters.items():
            hint = hints.get(name)
            if hint is None or hint is Any:
                continue
            if parameter.kind is parameter.VAR_POSITIONAL:
                hint = tuple[hint, ...]  # type: ignore[valid-type]
            elif parameter.kind is parameter.VAR_KEYWORD:
                hint = dict[str, hint]  # type: ignore[valid-type]
            adapter = _adapter(hint)
            if adapter is not None:
                adapters[name] = adapter
        self._adapters = adapters
        return adapters


def _adapter(hint: Any) -> TypeAdapter[Any] | None:
    try:
        return TypeAdapter(hint, config=_LAX)
    except Exception:
        try:  # pydantic models and dataclasses refuse a config of their own
            return TypeAdapter(hint)
        except Exception as error:
            log.debug("not validating a parameter of type %r: %s", hint, error)
            return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def jsonable_parameters(values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as JSON-safe values; unserialisable or huge ones as a short placeholder."""
    result: dict[str, Any] = {}
    for name, value in values.items():
        try:
            safe = to_jsonable_python(value, fallback=repr)
            size = len(to_json(safe))
        except Exception:
            safe, size = f"<{type(value).__name__}>", 0
        if size > MAX_PARAMETER_BYTES:
            safe = f"<{type(value).__name__}: {size} bytes, too large to record>"
        result[name] = safe
    return result
