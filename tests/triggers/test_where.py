"""``where``: JSONPath filters over events, compiled once; the fast path agrees with jsonpath-ng."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonpath_ng.ext.parser import parse

from proctor.triggers.where import compile_where, event_document
from tests.triggers.support import event, related

PUSH = event(
    "github.push",
    resource={"proctor.resource.id": "github.repo.proctor", "proctor.resource.name": "proctor"},
    related=[related("tag", "prod")],
    payload={
        "ref": "refs/heads/main",
        "repository": {"name": "proctor", "stars": 1200, "owner": {"login": "acme"}},
        "commits": [{"author": {"name": "bot"}, "added": 3}, {"author": {"name": "ada"}}],
        "forced": False,
        "base": None,
    },
)


def matches(text: str) -> bool:
    return compile_where(text).matches(event_document(PUSH))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$.payload.ref == 'refs/heads/main'", True),
        ('$.payload.ref == "refs/heads/main"', True),
        ("@.payload.ref == 'refs/heads/dev'", False),
        ("$.payload.ref != 'refs/heads/dev'", True),
        ("$.payload.repository.owner.login == 'acme'", True),
        ("$.payload.repository.stars > 1000", True),
        ("$.payload.repository.stars >= 1200.0", True),
        ("$.payload.repository.stars < 1000", False),
        ("$.payload.repository.stars == '1200'", False),  # a string is never a number
        ("$.payload.ref =~ '^refs/heads/(main|master)$'", True),
        ("$.payload.ref =~ 'release'", False),
        ("$.payload.forced == false", True),
        ("$.payload.forced == 0", False),  # a boolean is never a number
        ("$.payload.base == null", True),
        ("$.payload.missing == null", False),  # missing is not null
        ("$.payload.missing != 'x'", True),
        ("$.payload.missing > 1", False),
        ("$.payload.repository", True),  # exists
        ("$.payload.repository.license", False),
        ("!$.payload.repository.license", True),
        ("$.payload.ref == 'refs/heads/main' && $.payload.repository.stars > 5000", False),
        ("$.payload.ref == 'refs/heads/dev' || $.payload.repository.stars > 1000", True),
        ("$.payload.commits[?(@.author.name == 'bot')]", True),
        ("$.payload.commits[?(@.author.name == 'eve')]", False),
        ("$.payload.commits[0].added == 3", True),
        ("$.payload.commits[*].author.name == 'ada'", True),
        ("$.resource['proctor.resource.name'] == 'proctor'", True),
        ("$.related[?(@['proctor.resource.role'] == 'tag')]", True),
        ("$.event == 'github.push'", True),
        ("$.hops == 0", True),
    ],
)
def test_where_filters_nested_payload_fields(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("$.payload.ref ==", "at column"),
        ("$.payload.ref == main", "not a valid JSONPath filter"),  # unquoted word
        ("$.payload.ref =~ 5", "quoted regular expression"),
        ("$.payload.ref =~ '('", "not a valid regular expression"),
        ("1)] || $[?(1", "not a valid"),
        ("   ", "is empty"),
    ],
)
def test_bad_where_says_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_where(text)


def test_the_document_is_the_event_as_json() -> None:
    assert event_document(PUSH) == json.loads(PUSH.model_dump_json())


def test_compiled_filters_are_shared() -> None:
    assert compile_where("$.payload.x == 1") is compile_where("$.payload.x == 1")


# -- property: the fast path answers as jsonpath-ng does ------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([0.5, 1.0, -2.5]),
    st.sampled_from(["", "a", "b", "main", "1"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3),
    ),
    max_leaves=8,
)
LITERALS = ["null", "true", "false", "0", "1", "-3", "0.5", "1.0", "'a'", "'main'", "'1'", "''"]


@settings(max_examples=200, deadline=None)
@given(
    payload=st.dictionaries(st.sampled_from(["a", "b", "c"]), VALUES, max_size=3),
    path=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3),
    op=st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "=~", None, "!"]),
    literal=st.sampled_from(LITERALS),
)
def test_fast_path_agrees_with_jsonpath_ng(
    payload: dict[str, Any], path: list[str], op: str | None, literal: str
) -> None:
    target = "$.payload." + ".".join(path)
    if op is None:
        text = target
    elif op == "!":
        text = "!" + target
    elif op == "=~":
        text = f"{target} =~ 'a|1'"
    else:
        text = f"{target} {op} {literal}"
    document = {"payload": payload}
    expression = parse(f"$[?({text})]").right.expressions[0]  # type: ignore[attr-defined]
    assert compile_where(text).matches(document) is bool(expression.find(document)), text
