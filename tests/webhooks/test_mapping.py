"""Webhook definitions and request → event mapping (default and templated)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr, ValidationError

from proctor.core.errors import WebhookRejectedError
from proctor.events.model import Event, WireEvent
from proctor.runtime.webhooks import (
    HTTP_STATUS,
    REJECTED_EVENT,
    InMemoryReplayGuard,
    RejectReason,
    Webhook,
    WebhookPreset,
    WebhookRequest,
    accept,
    build_event,
    build_wire_event,
    delivery_event_id,
    generate_secret,
    http_status,
    rejection_event,
)
from proctor.runtime.webhooks.spans import webhook_span
from tests.webhooks.signers import GITHUB_SAMPLES, NOW, SECRETS, signed, webhook_for


def _event(webhook: Webhook, body: bytes, headers: dict[str, str] | None = None):
    request = WebhookRequest.of(body, headers or {"Content-Type": "application/json"})
    return build_event(webhook, request, now=NOW, delivery_id="d-1")


def _bad(webhook: Webhook, body: bytes, headers: dict[str, str] | None = None) -> str:
    with pytest.raises(WebhookRejectedError) as caught:
        _event(webhook, body, headers)
    assert caught.value.reason == RejectReason.BAD_BODY
    assert http_status(caught.value) == 400
    return str(caught.value)


OPEN = Webhook(slug="orders", preset=WebhookPreset.NONE)


def test_every_reason_has_one_status() -> None:
    assert set(HTTP_STATUS) == set(RejectReason)
    assert HTTP_STATUS[RejectReason.BAD_SIGNATURE] == 401
    assert HTTP_STATUS[RejectReason.STALE_TIMESTAMP] == 401
    assert HTTP_STATUS[RejectReason.REPLAYED] == 401
    assert HTTP_STATUS[RejectReason.TOO_LARGE] == 413
    assert HTTP_STATUS[RejectReason.BAD_BODY] == 400


def test_default_event_for_a_json_object_body() -> None:
    event = _event(OPEN, b'{"order": {"id": 7}, "total": 9.5}')
    assert event.event == "webhook.orders"
    assert event.payload == {"order": {"id": 7}, "total": 9.5}
    assert event.resource["proctor.resource.id"] == "proctor.webhook.orders"
    assert event.resource["proctor.resource.name"] == "orders"


@pytest.mark.parametrize(
    ("body", "payload"), [(b"[1, 2]", {"body": [1, 2]}), (b'"hi"', {"body": "hi"}), (b"", {})]
)
def test_a_body_that_is_not_an_object_goes_under_body(body: bytes, payload: dict[str, Any]) -> None:
    assert _event(OPEN, body).payload == payload


def test_a_form_body_is_parsed_like_slack_slash_commands() -> None:
    form = urlencode([("command", "/deploy"), ("text", "api prod"), ("tag", "a"), ("tag", "b")])
    event = _event(
        OPEN, form.encode(), {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    )
    assert event.payload == {"command": "/deploy", "text": "api prod", "tag": ["a", "b"]}


def test_selected_headers_are_kept_and_credentials_never() -> None:
    webhook = Webhook(slug="orders", preset=WebhookPreset.NONE, keep_headers=("X-Shop-Topic",))
    event = _event(webhook, b'{"n": 1}', {"X-Shop-Topic": "orders/create", "Cookie": "c=1"})
    assert event.payload == {"n": 1, "headers": {"x-shop-topic": "orders/create"}}
    with pytest.raises(ValidationError, match="carries credentials"):
        Webhook(slug="x", preset=WebhookPreset.NONE, keep_headers=("Authorization",))


def test_a_body_headers_field_collides_with_kept_headers_clearly() -> None:
    webhook = Webhook(slug="orders", preset=WebhookPreset.NONE, keep_headers=("x-topic",))
    message = _bad(webhook, b'{"headers": {}}', {"x-topic": "t"})
    assert "event_template" in message


@pytest.mark.parametrize(
    ("body", "headers", "needle"),
    [
        (b"{not json", {"Content-Type": "application/json"}, "not valid JSON"),
        (b'{"n": NaN}', {"Content-Type": "application/json"}, "NaN is not valid JSON"),
        (b"\xff\xfe", {"Content-Type": "application/json"}, "UTF-8"),
        (b"[" * 100_000, {"Content-Type": "application/json"}, "JSON"),
        (b"<xml/>", {"Content-Type": "application/xml"}, "neither JSON nor a form"),
    ],
)
def test_a_body_that_cannot_be_parsed_is_a_clear_400(
    body: bytes, headers: dict[str, str], needle: str
) -> None:
    assert needle in _bad(OPEN, body, headers)


GITHUB_TEMPLATE = {
    "event": "github.{{ headers['x-github-event'] }}",
    "resource": {
        "proctor.resource.id": "github.repo.{{ body.repository.full_name }}",
        "github.repo-id": "{{ body.repository.id }}",
    },
    "payload": {
        "sha": "{{ body.after }}",
        "ref": "{{ body.ref }}",
        "commits": "{{ body.commits | length }}",
        "pusher": "{{ body.pusher.name }}",
        "delivery": "{{ delivery_id }}",
    },
}


def test_a_template_builds_any_event_with_native_values() -> None:
    webhook = webhook_for(WebhookPreset.GITHUB, event_template=GITHUB_TEMPLATE)
    raw = (GITHUB_SAMPLES / "push-with-new-branch.payload.json").read_bytes()
    sample = json.loads(raw)
    event = _event(webhook, raw, {"Content-Type": "application/json", "X-GitHub-Event": "push"})
    assert event.event == "github.push"
    assert event.resource["proctor.resource.id"] == "github.repo.Codertocat/Hello-World"
    assert event.resource["github.repo-id"] == str(sample["repository"]["id"])
    assert event.payload == {
        "sha": sample["after"],
        "ref": sample["ref"],
        "commits": len(sample["commits"]),
        "pusher": sample["pusher"]["name"],
        "delivery": "d-1",
    }


def test_a_template_that_leaves_keys_out_keeps_their_defaults() -> None:
    webhook = Webhook(
        slug="orders", preset=WebhookPreset.NONE, event_template={"event": "shop.{{ body.kind }}"}
    )
    event = _event(webhook, b'{"kind": "order", "n": 1}')
    assert event.event == "shop.order"
    assert event.payload == {"kind": "order", "n": 1}
    assert event.resource["proctor.resource.id"] == "proctor.webhook.orders"


def test_a_template_may_read_a_body_of_another_content_type_as_text() -> None:
    webhook = Webhook(
        slug="logs", preset=WebhookPreset.NONE, event_template={"payload": {"line": "{{ text }}"}}
    )
    event = _event(webhook, b"disk full", {"Content-Type": "text/plain"})
    assert event.payload == {"line": "disk full"}


@pytest.mark.parametrize(
    ("template", "body", "needle"),
    [
        ({"payload": {"sha": "{{ body.after }}"}}, b'{"before": "x"}', "has no attribute 'after'"),
        ({"event": "{{ body.kind }}"}, b'{"kind": "no spaces allowed"}', "valid event"),
        ({"payload": "{{ body.things }}"}, b'{"things": [1]}', "rendered to list, not a JSON"),
        ({"resource": {"a": "{{ body.n }}"}}, b'{"n": 1}', "proctor.resource.id"),
    ],
)
def test_a_body_the_template_cannot_handle_is_a_400_saying_why(
    template: dict[str, Any], body: bytes, needle: str
) -> None:
    webhook = Webhook(slug="orders", preset=WebhookPreset.NONE, event_template=template)
    assert needle in _bad(webhook, body)


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"slug": "Bad Slug", "preset": "none"}, "slug"),
        ({"slug": "-x", "preset": "none"}, "slug"),
        ({"slug": "ok", "preset": "github"}, "needs a secret"),
        ({"slug": "ok", "preset": "none", "secret": "s3cret"}, "takes no secret"),
        ({"slug": "ok", "preset": "standard", "secret": "plain-secret"}, "whsec_"),
        ({"slug": "ok", "preset": "standard", "secret": "whsec_!!notbase64"}, "base64"),
        ({"slug": "ok", "preset": "none", "event_template": {"payload": {"sha": "{{ x }"}}},
         "event_template.payload.sha: unexpected '}'"),
        ({"slug": "ok", "preset": "none", "event_template": {"name": "x"}}, "unknown key 'name'"),
        ({"slug": "ok", "preset": "none", "event_template": {"event": "{{ ''.__class__ }}"}},
         "unsafe attribute"),
        ({"slug": "ok", "preset": "shared-secret", "secret": "s3cret",
          "keep_headers": ["x-webhook-secret"]}, "secret_header"),
    ],
)  # fmt: skip
def test_bad_definitions_are_refused_naming_the_field(fields: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Webhook.model_validate(fields)
    assert needle in str(caught.value)
    if "secret" in fields:
        assert str(fields["secret"]) not in str(caught.value)


def test_secrets_never_show_in_reprs_or_json() -> None:
    webhook = webhook_for(WebhookPreset.GITHUB)
    secret = SECRETS[WebhookPreset.GITHUB]
    assert secret not in repr(webhook)
    assert secret not in webhook.model_dump_json()
    assert secret not in str(webhook.model_dump())


def test_generated_secrets_fit_their_preset() -> None:
    for preset in (WebhookPreset.STANDARD, WebhookPreset.GITHUB):
        secret = generate_secret(preset)
        Webhook(slug="g", preset=preset, secret=secret)
    assert generate_secret(WebhookPreset.STANDARD).get_secret_value().startswith("whsec_")
    assert generate_secret(WebhookPreset.SLACK) != generate_secret(WebhookPreset.SLACK)
    assert isinstance(generate_secret(WebhookPreset.SLACK), SecretStr)


async def test_a_rejection_is_an_event_with_the_reason_and_no_secret() -> None:
    webhook = webhook_for(WebhookPreset.GITHUB)
    body = b'{"zen": "x"}'
    request = WebhookRequest.of(body, signed(WebhookPreset.GITHUB, body, secret="wrong").headers)
    with pytest.raises(WebhookRejectedError) as caught:
        await accept(webhook, request, now=NOW, guard=InMemoryReplayGuard())
    event = rejection_event(webhook.slug, caught.value, now=NOW)
    assert event.event == REJECTED_EVENT
    assert event.resource["proctor.resource.id"] == "proctor.webhook.hook-github"
    assert event.payload["reason"] == "bad_signature"
    assert event.payload["status"] == 401
    assert SECRETS[WebhookPreset.GITHUB] not in event.model_dump_json()
    assert rejection_event("../../etc", caught.value, now=NOW).resource[
        "proctor.resource.name"
    ] == ("invalid")


async def test_a_delivery_keeps_its_event_id_across_retries() -> None:
    webhook = webhook_for(WebhookPreset.GITHUB)
    guard = InMemoryReplayGuard()
    request = signed(WebhookPreset.GITHUB, b'{"after": "abc"}', delivery="d-42")
    first = await accept(
        webhook, WebhookRequest.of(request.body, request.headers), now=NOW, guard=guard
    )
    assert first.claim is not None  # publishing failed (not answered): the sender retries
    retry = await accept(
        webhook, WebhookRequest.of(request.body, request.headers), now=NOW, guard=guard
    )
    assert retry.event.id == first.event.id == delivery_event_id(webhook.slug, "d-42")
    other = signed(WebhookPreset.GITHUB, b'{"after": "abc"}', delivery="d-43")
    again = await accept(
        webhook, WebhookRequest.of(other.body, other.headers), now=NOW, guard=guard
    )
    assert again.event.id != first.event.id


def test_a_template_naming_another_resource_keeps_the_webhook_related() -> None:
    webhook = Webhook(
        slug="orders",
        preset=WebhookPreset.NONE,
        event_template={"resource": {"proctor.resource.id": "shop.order.{{ body.id }}"}},
    )
    event = _event(webhook, b'{"id": 7}')
    assert event.resource.id == "shop.order.7"
    (related,) = event.related_with_role("webhook")
    assert related.id == "proctor.webhook.orders"
    assert related.get("proctor.webhook.delivery-id") == "d-1"
    assert _event(OPEN, b'{"id": 7}').related == ()


_WIRE_CASES = [
    (OPEN, b'{"order": {"id": 7}, "total": 9.5, "name": "caf\\u00e9 \\"q\\""}', "d-1"),
    (OPEN, b"[1, 2.5e3, null]", "d-\u00e9\"'\\<x>"),
    (OPEN, b"a=1&a=2&b=", None),
    (webhook_for(WebhookPreset.GITHUB), (GITHUB_SAMPLES / "push-payload.json").read_bytes(), "g"),
]


@pytest.mark.parametrize(("webhook", "body", "delivery_id"), _WIRE_CASES)
def test_wire_event_is_the_event_serialised(
    webhook: Webhook, body: bytes, delivery_id: str | None
) -> None:
    kind = "application/x-www-form-urlencoded" if body.startswith(b"a=") else "application/json"
    request = WebhookRequest.of(body, {"Content-Type": kind, "X-GitHub-Event": "push"})
    event_id = delivery_event_id(webhook.slug, delivery_id or "none")
    wire = build_wire_event(webhook, request, now=NOW, delivery_id=delivery_id, event_id=event_id)
    model = build_event(webhook, request, now=NOW, delivery_id=delivery_id, event_id=event_id)
    assert isinstance(wire, WireEvent)
    assert wire.data == model.to_wire()
    assert (wire.id, wire.event) == (event_id, f"webhook.{webhook.slug}")


@pytest.mark.parametrize(
    "delivery_id",
    ["", "d\x00\x1f\x7f", '"},"payload":{}', "\\u0000 \u2028 \U0001f600 caf\u00e9", "x" * 2048],
)
@pytest.mark.parametrize(
    "now",
    [
        NOW,
        NOW.replace(microsecond=7),
        datetime(2026, 3, 29, 2, 30, 0, 120_000, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    ],
)
def test_wire_event_writes_any_delivery_id_and_time_as_the_model(
    delivery_id: str, now: datetime
) -> None:
    request = WebhookRequest.of(b'{"a": [1, "b"]}', {})
    for webhook in (OPEN, webhook_for(WebhookPreset.GITHUB)):
        wire = build_wire_event(webhook, request, now=now, delivery_id=delivery_id)
        model = build_event(webhook, request, now=now, delivery_id=delivery_id, event_id=wire.id)
        assert isinstance(wire, WireEvent)
        assert wire.data == model.to_wire()


def test_wire_event_leaves_the_unusual_to_build_event() -> None:
    templated = Webhook(
        slug="orders", preset=WebhookPreset.NONE, event_template={"event": "shop.order"}
    )
    request = WebhookRequest.of(b'{"a": 1}', {})
    assert isinstance(build_wire_event(templated, request, now=NOW, delivery_id="d"), Event)
    huge = WebhookRequest.of(json.dumps({"x": "y" * 300_000}).encode(), {})
    with pytest.raises(WebhookRejectedError) as caught:
        build_wire_event(OPEN, huge, now=NOW, delivery_id="d")
    assert caught.value.reason == RejectReason.TOO_LARGE
    long_id = WebhookRequest.of(b"{}", {})
    with pytest.raises(WebhookRejectedError) as refused:
        build_wire_event(OPEN, long_id, now=NOW, delivery_id="d" * 5000)
    assert refused.value.reason == RejectReason.BAD_BODY
    assert "resource" in str(refused.value)
    with pytest.raises(WebhookRejectedError) as naive:
        build_wire_event(OPEN, long_id, now=NOW.replace(tzinfo=None), delivery_id="d")
    assert naive.value.reason == RejectReason.BAD_BODY
    assert "occurred" in str(naive.value)


def test_a_wire_event_carries_the_senders_traceparent_as_the_model_would() -> None:
    request = WebhookRequest.of(b'{"a": 1}', {})
    wire = build_wire_event(
        OPEN, request, now=NOW, delivery_id="d", event_id=delivery_event_id("orders", "d")
    )
    assert isinstance(wire, WireEvent)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with webhook_span("orders", {"traceparent": parent}, wire) as carried:
        assert isinstance(carried, WireEvent)
        expected = wire.to_event().model_copy(update={"traceparent": parent}).to_wire()
        assert carried.data == expected
        assert carried.to_event().traceparent == parent
