"""Event names and the one matcher for them.

An event name is dotted tokens: ``proctor.flow-run.Failed``, ``github.push``. A token is
letters, digits, ``_`` and ``-``. A *name filter* is a name in which a token may be

- ``*``: exactly one token;
- ``>``: the last token only, one or more tokens (``proctor.flow-run.>``);
- ``prefix*``: one token that starts with ``prefix`` (``proctor.flow-run.Fail*``).

Names map 1:1 onto NATS subjects under a namespace prefix, so a filter is pushed down to NATS
as a subject filter (``prefix*`` becomes ``*`` there and is finished in Python).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator

from proctor.core.errors import EventError

__all__ = (
    "MAX_NAME_LENGTH",
    "EventName",
    "NameFilter",
    "NameFilters",
    "compile_filter",
    "matches_any",
    "validate_event_name",
)

MAX_NAME_LENGTH = 256
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_PARTIAL = re.compile(r"^[A-Za-z0-9_-]+\*$")


_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")


def validate_event_name(name: str) -> str:
    """Return ``name`` if it is a valid event name, else raise ``EventError`` saying why."""
    if isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and _VALID_NAME.match(name):
        return name
    if not isinstance(name, str):
        raise EventError(f"event name must be a string, not {type(name).__name__}", field="event")
    if not name:
        raise EventError("event name is empty", field="event")
    if len(name) > MAX_NAME_LENGTH:
        raise EventError(
            f"event name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}",
            field="event",
        )
    for position, token in enumerate(name.split("."), start=1):
        if not _TOKEN.match(token):
            raise EventError(
                f"event name {name!r}: token {position} ({token!r}) must be non-empty and "
                "hold only letters, digits, '_' and '-' (tokens are separated by '.')",
                field="event",
            )
    return name


def _pydantic_event_name(name: str) -> str:
    try:
        return validate_event_name(name)
    except EventError as error:
        raise ValueError(str(error)) from None


EventName = Annotated[str, AfterValidator(_pydantic_event_name)]
"""A validated event name, for use in pydantic models."""


class NameFilter:
    """A compiled event-name filter. ``NameFilter("proctor.flow-run.*").matches(name)``."""

    __slots__ = ("_exact", "_partial_tokens", "_tail", "_tokens", "pattern")

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str) or not pattern:
            raise EventError("event name filter is empty", field="event")
        tokens = pattern.split(".")
        for position, token in enumerate(tokens, start=1):
            last = position == len(tokens)
            if token == "*" or (token == ">" and last):
                continue
            if _TOKEN.match(token) or _PARTIAL.match(token):
                continue
            where = "; '>' is allowed only as the last token" if token == ">" else ""
            raise EventError(
                f"event name filter {pattern!r}: token {position} ({token!r}) is not a name "
                f"token, '*', 'prefix*' or '>'{where}",
                field="event",
            )
        self.pattern = pattern
        self._tail = tokens[-1] == ">"
        self._tokens = tuple(tokens[:-1] if self._tail else tokens)
        self._exact = not self._tail and all(_TOKEN.match(t) for t in tokens)
        self._partial_tokens = any(t != "*" and t.endswith("*") for t in self._tokens)

    def __repr__(self) -> str:
        return f"NameFilter({self.pattern!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NameFilter) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    @property
    def is_exact(self) -> bool:
        """True when the filter has no wildcard: it matches one name only."""
        return self._exact

    def matches(self, name: str) -> bool:
        """Whether the event name ``name`` matches this filter."""
        if self._exact:
            return name == self.pattern
        tokens = name.split(".")
        wanted = len(self._tokens)
        if self._tail:
            if len(tokens) <= wanted:
                return False
        elif len(tokens) != wanted:
            return False
        for token, expected in zip(tokens, self._tokens, strict=False):
            if expected == "*":
                continue
            if expected.endswith("*"):
                if not token.startswith(expected[:-1]):
                    return False
            elif token != expected:
                return False
        return True

    def subject(self, prefix: str) -> str:
        """The NATS subject filter under ``prefix`` that selects at least every match."""
        tokens = ["*" if t.endswith("*") else t for t in self._tokens]
        if self._tail:
            tokens.append(">")
        return f"{prefix}.{'.'.join(tokens)}"

    @property
    def exact_on_nats(self) -> bool:
        """True when the NATS subject filter alone selects exactly the matches."""
        return not self._partial_tokens


@lru_cache(maxsize=4096)
def compile_filter(pattern: str) -> NameFilter:
    """A cached ``NameFilter`` for ``pattern``."""
    return NameFilter(pattern)


def matches_any(filters: Iterable[NameFilter], name: str) -> bool:
    """Whether ``name`` matches at least one of ``filters``."""
    return any(f.matches(name) for f in filters)


class NameFilters:
    """Whether a name matches any of some filters, the answer kept per name: a consumer asks
    for every message, and a stream holds few distinct names (at most ``limit`` are kept;
    past that the answers start again)."""

    __slots__ = ("_answers", "filters", "limit")

    def __init__(self, filters: Iterable[NameFilter], *, limit: int = 4096) -> None:
        self.filters = tuple(filters)
        self.limit = limit
        self._answers: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        answer = self._answers.get(name)
        if answer is None:
            if len(self._answers) >= self.limit:
                self._answers.clear()
            answer = self._answers[name] = matches_any(self.filters, name)
        return answer
