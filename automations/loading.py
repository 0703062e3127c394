"""Rules as code: find the ``Automation`` objects a Python file defines.

``load_automations(path)`` runs the file as a module (its folder first on ``sys.path``, so it
can import its neighbours) and returns every ``Automation`` bound at its top level, directly
or inside a list, tuple or dict, in the order they appear.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from proctor.automations.definition import Automation
from proctor.automations.validation import problem
from proctor.core.errors import ConfigurationError, DefinitionError

__all__ = ("collect_automations", "load_automations")


def collect_automations(namespace: dict[str, Any]) -> list[Automation]:
    """The automations among ``namespace``'s values (and in its lists, tuples, dicts)."""
    found: dict[int, Automation] = {}
    for value in namespace.values():
        items = value.values() if isinstance(value, dict) else value
        if isinstance(value, Automation):
            items = (value,)
        elif not isinstance(value, list | tuple | dict):
            continue
        for item in items:
            if isinstance(item, Automation):
                found.setdefault(id(item), item)
    return list(found.values())


def _where(path: Path, error: BaseException) -> str:
    """``file.py:line`` of the innermost frame of ``error`` in ``path`` (``file.py`` if none)."""
    line = None
    trace = error.__traceback__
    while trace is not None:
        if Path(trace.tb_frame.f_code.co_filename).resolve() == path:
            line = trace.tb_lineno
        trace = trace.tb_next
    return path.name if line is None else f"{path.name}:{line}"


def load_automations(path: Path) -> list[Automation]:
    """Run ``path`` and return the automations it defines.

    ``ConfigurationError`` if the file cannot be read or run; ``DefinitionError`` (naming the
    field) if an automation in it is invalid.
    """
    path = path.resolve()
    if not path.is_file() or path.suffix != ".py":
        raise ConfigurationError(f"{path} is not a Python file", setting="FILE")
    name = "proctor_rules_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot load {path} as a module", setting="FILE")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except ValidationError as error:
        field, message = problem(error)
        raise DefinitionError(f"{_where(path, error)}: {message}", field=field) from None
    except (Exception, SystemExit) as error:
        raise ConfigurationError(
            f"{_where(path, error)} failed to run: {type(error).__name__}: {error}",
            setting="FILE",
        ) from error
    finally:
        sys.path.remove(str(path.parent))
    return collect_automations(vars(module))
