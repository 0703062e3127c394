"""An accepted webhook is a server span, a child of the sender's span when the request carries
a ``traceparent`` header, and its event carries the span on."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.trace import SpanKind

from proctor.runtime.client import ProctorClient
from proctor.runtime.server import LocalServer
from proctor.runtime.webhooks import WebhookPreset
from tests.server.conftest import caught_up
from tests.tracing.conftest import SpanCollector, parent_id, traceparent
from tests.webhooks.conftest import client, http, server
from tests.webhooks.signers import GITHUB_SAMPLES, SECRETS, signed

__all__ = ("client", "http", "server")  # fixtures: a whole local server, its API, plain HTTP

pytestmark = pytest.mark.nats

SLUG = "github-push"
PUSH = (GITHUB_SAMPLES / "push-payload.json").read_bytes()
SENDER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def _deliver(
    client: ProctorClient, http: httpx.AsyncClient, headers: dict[str, str] | None = None
) -> str:
    """Create the webhook, post one signed push; the id of the event it became."""
    await client.webhooks.create(
        slug=SLUG, preset=WebhookPreset.GITHUB, secret=SECRETS[WebhookPreset.GITHUB]
    )
    push = signed(WebhookPreset.GITHUB, PUSH)
    answer = await http.post(
        f"/hooks/{SLUG}", content=PUSH, headers={**push.headers, **(headers or {})}
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["event_id"])


async def _stored_traceparent(server: LocalServer, http: httpx.AsyncClient, event_id: str) -> str:
    await caught_up(server)
    found = (await http.get("/api/events", params={"names": f"webhook.{SLUG}"})).json()["items"]
    assert [e["id"] for e in found] == [event_id]
    return str(found[0].get("traceparent"))


async def test_a_delivery_is_a_server_span_under_the_senders_span(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient, spans: SpanCollector
) -> None:
    event_id = await _deliver(client, http, {"traceparent": SENDER})
    span = spans.one(f"proctor.webhook {SLUG}")
    assert span.kind is SpanKind.SERVER
    assert parent_id(span) == SENDER.split("-")[2]
    assert span.attributes is not None
    assert span.attributes["proctor.webhook.slug"] == SLUG
    assert span.attributes["proctor.event.id"] == event_id
    assert "sha256" not in span.to_json()  # no signature, no secret
    assert await _stored_traceparent(server, http, event_id) == traceparent(span)


async def test_a_delivery_without_or_with_a_bad_header_starts_its_own_trace(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient, spans: SpanCollector
) -> None:
    await _deliver(client, http, {"traceparent": "garbage"})
    span = spans.one(f"proctor.webhook {SLUG}")
    assert span.parent is None


@pytest.mark.usefixtures("_switch")
async def test_untraced_the_senders_context_rides_on_the_event(
    server: LocalServer, client: ProctorClient, http: httpx.AsyncClient
) -> None:
    event_id = await _deliver(client, http, {"traceparent": SENDER})
    assert await _stored_traceparent(server, http, event_id) == SENDER
