"""Sandboxed templates: native types, field-named errors, escapes refused, compiled once."""

from __future__ import annotations

from typing import Any

import pytest

from proctor.automations.templating import compile_structure, compile_template
from proctor.core.errors import TemplateError

CONTEXT: dict[str, Any] = {
    "event": {
        "event": "webhook.github-push",
        "payload": {
            "count": 3,
            "ratio": 0.5,
            "ok": True,
            "after": "0000000000000000000000000000000000000000",
            "ref": "refs/heads/main",
            "digits": "12",
            "commits": [{"id": "a1"}, {"id": "b2"}],
            "nothing": None,
        },
    }
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ event.payload.count }}", 3),
        ("{{ event.payload.ratio }}", 0.5),
        ("{{ event.payload.ok }}", True),
        ("{{ event.payload.nothing }}", None),
        ("{{ event.payload.commits }}", [{"id": "a1"}, {"id": "b2"}]),
        ("{{ event.payload.commits | map(attribute='id') | list }}", ["a1", "b2"]),
        ("{{ event.payload.count + 1 }}", 4),
        ("{{ 5 }}", 5),
        ("{% if event.payload.ok %}{{ event.payload.count }}{% endif %}", 3),
        # Strings stay strings, even when they look like numbers (no literal_eval).
        ("{{ event.payload.after }}", "0000000000000000000000000000000000000000"),
        ("{{ event.payload.digits }}", "12"),
        # Anything around the expression makes a string.
        ("n={{ event.payload.count }}", "n=3"),
        ("{{ event.payload.count }}{{ event.payload.count }}", "33"),
        ("plain text", "plain text"),
        ("{{ event.payload.missing | default('none') }}", "none"),
    ],
)
def test_single_expression_keeps_its_native_type(source: str, expected: Any) -> None:
    result = compile_template(source, field="parameters.x").render(CONTEXT)
    assert result == expected
    assert type(result) is type(expected)


def test_structure_renders_every_template_and_keeps_the_shape() -> None:
    structure = compile_structure(
        {
            "sha": "{{ event.payload.after }}",
            "count": "{{ event.payload.count }}",
            "ids": ["{{ event.payload.commits[0].id }}", "literal", 7],
            "nested": {"ref": "ref: {{ event.payload.ref }}", "flag": False},
        },
        field="parameters",
    )
    assert structure.render(CONTEXT) == {
        "sha": "0000000000000000000000000000000000000000",
        "count": 3,
        "ids": ["a1", "literal", 7],
        "nested": {"ref": "ref: refs/heads/main", "flag": False},
    }
    assert structure.variables == {"event"}


def test_a_compiled_structure_renders_many_contexts() -> None:
    template = compile_template("{{ event.payload.count * 2 }}", field="parameters.n")
    assert [template.render({"event": {"payload": {"count": n}}}) for n in range(3)] == [0, 2, 4]


@pytest.mark.parametrize(
    ("value", "field", "needle"),
    [
        ({"sha": "{{ event.payload.after }"}, "parameters.sha", "unexpected '}'"),
        ({"a": [1, {"b": "{% if x %}"}]}, "parameters.a[1].b", "end of template"),
        ({"sha": "{{ ''.__class__ }}"}, "parameters.sha", "unsafe attribute '__class__'"),
        ({"sha": "{{ event['__init__'] }}"}, "parameters.sha", "unsafe attribute '__init__'"),
        ({"sha": "{% include 'other' %}"}, "parameters.sha", "'include' is not allowed"),
        ({"sha": "{% extends 'base' %}"}, "parameters.sha", "'extends' is not allowed"),
        ({"when": object()}, "parameters.when", "not a JSON value"),
    ],
)
def test_bad_templates_are_refused_at_save_time_naming_the_field(
    value: Any, field: str, needle: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_structure(value, field="parameters")
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("{{ ''|attr('__class__') }}", "refused by the sandbox"),
        ("{{ event.payload.commits.append(1) }}", "refused by the sandbox"),
        ("{{ event.payload.update({'a': 1}) }}", "refused by the sandbox"),
        ("{{ 'x' * 10000000 }}", "the limit is"),
        ("{{ [0] * 10000000 }}", "the limit is"),
        ("{{ 10 ** 100000 }}", "exponent"),
        ("{{ range(10000000) | list }}", "MAX_RANGE"),
        ("{{ lipsum.__globals__ }}", "unsafe attribute"),
    ],
)
def test_sandbox_escapes_and_resource_bombs_are_refused(source: str, needle: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(source, field="body").render(CONTEXT)
    assert caught.value.field == "body"
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("{{ event.payload.nope }}", "has no attribute 'nope'"),
        ("{{ evnt.payload }}", "'evnt' is undefined"),
        ("{{ [evnt] }}", "'evnt' is undefined"),
        ("x {{ event.payload.nope.deeper }}", "has no attribute 'nope'"),
    ],
)
def test_undefined_values_are_errors_not_empty_strings(source: str, needle: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(source, field="parameters.sha").render(CONTEXT)
    assert needle in str(caught.value)
    assert str(caught.value).startswith("parameters.sha: ")


def test_render_errors_do_not_quote_context_values() -> None:
    secret_context = {"token": "s3cr3t-value-xyz", "n": 0}
    for source in ("{{ token / n }}", "{{ token.nope }}", "{{ token + n }}"):
        with pytest.raises(TemplateError) as caught:
            compile_template(source, field="headers.auth").render(secret_context)
        assert "s3cr3t" not in str(caught.value)
        assert caught.value.__cause__ is None
