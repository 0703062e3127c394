"""``NameIndex``: from an event name to the items registered under matching name filters.

Exact names are one dict lookup; wildcard filters (``*``, ``prefix*``, ``>``) live in a token
trie walked once per name; filters that match every name are a list. Answers are cached per
name (event names are few), so a name seen before costs one dict lookup whatever the number
of registered filters.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final, Generic, TypeVar

from proctor.events.names import NameFilter

__all__ = ("NameIndex",)

T = TypeVar("T", bound=Hashable)
_CACHE_LIMIT: Final = 8192


class _TrieNode(Generic[T]):
    __slots__ = ("children", "prefixes", "star", "tail", "terminal")

    def __init__(self) -> None:
        self.children: dict[str, _TrieNode[T]] = {}
        self.prefixes: dict[str, _TrieNode[T]] = {}
        self.star: _TrieNode[T] | None = None
        self.tail: list[T] = []
        self.terminal: list[T] = []


class NameIndex(Generic[T]):
    """Items by event-name filter. ``lookup(name)`` lists each matching item once, in the
    order they were added."""

    def __init__(self) -> None:
        self._registrations: list[tuple[NameFilter | None, T]] = []
        self._order: dict[T, int] = {}
        self._exact: dict[str, list[T]] = {}
        self._any: list[T] = []
        self._trie: _TrieNode[T] = _TrieNode()
        self._cache: dict[str, tuple[T, ...]] = {}

    def __len__(self) -> int:
        return len(self._registrations)

    def add(self, pattern: NameFilter | None, item: T) -> None:
        """Register ``item`` under ``pattern`` (``None``: every name)."""
        self._registrations.append((pattern, item))
        self._order.setdefault(item, len(self._order))
        self._insert(pattern, item)
        self._cache.clear()

    def remove(self, items: set[T]) -> None:
        """Forget every registration of ``items``."""
        kept = [(pattern, item) for pattern, item in self._registrations if item not in items]
        self._registrations, self._order = [], {}
        self._exact, self._any, self._trie = {}, [], _TrieNode()
        for pattern, item in kept:
            self.add(pattern, item)
        self._cache.clear()

    def _insert(self, pattern: NameFilter | None, item: T) -> None:
        if pattern is None:
            self._any.append(item)
            return
        if pattern.is_exact:
            self._exact.setdefault(pattern.pattern, []).append(item)
            return
        node = self._trie
        tokens = pattern.pattern.split(".")
        for position, token in enumerate(tokens):
            if token == ">" and position == len(tokens) - 1:
                node.tail.append(item)
                return
            if token == "*":
                node.star = node.star or _TrieNode()
                node = node.star
            elif token.endswith("*"):
                node = node.prefixes.setdefault(token[:-1], _TrieNode())
            else:
                node = node.children.setdefault(token, _TrieNode())
        node.terminal.append(item)

    def lookup(self, name: str) -> tuple[T, ...]:
        """Every item registered under a filter that matches ``name``, each once."""
        found = self._cache.get(name)
        if found is not None:
            return found
        matches: list[T] = list(self._any)
        matches.extend(self._exact.get(name, ()))
        self._walk(self._trie, name.split("."), 0, matches)
        order = self._order
        found = tuple(sorted(dict.fromkeys(matches), key=order.__getitem__))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[name] = found
        return found

    def _walk(self, node: _TrieNode[T], tokens: list[str], position: int, out: list[T]) -> None:
        if position == len(tokens):
            out.extend(node.terminal)
            return
        out.extend(node.tail)
        token = tokens[position]
        child = node.children.get(token)
        if child is not None:
            self._walk(child, tokens, position + 1, out)
        if node.star is not None:
            self._walk(node.star, tokens, position + 1, out)
        for prefix, child in node.prefixes.items():
            if token.startswith(prefix):
                self._walk(child, tokens, position + 1, out)
