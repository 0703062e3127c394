"""Frozen pydantic models made from values the engine made itself, without validating again.

A task run makes a run snapshot and three states, and copies its snapshot twice: validating
values the engine has just made (ids, clock readings, its own names) is most of that cost.
``built`` makes a model from all of its fields' values; ``replaced`` is ``model_copy(update=)``
(which does not validate either) for less. Both give models equal, field for field, to what
validation or ``model_copy`` gives (``tests/unit/test_unchecked_models.py``); they are only
for frozen models without private attributes or extra fields (the run snapshots and states).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ("built", "replaced")

M = TypeVar("M", bound=BaseModel)
_new, _set = object.__new__, object.__setattr__


def built(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """A ``cls`` holding ``values`` (every field, of the right types), as pydantic lays out an
    instance. ``fields_set`` (the fields given explicitly) may be shared by many models: a
    frozen model never changes it in place."""
    model: M = _new(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", fields_set)
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


def replaced(model: M, changes: Mapping[str, Any]) -> M:
    """``model.model_copy(update=changes)``: a copy with ``changes``, not validated."""
    values = model.__dict__.copy()
    values.update(changes)
    return built(type(model), values, model.__pydantic_fields_set__ | changes.keys())
