"""The name index answers exactly what checking every filter would, without checking them all."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proctor.events.names import NameFilter
from proctor.triggers.evaluation import NameIndex

TOKENS = ["shop", "order", "created", "cre", "failed", "proctor", "flow-run", "Failed"]
NAMES = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=4).map(".".join)
PATTERN_TOKENS = st.sampled_from([*TOKENS, "*", "cr*", "fl*", "F*"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(PATTERN_TOKENS, min_size=1, max_size=4))
    if draw(st.booleans()):
        tokens.append(">")
    return ".".join(tokens)


@settings(max_examples=100, deadline=None)
@given(
    registered=st.lists(st.one_of(st.none(), patterns()), min_size=1, max_size=30),
    names=st.lists(NAMES, min_size=1, max_size=10),
)
def test_lookup_matches_a_scan_over_every_filter(
    registered: list[str | None], names: list[str]
) -> None:
    index: NameIndex[int] = NameIndex()
    filters = [None if p is None else NameFilter(p) for p in registered]
    for item, name_filter in enumerate(filters):
        index.add(name_filter, item)
    for name in names:
        expected = tuple(item for item, f in enumerate(filters) if f is None or f.matches(name))
        assert index.lookup(name) == expected
        assert index.lookup(name) == expected  # cached


def test_remove_forgets_every_registration_of_an_item() -> None:
    index: NameIndex[str] = NameIndex()
    index.add(NameFilter("a.b"), "x")
    index.add(NameFilter("a.*"), "x")
    index.add(NameFilter("a.>"), "y")
    assert index.lookup("a.b") == ("x", "y")
    index.remove({"x"})
    assert index.lookup("a.b") == ("y",)
    assert len(index) == 1
