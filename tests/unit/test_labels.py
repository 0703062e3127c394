from __future__ import annotations

import pytest
from pydantic import ValidationError

from proctor.events.labels import RelatedResource, Resource, ResourceSpecification

RUN = {
    "proctor.resource.id": "proctor.flow-run.123",
    "proctor.resource.name": "brave-otter",
    "env": "prod",
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"env": "prod"}, True),
        ({"env": "dev"}, False),
        ({"env": ["dev", "prod"]}, True),
        ({"proctor.resource.id": "proctor.flow-run.*"}, True),
        ({"proctor.resource.id": "proctor.task-run.*"}, False),
        ({"env": "*"}, True),
        ({"missing": "*"}, False),
        ({"env": "!dev"}, True),
        ({"env": "!prod"}, False),
        ({"env": "!pr*"}, False),
        ({"missing": "!x"}, True),
        ({"env": ["prod", "!prod"]}, False),
        ({"env": "prod", "proctor.resource.name": "brave-*"}, True),
        ({"env": "prod", "proctor.resource.name": "calm-*"}, False),
    ],
)
def test_label_specification(spec: dict[str, str | list[str]], expected: bool) -> None:
    assert ResourceSpecification(spec).matches(RUN) is expected
    assert ResourceSpecification(spec).matches(Resource(RUN)) is expected


def test_matches_any_related() -> None:
    related = [
        RelatedResource({"proctor.resource.id": "flow.1", "proctor.resource.role": "flow"}),
        RelatedResource({"proctor.resource.id": "tag.etl", "proctor.resource.role": "tag"}),
    ]
    assert ResourceSpecification({"proctor.resource.role": "tag"}).matches_any(related)
    assert not ResourceSpecification({"proctor.resource.role": "deployment"}).matches_any(related)


def test_resource_needs_an_id() -> None:
    with pytest.raises(ValidationError, match=r"proctor\.resource\.id"):
        Resource({"env": "prod"})


def test_related_resource_needs_a_role() -> None:
    with pytest.raises(ValidationError, match=r"proctor\.resource\.role"):
        RelatedResource({"proctor.resource.id": "x"})


def test_empty_pattern_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="env"):
        ResourceSpecification({"env": []})
