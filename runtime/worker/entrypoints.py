"""Entrypoints: where a deployment's flow is found (``path/file.py:flow`` or ``module:flow``)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any

from proctor.core.errors import ConfigurationError
from proctor.runtime.engine.flows import Flow

__all__ = ("entrypoint_of", "load_flow", "split_entrypoint")


def split_entrypoint(entrypoint: str) -> tuple[str, str]:
    """``("path/file.py", "flow")`` or ``("package.module", "flow")``; ``ConfigurationError``
    naming the entrypoint when it has no ``:name`` part."""
    target, sep, name = entrypoint.rpartition(":")
    if not sep or not target or not name or not all(p.isidentifier() for p in name.split(".")):
        raise ConfigurationError(
            f"entrypoint {entrypoint!r} must look like path/file.py:flow_function or "
            "package.module:flow_function",
            setting="entrypoint",
        )
    return target, name


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or os.sep in target


def _load_module(target: str, working_dir: Path) -> Any:
    if _is_path(target):
        path = (working_dir / target).resolve()
        if not path.is_file():
            raise ConfigurationError(
                f"entrypoint file {target!r} not found (looked at {path})", setting="entrypoint"
            )
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        module_name = f"__proctor_flow_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    if str(working_dir) not in sys.path:
        sys.path.insert(0, str(working_dir))
    return importlib.import_module(target)


def load_flow(entrypoint: str, working_dir: str | Path | None = None) -> Flow[Any, Any]:
    """Import the flow an entrypoint names. ``ConfigurationError`` saying what is wrong (the
    file, the module, the name, or that it is not a ``@flow``)."""
    target, name = split_entrypoint(entrypoint)
    folder = Path(working_dir) if working_dir is not None else Path.cwd()
    try:
        module = _load_module(target, folder)
    except ConfigurationError:
        raise
    except Exception as error:
        raise ConfigurationError(
            f"entrypoint {entrypoint!r}: importing {target!r} failed: "
            f"{type(error).__name__}: {error}",
            setting="entrypoint",
        ) from error
    found: Any = module
    for part in name.split("."):
        if not hasattr(found, part):
            raise ConfigurationError(
                f"entrypoint {entrypoint!r}: {target!r} has no attribute {part!r}",
                setting="entrypoint",
            )
        found = getattr(found, part)
    if not isinstance(found, Flow):
        raise ConfigurationError(
            f"entrypoint {entrypoint!r} is a {type(found).__name__}, not a @flow",
            setting="entrypoint",
        )
    return found


def entrypoint_of(flow: Flow[Any, Any], working_dir: str | Path | None = None) -> str:
    """The entrypoint that loads ``flow`` again in another process started in ``working_dir``.

    A flow defined in an imported module is ``module:name``; one defined in the script being
    run (``__main__``) is ``path/to/script.py:name``, relative to ``working_dir``.
    """
    module = sys.modules.get(flow.fn.__module__)
    name = next(
        (key for key, value in vars(module).items() if value is flow),
        getattr(flow.fn, "__name__", None),
    ) if module is not None else getattr(flow.fn, "__name__", None)  # fmt: skip
    if not name:
        raise ConfigurationError(f"flow {flow.name!r} has no name to import it by")
    importable = module is not None and module.__name__ not in ("__main__", "__mp_main__")
    if importable and module is not None and not module.__name__.startswith("__proctor_flow_"):
        return f"{module.__name__}:{name}"
    source = inspect.getsourcefile(flow.fn)
    if source is None:
        raise ConfigurationError(
            f"flow {flow.name!r} has no source file: give the entrypoint explicitly",
            setting="entrypoint",
        )
    folder = Path(working_dir) if working_dir is not None else Path.cwd()
    relative = os.path.relpath(Path(source).resolve(), folder.resolve())
    return f"{Path(relative).as_posix()}:{name}"
