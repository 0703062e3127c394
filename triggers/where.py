"""``where``: a JSONPath filter over an event, compiled once.

Syntax: the body of an RFC 9535 filter (what goes inside ``[?( )]``), in which ``$`` (or ``@``)
is the event as JSON::

    $.payload.ref == 'refs/heads/main'
    $.payload.pr.number > 100 && $.resource['proctor.resource.name'] =~ '^web-'
    $.payload.state == 'open' || !$.payload.draft
    $.payload.commits[?(@.author.name == 'bot')]      # true when the query finds something

A bare query is true when it finds at least one value; ``!query`` when it finds none.
Comparisons take literals: quoted strings, numbers, ``true``, ``false``, ``null``; ``=~``
takes a regular expression (``re.search``). Values of different types are never equal, and
only two numbers or two strings are ordered (RFC 9535); a missing field makes every comparison
false except ``!=``. The event as JSON is ``Event.model_dump(mode="json")``: ``id``,
``occurred`` (ISO 8601), ``event``, ``resource`` and ``related`` (labels), ``payload``,
``follows``, ``caused_by``, ``hops``. Labels hold dots: write ``$.resource['proctor.tag']``.

Parsing is jsonpath-ng's extended parser. Comparisons on plain dotted paths (the common case)
run as direct lookups; everything else runs through jsonpath-ng. Both give the same answers
(a property test checks it).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Final

from jsonpath_ng import Child, Fields, JSONPath, Root, This
from jsonpath_ng.ext.filter import And, Expression, Filter, Or
from jsonpath_ng.ext.parser import parse

from proctor.events.model import Event

__all__ = ("Where", "compile_where", "event_document")

Predicate = Callable[[Mapping[str, Any]], bool]
_PREFIX: Final = "$[?("
_MISSING: Final = object()
_ORDERED: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_FROM_EQUALITY: Final[dict[str, Callable[[bool], bool]]] = {
    "!=": lambda equal: not equal,
    "==": bool,
    "=": bool,
    "<=": bool,
    ">=": bool,
    "<": lambda equal: False,
    ">": lambda equal: False,
}


def event_document(event: Event) -> dict[str, Any]:
    """The event as the JSON object ``where`` sees (equal to ``model_dump(mode="json")``)."""
    return {
        "id": str(event.id),
        "occurred": event.occurred.isoformat().replace("+00:00", "Z"),
        "event": event.event,
        "resource": event.resource.root,
        "related": [related.root for related in event.related],
        "payload": event.payload,
        "follows": None if event.follows is None else str(event.follows),
        "caused_by": None if event.caused_by is None else str(event.caused_by),
        "hops": event.hops,
    }


class Where:
    """A compiled ``where`` filter: ``Where("$.payload.ref == 'main'").matches(document)``."""

    __slots__ = ("_predicate", "text")

    def __init__(self, text: str, predicate: Predicate) -> None:
        self.text = text
        self._predicate = predicate

    def __repr__(self) -> str:
        return f"Where({self.text!r})"

    def matches(self, document: Mapping[str, Any]) -> bool:
        """Whether the event (as ``event_document`` gives it) satisfies the filter."""
        return self._predicate(document)


@lru_cache(maxsize=4096)
def compile_where(text: str) -> Where:
    """Parse and compile ``text``; ``ValueError`` saying where it does not parse."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is empty: give a JSONPath filter such as \"$.payload.ref == 'main'\"")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed = parse(f"{_PREFIX}{text})]")
    except Exception as error:  # JSONPathError, a DeprecationWarning made an error, ...
        raise ValueError(_parse_message(text, error)) from None
    if not (
        isinstance(parsed, Child) and isinstance(parsed.left, Root) and type(parsed.right) is Filter
    ):
        raise ValueError(f"{text!r} is not a single JSONPath filter expression")
    terms = [_compile(expression) for expression in parsed.right.expressions]
    if len(terms) == 1:
        return Where(text, terms[0])
    return Where(text, lambda document: all(term(document) for term in terms))


def _parse_message(text: str, error: BaseException) -> str:
    detail = str(error)
    position = re.search(r"at 1:(\d+)", detail)
    if position is not None:
        column = max(int(position.group(1)) - len(_PREFIX), 0)
        detail = re.sub(r"at 1:\d+", f"at column {column}", detail)
    return (
        f"{text!r} is not a valid JSONPath filter ({detail}); write e.g. "
        "\"$.payload.ref == 'refs/heads/main'\" (strings in quotes, && for and, || for or)"
    )


def _regex(literal: Any) -> re.Pattern[str]:
    if not isinstance(literal, str):
        raise ValueError(f"=~ takes a quoted regular expression, not {literal!r}")
    try:
        return re.compile(literal)
    except re.error as error:
        raise ValueError(f"=~ {literal!r} is not a valid regular expression: {error}") from None


def _compile(node: JSONPath) -> Predicate:
    if isinstance(node, And):
        operands = [_compile(operand) for operand in node.operands]
        return lambda document: all(operand(document) for operand in operands)
    if isinstance(node, Or):
        operands = [_compile(operand) for operand in node.operands]
        return lambda document: any(operand(document) for operand in operands)
    if isinstance(node, Expression):
        if node.op == "=~":
            _regex(node.value)
        fast = _compile_fast(node)
        if fast is not None:
            return fast
    return lambda document: _find(node, document)


def _find(node: JSONPath, document: Mapping[str, Any]) -> bool:
    try:
        return bool(node.find(document))
    except (TypeError, ValueError, re.error):  # e.g. a nested `=~` with a number: no match
        return False


def _simple_path(path: JSONPath) -> tuple[str, ...] | None:
    """The field names of ``$.a.b.c`` (or ``@.a.b.c``); ``None`` for anything else."""
    names: list[str] = []
    while isinstance(path, Child):
        step = path.right
        if not (isinstance(step, Fields) and len(step.fields) == 1 and step.fields[0] != "*"):
            return None
        names.append(step.fields[0])
        path = path.left
    if type(path) not in (Root, This):
        return None
    return tuple(reversed(names))


def _lookup(document: Any, names: tuple[str, ...]) -> Any:
    value = document
    for name in names:
        if type(value) is not dict:
            return _MISSING
        value = value.get(name, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, value: Any, literal: Any) -> bool:
    """RFC 9535 comparison of a found value with a literal (a scalar), as jsonpath-ng does."""
    if literal is None:
        return _FROM_EQUALITY[op](value is None)
    if isinstance(value, bool) or isinstance(literal, bool):
        return _FROM_EQUALITY[op](value is literal)
    if (_is_number(value) and _is_number(literal)) or (
        isinstance(value, str) and isinstance(literal, str)
    ):
        return _ORDERED[op](value, literal)
    return _FROM_EQUALITY[op](False)  # different types, or a list/object: never equal


def _compile_fast(expression: Expression) -> Predicate | None:
    names = _simple_path(expression.target)
    op: str | None = expression.op
    literal: Any = expression.value
    if names is None or isinstance(literal, JSONPath):
        return None
    if op is None:
        return lambda document: _lookup(document, names) is not _MISSING
    if op == "!":
        return lambda document: _lookup(document, names) is _MISSING
    if op == "=~":
        pattern = _regex(literal)

        def regex(document: Mapping[str, Any]) -> bool:
            value = _lookup(document, names)
            return isinstance(value, str) and pattern.search(value) is not None

        return regex
    if op not in _ORDERED:
        return None

    def comparison(document: Mapping[str, Any]) -> bool:
        value = _lookup(document, names)
        if value is _MISSING:
            return op == "!="
        return _compare(op, value, literal)

    return comparison
