"""Bad input, generated: event names, resource labels, automation templates and JSONPath.

Each property says the same thing a user relies on (DESIGN §5.6): an input is either accepted
whole, or refused with Proctor's own error naming the field, never another exception.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from proctor.automations import Automation
from proctor.automations.validation import parse_automation
from proctor.core.errors import DefinitionError, EventError
from proctor.events.model import Event
from proctor.events.names import MAX_NAME_LENGTH, NameFilter, validate_event_name
from proctor.events.naming import Naming


def refusal(make: Callable[[], object]) -> tuple[object | None, str | None]:
    """What ``make()`` gave, or the field its Proctor error names (``"<none>"`` if none)."""
    try:
        return make(), None
    except (EventError, DefinitionError) as error:
        return None, error.field or "<none>"


TOKEN_CHARS = string.ascii_letters + string.digits + "_-"
NAMES = st.text(alphabet=TOKEN_CHARS + ".*> é\x00", max_size=40) | st.text(max_size=300)


def is_valid_name(name: str) -> bool:
    """The name grammar, the obvious way: dotted non-empty tokens of letters, digits, _ and -."""
    tokens = name.split(".")
    return 0 < len(name) <= MAX_NAME_LENGTH and all(
        token and all(c in TOKEN_CHARS for c in token) for token in tokens
    )


@given(NAMES)
def test_an_event_name_is_valid_exactly_when_the_grammar_says_and_maps_to_one_subject(
    name: str,
) -> None:
    naming = Naming("p")
    if is_valid_name(name):
        assert validate_event_name(name) == name
        assert naming.event_name(naming.event_subject(name)) == name
        assert NameFilter(name).matches(name)
    else:
        assert refusal(lambda: validate_event_name(name)) == (None, "event")


LABEL_TEXT = st.text(alphabet=string.ascii_lowercase + ".-_ A\x00é", max_size=12)


@given(st.dictionaries(LABEL_TEXT | st.just("proctor.resource.id"), LABEL_TEXT, max_size=4))
def test_resource_labels_are_accepted_whole_or_refused_naming_resource(
    labels: dict[str, str],
) -> None:
    event, field = refusal(lambda: Event.build("shop.order.created", labels))
    if field is not None:
        assert field.startswith("resource"), field
        return
    assert isinstance(event, Event)
    assert Event.from_wire(event.to_wire()) == event
    assert event.resource.id == labels["proctor.resource.id"]


def automation(payload_template: str, where: str | None = None) -> dict[str, Any]:
    return {
        "name": "generated",
        "trigger": {"type": "event", "expect": ["shop.order.created"], "where": where},
        "actions": [
            {
                "type": "emit-event",
                "event": "shop.order.seen",
                "resource": {"proctor.resource.id": "seen"},
                "payload": {"value": payload_template},
            }
        ],
    }


TEMPLATE_PIECES = st.sampled_from(
    ["{{", "}}", "{%", "%}", "{#", "#}", " event.id ", "for x in y", "endfor", "|", "upper",
     "(", ")", "'", '"', "event.payload['a']", "__class__", "range(10**9)", "x", " "]
)  # fmt: skip


@settings(max_examples=200)
@given(st.lists(TEMPLATE_PIECES, max_size=12).map("".join))
def test_a_template_is_accepted_or_refused_naming_its_field(template: str) -> None:
    parsed, field = refusal(lambda: parse_automation(automation(template)))
    if field is not None:
        assert field.startswith("actions.0.payload"), field
        return
    assert isinstance(parsed, Automation)
    assert parsed.actions[0].model_dump()["payload"] == {"value": template}


JSONPATH_PIECES = st.sampled_from(
    ["$", ".", "payload", "[", "]", "*", "..", "?", "@", "(", ")", "==", "'a'", "1", "a", " "]
)


@settings(max_examples=200)
@given(st.lists(JSONPATH_PIECES, max_size=10).map("".join))
def test_a_where_path_is_accepted_or_refused_naming_the_trigger(path: str) -> None:
    _, field = refusal(lambda: parse_automation(automation("{{ event.id }}", where=path)))
    assert field is None or re.match(r"trigger(\.|$)", field), field
