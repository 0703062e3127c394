"""Each verification preset: valid, wrong, stale, replayed, oversized, missing header."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from proctor.automations.templating import compile_structure
from proctor.core.errors import WebhookRejectedError
from proctor.runtime.webhooks import (
    MAX_WEBHOOK_BODY_BYTES,
    Claim,
    InMemoryReplayGuard,
    RejectReason,
    Webhook,
    WebhookPreset,
    WebhookRequest,
    accept,
    http_status,
)
from tests.webhooks.signers import (
    GITHUB_SAMPLES,
    NOW,
    SECRETS,
    STANDARD_SECRET,
    sample_body,
    signed,
    webhook_for,
)

SIGNED_PRESETS = [p for p in WebhookPreset if p is not WebhookPreset.NONE]
TIMESTAMPED = [WebhookPreset.STRIPE, WebhookPreset.SLACK, WebhookPreset.STANDARD]
WITH_DELIVERY_ID = [p for p in SIGNED_PRESETS if p is not WebhookPreset.SHARED_SECRET]
REQUIRED_HEADERS = {
    WebhookPreset.GITHUB: ["X-Hub-Signature-256", "X-GitHub-Delivery"],
    WebhookPreset.STRIPE: ["Stripe-Signature"],
    WebhookPreset.SLACK: ["X-Slack-Signature", "X-Slack-Request-Timestamp"],
    WebhookPreset.STANDARD: ["webhook-id", "webhook-timestamp", "webhook-signature"],
    WebhookPreset.SHARED_SECRET: ["X-Webhook-Secret"],
}


async def _rejected(webhook: Webhook, request: WebhookRequest, guard=None) -> WebhookRejectedError:
    with pytest.raises(WebhookRejectedError) as caught:
        await accept(webhook, request, now=NOW, guard=guard or InMemoryReplayGuard())
    for secret in webhook.secrets:
        assert secret.get_secret_value() not in str(caught.value)
    return caught.value


@pytest.mark.parametrize("preset", SIGNED_PRESETS)
async def test_a_valid_signature_becomes_an_event_with_the_body_as_payload(
    preset: WebhookPreset,
) -> None:
    body = sample_body(preset)
    request = signed(preset, json.dumps(body).encode())
    webhook = webhook_for(preset)
    accepted = await accept(
        webhook,
        WebhookRequest.of(request.body, request.headers),
        now=NOW,
        guard=InMemoryReplayGuard(),
    )
    event = accepted.event
    assert event.event == f"webhook.hook-{preset.value}"
    assert event.resource["proctor.resource.id"] == f"proctor.webhook.hook-{preset.value}"
    assert event.occurred == NOW
    assert {k: v for k, v in event.payload.items() if k != "headers"} == body
    assert event.resource.get("proctor.webhook.delivery-id") == request.delivery_id
    assert (accepted.claim is None) == (request.delivery_id is None)


@pytest.mark.parametrize("sample", sorted(GITHUB_SAMPLES.glob("*.json")), ids=lambda p: p.name)
async def test_real_github_payloads_verify_and_feed_templated_parameters(sample) -> None:
    raw = sample.read_bytes()  # the exact bytes GitHub signs, whitespace and all
    request = signed(WebhookPreset.GITHUB, raw)
    accepted = await accept(
        webhook_for(WebhookPreset.GITHUB),
        WebhookRequest.of(raw, request.headers),
        now=NOW,
        guard=InMemoryReplayGuard(),
    )
    payload = json.loads(raw)
    assert accepted.event.payload["headers"] == {"x-github-event": "push"}
    assert accepted.event.payload["repository"] == payload["repository"]
    parameters = compile_structure(
        {
            "sha": "{{ event.payload.after | default(none) }}",
            "repo": "{{ event.payload.repository.full_name }}",
        },
        field="parameters",
    ).render({"event": accepted.event.model_dump(mode="json")})
    assert parameters == {"sha": payload.get("after"), "repo": payload["repository"]["full_name"]}


@pytest.mark.parametrize("preset", SIGNED_PRESETS)
async def test_a_wrong_secret_is_a_bad_signature_401(preset: WebhookPreset) -> None:
    body = json.dumps(sample_body(preset)).encode()
    other = STANDARD_SECRET.replace("a", "b") if preset is WebhookPreset.STANDARD else "wrong"
    request = signed(preset, body, secret=other)
    error = await _rejected(webhook_for(preset), WebhookRequest.of(body, request.headers))
    assert error.reason == RejectReason.BAD_SIGNATURE
    assert http_status(error) == 401


@pytest.mark.parametrize(
    "preset", [p for p in SIGNED_PRESETS if p is not WebhookPreset.SHARED_SECRET]
)
async def test_a_tampered_body_is_a_bad_signature(preset: WebhookPreset) -> None:
    body = json.dumps(sample_body(preset)).encode()
    request = signed(preset, body)
    tampered = body.replace(b"}", b' , "admin": true}', 1) if body.endswith(b"}") else body + b" "
    error = await _rejected(webhook_for(preset), WebhookRequest.of(tampered, request.headers))
    assert error.reason == RejectReason.BAD_SIGNATURE


@pytest.mark.parametrize("preset", TIMESTAMPED)
@pytest.mark.parametrize(
    "offset", [timedelta(minutes=-6), timedelta(minutes=6)], ids=["past", "future"]
)
async def test_a_timestamp_outside_the_tolerance_is_stale_401(
    preset: WebhookPreset, offset: timedelta
) -> None:
    body = json.dumps(sample_body(preset)).encode()
    request = signed(preset, body, at=NOW + offset)
    error = await _rejected(webhook_for(preset), WebhookRequest.of(body, request.headers))
    assert error.reason == RejectReason.STALE_TIMESTAMP
    assert http_status(error) == 401


@pytest.mark.parametrize("preset", TIMESTAMPED)
async def test_a_timestamp_inside_the_tolerance_passes(preset: WebhookPreset) -> None:
    body = json.dumps(sample_body(preset)).encode()
    request = signed(preset, body, at=NOW - timedelta(minutes=4, seconds=59))
    accepted = await accept(
        webhook_for(preset),
        WebhookRequest.of(body, request.headers),
        now=NOW,
        guard=InMemoryReplayGuard(),
    )
    assert accepted.event.payload == json.loads(body)


@pytest.mark.parametrize("preset", WITH_DELIVERY_ID)
async def test_a_delivery_is_a_replay_once_answered_and_not_before(preset: WebhookPreset) -> None:
    guard = InMemoryReplayGuard()
    webhook = webhook_for(preset)
    body = json.dumps(sample_body(preset)).encode()
    request = WebhookRequest.of(body, signed(preset, body).headers)
    first = await accept(webhook, request, now=NOW, guard=guard)
    # Not answered yet (publishing failed, or the server died): the retry passes, same event.
    retry = await accept(webhook, request, now=NOW + timedelta(seconds=30), guard=guard)
    assert retry.event.id == first.event.id
    assert retry.event.payload == first.event.payload
    assert retry.claim is not None
    await guard.answered(retry.claim.key, expires=retry.claim.expires)  # the 202 went out
    error = await _rejected(webhook, request, guard)
    assert error.reason == RejectReason.REPLAYED
    assert http_status(error) == 401


@pytest.mark.parametrize("preset", [WebhookPreset.STRIPE, WebhookPreset.SLACK])
async def test_a_provider_retry_with_a_fresh_signature_is_still_a_duplicate(
    preset: WebhookPreset,
) -> None:
    guard = InMemoryReplayGuard()
    webhook = webhook_for(preset)
    body = json.dumps(sample_body(preset)).encode()
    first = await accept(
        webhook, WebhookRequest.of(body, signed(preset, body).headers), now=NOW, guard=guard
    )
    assert first.claim is not None
    await guard.answered(first.claim.key, expires=first.claim.expires)
    later = NOW + timedelta(hours=1)
    retry = WebhookRequest.of(body, signed(preset, body, at=later).headers)
    with pytest.raises(WebhookRejectedError, match="already accepted"):
        await accept(webhook, retry, now=later, guard=guard)


@pytest.mark.parametrize("preset", list(WebhookPreset))
async def test_an_oversized_body_is_413_before_anything_else(preset: WebhookPreset) -> None:
    body = b'{"a": "' + b"x" * MAX_WEBHOOK_BODY_BYTES + b'"}'
    headers = signed(preset, body).headers if preset is not WebhookPreset.NONE else {}
    error = await _rejected(webhook_for(preset), WebhookRequest.of(body, headers))
    assert error.reason == RejectReason.TOO_LARGE
    assert http_status(error) == 413


@pytest.mark.parametrize(
    ("preset", "header"), [(p, h) for p, names in REQUIRED_HEADERS.items() for h in names]
)
async def test_a_missing_header_is_401_naming_it(preset: WebhookPreset, header: str) -> None:
    body = json.dumps(sample_body(preset)).encode()
    headers = {k: v for k, v in signed(preset, body).headers.items() if k.lower() != header.lower()}
    error = await _rejected(webhook_for(preset), WebhookRequest.of(body, headers))
    assert error.reason == RejectReason.MISSING_HEADER
    assert header.lower() in str(error)
    assert http_status(error) == 401


@pytest.mark.parametrize(
    ("preset", "header", "value"),
    [
        (WebhookPreset.GITHUB, "X-Hub-Signature-256", "sha1=abc"),
        (WebhookPreset.STRIPE, "Stripe-Signature", "v1=abc"),
        (WebhookPreset.STRIPE, "Stripe-Signature", "t=1,v0=abc"),
        (WebhookPreset.SLACK, "X-Slack-Request-Timestamp", "yesterday"),
        (WebhookPreset.STANDARD, "webhook-timestamp", "12.5"),
    ],
)
async def test_a_malformed_header_is_refused(
    preset: WebhookPreset, header: str, value: str
) -> None:
    body = json.dumps(sample_body(preset)).encode()
    headers = {**signed(preset, body).headers, header: value}
    error = await _rejected(webhook_for(preset), WebhookRequest.of(body, headers))
    assert error.reason in (RejectReason.MALFORMED_HEADER, RejectReason.BAD_SIGNATURE)
    assert http_status(error) == 401


@pytest.mark.parametrize("preset", SIGNED_PRESETS)
async def test_the_previous_secret_passes_during_a_rotation(preset: WebhookPreset) -> None:
    old = webhook_for(preset)
    rotated = old.rotated()
    assert rotated.previous_secret == old.secret
    assert rotated.secret != old.secret
    body = json.dumps(sample_body(preset)).encode()
    request = WebhookRequest.of(body, signed(preset, body).headers)  # still signed with the old
    accepted = await accept(rotated, request, now=NOW, guard=InMemoryReplayGuard())
    assert accepted.event.event == old.event_name
    done = rotated.model_copy(update={"previous_secret": None})
    assert (await _rejected(done, request)).reason == RejectReason.BAD_SIGNATURE


async def test_standard_webhooks_accepts_any_of_several_signatures() -> None:
    body = b'{"type": "order.created"}'
    good = signed(WebhookPreset.STANDARD, body, delivery="msg_1")
    bad = signed(
        WebhookPreset.STANDARD, body, delivery="msg_1", secret=STANDARD_SECRET.replace("a", "c")
    )
    headers = {
        **good.headers,
        "webhook-signature": f"v1a,ZmFrZQ== {bad.headers['webhook-signature']} "
        f"{good.headers['webhook-signature']}",
    }
    accepted = await accept(
        webhook_for(WebhookPreset.STANDARD),
        WebhookRequest.of(body, headers),
        now=NOW,
        guard=InMemoryReplayGuard(),
    )
    assert accepted.event.resource["proctor.webhook.delivery-id"] == "msg_1"


async def test_stripe_accepts_any_of_several_v1_signatures() -> None:
    body = json.dumps(sample_body(WebhookPreset.STRIPE)).encode()
    good = signed(WebhookPreset.STRIPE, body).headers["Stripe-Signature"]
    bad = signed(WebhookPreset.STRIPE, body, secret="old").headers["Stripe-Signature"]
    t, v1, _ = good.split(",")
    headers = {
        "Stripe-Signature": f"{t},{bad.split(',')[1]},{v1}",
        "Content-Type": "application/json",
    }
    accepted = await accept(
        webhook_for(WebhookPreset.STRIPE),
        WebhookRequest.of(body, headers),
        now=NOW,
        guard=InMemoryReplayGuard(),
    )
    assert accepted.event.payload["type"] == "charge.succeeded"


async def test_shared_secret_also_accepts_a_bearer_authorization_header() -> None:
    webhook = webhook_for(WebhookPreset.SHARED_SECRET, secret_header="Authorization")
    secret = SECRETS[WebhookPreset.SHARED_SECRET]
    body = b'{"ok": true}'
    ok = WebhookRequest.of(body, {"Authorization": f"Bearer {secret}"})
    assert (await accept(webhook, ok, now=NOW, guard=InMemoryReplayGuard())).event.payload == {
        "ok": True
    }
    wrong = WebhookRequest.of(body, {"Authorization": "Bearer nope"})
    assert (await _rejected(webhook, wrong)).reason == RejectReason.BAD_SIGNATURE


async def test_none_is_explicit_and_a_delivery_id_header_gives_it_replay_protection() -> None:
    webhook = Webhook(slug="open", preset=WebhookPreset.NONE, delivery_id_header="Idempotency-Key")
    guard = InMemoryReplayGuard()
    request = WebhookRequest.of(b'{"n": 1}', {"Idempotency-Key": "k-1"})
    accepted = await accept(webhook, request, now=NOW, guard=guard)
    assert accepted.event.payload == {"n": 1}
    assert accepted.claim is not None
    await guard.answered(accepted.claim.key, expires=accepted.claim.expires)
    assert (await _rejected(webhook, request, guard)).reason == RejectReason.REPLAYED
    missing = WebhookRequest.of(b'{"n": 1}', {})
    assert (await _rejected(webhook, missing, guard)).reason == RejectReason.MISSING_HEADER
    anyone = Webhook(slug="anyone", preset=WebhookPreset.NONE)
    twice = [await accept(anyone, missing, now=NOW, guard=guard) for _ in range(2)]
    assert all(a.claim is None for a in twice)


async def test_replay_memory_expires_after_the_window() -> None:
    guard = InMemoryReplayGuard()
    window = timedelta(minutes=10)
    assert await guard.claim("k", now=NOW, window=window) is Claim.NEW
    await guard.answered("k", expires=NOW + window)
    assert await guard.claim("k", now=NOW + timedelta(minutes=9), window=window) is Claim.ANSWERED
    assert await guard.claim("k", now=NOW + timedelta(minutes=10), window=window) is Claim.NEW
    assert len(guard) == 1


async def test_in_memory_replay_guard_is_bounded() -> None:
    guard = InMemoryReplayGuard(max_entries=100)
    for n in range(1000):
        assert await guard.claim(f"k{n}", now=NOW, window=timedelta(minutes=n + 1)) is Claim.NEW
    assert len(guard) == 100
    assert await guard.claim("k999", now=NOW, window=timedelta(minutes=1)) is Claim.UNANSWERED
    assert await guard.claim("k0", now=NOW, window=timedelta(minutes=1)) is Claim.NEW  # forgotten
