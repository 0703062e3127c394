from __future__ import annotations

import pytest

from proctor.core.errors import EventError
from proctor.events.names import NameFilter, NameFilters, compile_filter, validate_event_name


@pytest.mark.parametrize(
    "name", ["proctor.flow-run.Failed", "github.push", "a", "shop.order_v2.created", "x-1.Y_2"]
)
def test_valid_names(name: str) -> None:
    assert validate_event_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("a..b", "token 2"),
        (".a", "token 1"),
        ("a.", "token 2"),
        ("a b", "token 1"),
        ("a.*", "token 2"),
        ("a.>", "token 2"),
        ("ünïcode", "token 1"),
        ("a" * 300, "limit is 256"),
    ],
)
def test_invalid_names_say_which_token(name: str, why: str) -> None:
    with pytest.raises(EventError, match=why) as caught:
        validate_event_name(name)
    assert caught.value.field == "event"


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.b.c", False),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.*", "a", False),
        ("*.b", "x.b", True),
        ("a.>", "a.b", True),
        ("a.>", "a.b.c.d", True),
        ("a.>", "a", False),
        (">", "anything.at.all", True),
        ("proctor.flow-run.Fail*", "proctor.flow-run.Failed", True),
        ("proctor.flow-run.Fail*", "proctor.flow-run.Completed", False),
        ("proctor.*.Failed", "proctor.task-run.Failed", True),
        ("proctor.*.Failed", "proctor.task-run.Completed", False),
    ],
)
def test_filter_matching(pattern: str, name: str, expected: bool) -> None:
    assert NameFilter(pattern).matches(name) is expected


@pytest.mark.parametrize(
    ("pattern", "subject", "exact"),
    [
        ("a.b", "p.events.a.b", True),
        ("a.*", "p.events.a.*", True),
        ("a.>", "p.events.a.>", True),
        ("a.Fail*", "p.events.a.*", False),
    ],
)
def test_filters_push_down_to_nats_subjects(pattern: str, subject: str, exact: bool) -> None:
    compiled = NameFilter(pattern)
    assert compiled.subject("p.events") == subject
    assert compiled.exact_on_nats is exact


@pytest.mark.parametrize("pattern", ["", "a.>.b", "a..b", "a.b c", "a.*x"])
def test_bad_filters_are_rejected(pattern: str) -> None:
    with pytest.raises(EventError):
        NameFilter(pattern)


# --- NameFilters: answers kept per name ---------------------------------------------------


def filters(*patterns: str, limit: int = 4096) -> NameFilters:
    return NameFilters((compile_filter(p) for p in patterns), limit=limit)


def test_a_name_matches_when_any_filter_does() -> None:
    wanted = filters("proctor.automation.*", "proctor.deployment.>", "webhook.git*")
    assert wanted("proctor.automation.created")
    assert wanted("proctor.deployment.paused.now")
    assert wanted("webhook.github")
    assert not wanted("proctor.automation.created.twice")
    assert not wanted("webhook.stripe")
    assert wanted("proctor.automation.created")  # asked again: the same answer


def test_no_filters_match_nothing() -> None:
    assert not filters()("any.name")


def test_answers_past_the_limit_start_again_and_stay_right() -> None:
    wanted = filters("shop.*", limit=3)
    names = [f"shop.n{i}" for i in range(10)] + [f"other.n{i}" for i in range(10)]
    assert [wanted(name) for name in names * 2] == [name.startswith("shop.") for name in names * 2]
