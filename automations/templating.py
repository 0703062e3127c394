"""Sandboxed Jinja templates: compiled once, checked when saved, rendered to native values.

One environment serves automations (action parameters, Slack messages, webhook bodies) and
inbound webhooks (request → event). It is Jinja's ``ImmutableSandboxedEnvironment`` with
``StrictUndefined`` (a missing variable is an error, never an empty string) and these rules:

- A template that is a single expression keeps its type: ``"{{ event.payload.count }}"``
  renders to the int ``3``, ``"{{ event.payload }}"`` to the dict. Anything else (text
  around the expression, several expressions, loops) renders to a string. Unlike Jinja's
  ``NativeEnvironment``, strings are never re-parsed: ``"{{ sha }}"`` with sha ``"0000"``
  stays the string ``"0000"``.
- Strings without ``{{``, ``{%`` or ``{#`` are plain values and skip Jinja entirely.
- Refused when saved: private attributes (``__class__``, ``_x``), ``extends`` / ``include``
  / ``import``, and syntax errors, each naming the field (``parameters.sha: unexpected '}'``).
  The sandbox refuses the rest at render time; ``*`` and ``**`` are capped so a template
  cannot allocate gigabytes. Error messages never quote the context's values at length.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from itertools import chain, islice
from typing import Any, Final

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from proctor.core.errors import TemplateError

__all__ = (
    "MAX_REPEAT_LENGTH",
    "MAX_TEMPLATE_LENGTH",
    "Template",
    "TemplateStructure",
    "compile_structure",
    "compile_template",
    "is_template",
)

MAX_TEMPLATE_LENGTH: Final = 64 * 1024
"""Longest template source accepted (characters)."""
MAX_REPEAT_LENGTH: Final = 100_000
"""Longest string or list that ``*`` may build inside a template."""
_MAX_EXPONENT: Final = 1_000
_MAX_MESSAGE: Final = 200
_MARKERS: Final = ("{{", "{%", "{#")
_FORBIDDEN_NODES: Final = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


class _CodeGenerator(NativeCodeGenerator):
    """Native output, and a lone constant (``{{ 5 }}``) keeps its type too."""

    def _output_const_repr(self, group: Any) -> str:
        values = list(group)
        if len(values) == 1:
            return repr(values[0])
        return repr("".join(str(value) for value in values))


def _concat(values: Iterator[Any]) -> Any:
    head = list(islice(values, 2))
    if not head:
        return ""
    if len(head) == 1:
        return head[0]
    return "".join(str(value) for value in chain(head, values))


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**" and isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is above the limit of {_MAX_EXPONENT}")
        if operator_ == "*":
            for sequence, count in ((left, right), (right, left)):
                sized = isinstance(sequence, str | list | tuple) and isinstance(count, int)
                if sized and len(sequence) * count > MAX_REPEAT_LENGTH:
                    raise SecurityError(
                        f"'*' would build {len(sequence) * count} items; the limit is "
                        f"{MAX_REPEAT_LENGTH}"
                    )
        return super().call_binop(context, operator_, left, right)


@functools.cache
def _environment() -> _Environment:
    return _Environment(undefined=StrictUndefined, autoescape=False)


def is_template(value: str) -> bool:
    """Whether ``value`` holds Jinja markup (otherwise it is used as it is)."""
    return any(marker in value for marker in _MARKERS)


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def _check_safe(tree: nodes.Template, field: str) -> None:
    for statement in tree.find_all(_FORBIDDEN_NODES):
        kind = type(statement).__name__.lower()
        raise TemplateError(
            f"{field}: '{kind}' is not allowed in templates (line {statement.lineno}): "
            "templates cannot load other templates",
            field=field,
        )
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = access.attr if isinstance(access, nodes.Getattr) else None
        if isinstance(access, nodes.Getitem) and isinstance(access.arg, nodes.Const):
            name = access.arg.value if isinstance(access.arg.value, str) else None
        if name is not None and name.startswith("_"):
            raise TemplateError(
                f"{field}: unsafe attribute {name[:40]!r} (line {access.lineno}): templates "
                "cannot reach names that start with '_'",
                field=field,
            )


def _ensure_defined(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing variable
    elif isinstance(value, dict):
        for item in value.values():
            _ensure_defined(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _ensure_defined(item)
    return value


class Template:
    """One compiled template. Compile once (``compile_template``), render many times."""

    __slots__ = ("_compiled", "field", "source", "variables")

    def __init__(self, source: str, *, field: str) -> None:
        if len(source) > MAX_TEMPLATE_LENGTH:
            raise TemplateError(
                f"{field}: template is {len(source)} characters; the limit is "
                f"{MAX_TEMPLATE_LENGTH}",
                field=field,
            )
        environment = _environment()
        try:
            tree = environment.parse(source)
        except TemplateSyntaxError as error:
            raise TemplateError(
                f"{field}: {_short(error.message or 'syntax error')} (line {error.lineno})",
                field=field,
            ) from None
        _check_safe(tree, field)
        self.source = source
        self.field = field
        self.variables: frozenset[str] = frozenset(meta.find_undeclared_variables(tree))
        """Top-level names the template reads (``event``, ``flow_run``...), to load lazily."""
        self._compiled = environment.from_string(tree)

    def __repr__(self) -> str:
        return f"Template(field={self.field!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Template):
            return NotImplemented
        return (self.source, self.field) == (other.source, other.field)

    def __hash__(self) -> int:
        return hash((self.source, self.field))

    def render(self, context: Mapping[str, Any]) -> Any:
        """Render with ``context`` (plain values); raise ``TemplateError`` naming the field."""
        try:
            render_context = self._compiled.new_context(dict(context))
            return _ensure_defined(_concat(self._compiled.root_render_func(render_context)))
        except UndefinedError as error:
            raise TemplateError(
                f"{self.field}: {_short(str(error))}: the template reads a value the context "
                "does not have (use '| default(...)' for optional values)",
                field=self.field,
            ) from None
        except SecurityError as error:
            raise TemplateError(
                f"{self.field}: refused by the sandbox: {_short(str(error))}", field=self.field
            ) from None
        except Exception as error:
            raise TemplateError(
                f"{self.field}: rendering failed: {type(error).__name__}: {_short(str(error))}",
                field=self.field,
            ) from None


def compile_template(source: str, *, field: str) -> Template:
    """Compile ``source``, raising ``TemplateError`` (naming ``field``) if it is invalid."""
    return Template(source, field=field)


class TemplateStructure:
    """A JSON-like value (dicts, lists, scalars) whose strings may be templates.

    Keys are never templated. Rendering returns a new structure of the same shape.
    """

    __slots__ = ("_compiled", "field", "variables")

    def __init__(self, value: Any, *, field: str) -> None:
        found: set[str] = set()
        self._compiled = _compile_value(value, field, found)
        self.field = field
        self.variables: frozenset[str] = frozenset(found)

    def __repr__(self) -> str:
        return f"TemplateStructure(field={self.field!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TemplateStructure):
            return NotImplemented
        return (self.field, self._compiled) == (other.field, other._compiled)

    __hash__ = None  # type: ignore[assignment]  # holds dicts: equal by value, unhashable

    def render(self, context: Mapping[str, Any]) -> Any:
        """Render every template in the structure with ``context``."""
        return _render_value(self._compiled, context)


def compile_structure(value: Any, *, field: str) -> TemplateStructure:
    """Compile every template string in ``value``; errors name the path (``blocks[0].text``)."""
    return TemplateStructure(value, field=field)


def _compile_value(value: Any, field: str, found: set[str]) -> Any:
    if isinstance(value, str):
        if not is_template(value):
            return value
        template = Template(value, field=field)
        found.update(template.variables)
        return template
    if isinstance(value, Mapping):
        compiled = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TemplateError(
                    f"{field}: keys must be strings, not {type(key).__name__}", field=field
                )
            compiled[key] = _compile_value(item, f"{field}.{key}" if field else key, found)
        return compiled
    if isinstance(value, list | tuple):
        return [_compile_value(item, f"{field}[{i}]", found) for i, item in enumerate(value)]
    if value is None or isinstance(value, bool | int | float):
        return value
    raise TemplateError(
        f"{field}: {type(value).__name__} is not a JSON value (use str, number, bool, None, "
        "list or dict)",
        field=field,
    )


def _render_value(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, Template):
        return value.render(context)
    if isinstance(value, dict):
        return {key: _render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_value(item, context) for item in value]
    return value
