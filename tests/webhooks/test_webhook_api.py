"""``/api/webhooks`` and ``/hooks/{slug}`` through the app over an in-memory bus and SQLite:
secrets shown once and never again (answers, errors, logs), rotation with a grace period,
deletion, auth boundaries, and a broker that fails or loses an acknowledgement."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from proctor.core.errors import BrokerUnavailableError, StoreUnavailableError
from proctor.core.settings import ProctorSettings
from proctor.events.bus import InMemoryEventBus, PublishReceipt
from proctor.events.model import Event
from proctor.events.naming import Naming
from proctor.runtime.api.app import ApiServices, create_app
from proctor.runtime.api.auth import Scope
from proctor.runtime.store import Store
from proctor.runtime.webhooks import REJECTED_EVENT, WebhookPreset
from tests.api.conftest import MemoryTokens
from tests.webhooks.signers import SECRETS, STANDARD_SECRET, sign_github, signed

GITHUB_BODY = b'{"ref": "refs/heads/main", "after": "abc123"}'


class FlakyBus(InMemoryEventBus):
    """Fails the next ``fail`` publishes; with ``store_anyway`` the event is stored first (the
    acknowledgement was lost, as when NATS stores a publish that timed out)."""

    def __init__(self, naming: Naming) -> None:
        super().__init__(naming)
        self.fail = 0
        self.store_anyway = False

    async def publish(self, event: Event) -> PublishReceipt:
        if self.fail and event.event != REJECTED_EVENT:
            self.fail -= 1
            if self.store_anyway:
                await super().publish(event)
            raise BrokerUnavailableError("JetStream did not acknowledge")
        return await super().publish(event)

    def named(self, name: str) -> list[Event]:
        return [event for event in self.events if event.event == name]


@pytest.fixture
def bus(naming: Naming) -> FlakyBus:
    return FlakyBus(naming)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}") as opened:
        yield opened


def _app(bus: FlakyBus, store: Store, tokens: MemoryTokens, auth: Literal["none", "token"]) -> Any:
    settings = ProctorSettings(api_auth=auth)
    return create_app(ApiServices(settings=settings, bus=bus, store=store, tokens=tokens))


@pytest.fixture
async def api(bus: FlakyBus, store: Store) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(bus, store, MemoryTokens(), "none"))
    async with httpx.AsyncClient(transport=transport, base_url="http://proctor") as http:
        yield http


async def _create(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    answer = await api.post("/api/webhooks", json=fields)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def _github(api: httpx.AsyncClient, slug: str, secret: str, delivery: str) -> httpx.Response:
    headers = sign_github(secret, GITHUB_BODY, datetime.now(UTC), delivery)
    return await api.post(f"/hooks/{slug}", content=GITHUB_BODY, headers=headers)


async def test_a_generated_secret_is_shown_once_and_then_never(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await _create(api, slug="gh", preset="github")
    secret = created["secret"]
    assert isinstance(secret, str)
    assert len(secret) >= 32
    assert created["webhook"]["url_path"] == "/hooks/gh"
    assert created["webhook"]["preset"] == "github"

    assert (await _github(api, "gh", secret, "d-1")).status_code == 202
    assert (await _github(api, "gh", "wrong", "d-2")).status_code == 401
    listed = await api.get("/api/webhooks")
    read = await api.get("/api/webhooks/gh")
    assert listed.json()["items"][0]["slug"] == "gh"
    assert read.json()["slug"] == "gh"
    for shown in (listed.text, read.text):
        assert secret not in shown
        assert "secret" not in json.loads(shown).get("items", [json.loads(shown)])[0]
    # The database driver's own DEBUG log prints SQL parameters, and the secret is stored
    # (the server needs it to check HMACs): every other logger must never show it.
    ours = [r for r in caplog.records if not r.name.startswith(("aiosqlite", "sqlalchemy"))]
    assert ours
    assert all(secret not in record.getMessage() for record in ours)


async def test_a_given_secret_is_not_echoed(api: httpx.AsyncClient) -> None:
    created = await _create(api, slug="pay", preset="stripe", secret="whsec_given")
    assert created["secret"] is None
    assert "whsec_given" not in json.dumps(created)


@pytest.mark.parametrize(
    ("fields", "field", "secret"),
    [
        ({"preset": "none", "secret": "s3cr3t-value"}, "secret", "s3cr3t-value"),
        ({"preset": "standard", "secret": "whsec_%%%not-base64"}, "secret", "%%%not-base64"),
        ({"preset": "github", "slug": "Bad Slug"}, "slug", None),
        ({"preset": "github", "event_template": {"event": "{{ oops"}}, "event_template", None),
        ({"preset": "carrier-pigeon"}, "preset", None),
    ],
)
async def test_an_invalid_definition_is_refused_naming_the_field_and_not_the_secret(
    api: httpx.AsyncClient, fields: dict[str, Any], field: str, secret: str | None
) -> None:
    answer = await api.post("/api/webhooks", json={"slug": "w", **fields})
    assert answer.status_code in (400, 422)
    assert field in answer.json()["error"]["message"]
    if secret is not None:
        assert secret not in answer.text
    assert (await api.get("/api/webhooks")).json()["items"] == []


async def test_a_taken_slug_is_a_409(api: httpx.AsyncClient) -> None:
    await _create(api, slug="gh", preset="github")
    answer = await api.post("/api/webhooks", json={"slug": "gh", "preset": "slack"})
    assert answer.status_code == 409
    assert "'gh'" in answer.json()["error"]["message"]


async def test_rotation_keeps_the_old_secret_for_the_grace_period(api: httpx.AsyncClient) -> None:
    old = (await _create(api, slug="gh", preset="github"))["secret"]
    rotated = await api.post("/api/webhooks/gh/rotate-secret", json={"grace": 3600})
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new not in (None, old)
    assert rotated.json()["webhook"]["previous_secret_expires"] is not None
    assert (await _github(api, "gh", old, "d-1")).status_code == 202
    assert (await _github(api, "gh", new, "d-2")).status_code == 202

    at_once = await api.post("/api/webhooks/gh/rotate-secret", json={"grace": 0})
    newest = at_once.json()["secret"]
    assert at_once.json()["webhook"]["previous_secret_expires"] is None
    assert (await _github(api, "gh", new, "d-3")).status_code == 401
    assert (await _github(api, "gh", newest, "d-4")).status_code == 202


async def test_rotating_to_a_given_secret_returns_no_secret(api: httpx.AsyncClient) -> None:
    await _create(api, slug="std", preset="standard")
    rotated = await api.post("/api/webhooks/std/rotate-secret", json={"secret": STANDARD_SECRET})
    assert rotated.status_code == 200
    assert rotated.json()["secret"] is None
    request = signed(WebhookPreset.STANDARD, b'{"a": 1}', at=datetime.now(UTC))
    assert (
        await api.post("/hooks/std", content=request.body, headers=request.headers)
    ).status_code == 202


async def test_preset_none_has_no_secret_to_rotate(api: httpx.AsyncClient) -> None:
    await _create(api, slug="open", preset="none")
    answer = await api.post("/api/webhooks/open/rotate-secret")
    assert answer.status_code == 400
    assert "preset 'none'" in answer.json()["error"]["message"]


async def test_a_deleted_webhook_is_gone_at_once(api: httpx.AsyncClient) -> None:
    secret = (await _create(api, slug="gh", preset="github"))["secret"]
    assert (await _github(api, "gh", secret, "d-1")).status_code == 202
    assert (await api.delete("/api/webhooks/gh")).status_code == 204
    assert (await api.get("/api/webhooks/gh")).status_code == 404
    assert (await api.delete("/api/webhooks/gh")).status_code == 404
    assert (await _github(api, "gh", secret, "d-2")).status_code == 404


async def test_a_disabled_webhook_answers_404(api: httpx.AsyncClient) -> None:
    await _create(api, slug="off", preset="none", enabled=False)
    assert (await api.post("/hooks/off", json={"a": 1})).status_code == 404


async def test_hooks_need_no_token_but_the_management_api_does(bus: FlakyBus, store: Store) -> None:
    tokens = MemoryTokens()
    writer = tokens.create("ci", Scope.WRITE)
    transport = httpx.ASGITransport(app=_app(bus, store, tokens, "token"))
    async with httpx.AsyncClient(transport=transport, base_url="http://proctor") as http:
        body = {"slug": "gh", "preset": "github", "secret": SECRETS[WebhookPreset.GITHUB]}
        assert (await http.post("/api/webhooks", json=body)).status_code == 401
        bearer = {"Authorization": f"Bearer {writer}"}
        assert (await http.post("/api/webhooks", json=body, headers=bearer)).status_code == 201
        answer = await _github(http, "gh", SECRETS[WebhookPreset.GITHUB], "d-1")
        assert answer.status_code == 202


@pytest.mark.parametrize("stored_anyway", [False, True], ids=["not-stored", "ack-lost"])
async def test_an_unacknowledged_publish_is_503_and_the_retry_is_one_event(
    api: httpx.AsyncClient, bus: FlakyBus, stored_anyway: bool
) -> None:
    secret = (await _create(api, slug="gh", preset="github"))["secret"]
    bus.fail, bus.store_anyway = 1, stored_anyway

    failed = await _github(api, "gh", secret, "d-1")
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "5"
    retry = await _github(api, "gh", secret, "d-1")  # the claim was never answered
    assert retry.status_code == 202
    assert retry.json()["duplicate"] is stored_anyway
    assert len(bus.named("webhook.gh")) == 1
    assert (await _github(api, "gh", secret, "d-1")).status_code == 401


async def test_only_post_to_a_slug_is_a_webhook(api: httpx.AsyncClient) -> None:
    await _create(api, slug="gh", preset="github")
    wrong_method = await api.get("/hooks/gh")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"
    assert (await api.post("/hooks/gh/extra", content=b"{}")).status_code == 404
    assert (await api.post("/hooks/", content=b"{}")).status_code == 404


async def test_the_endpoint_is_in_the_openapi_document(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    hook = paths["/hooks/{slug}"]["post"]
    assert set(hook["responses"]) == {"202", "400", "401", "404", "413", "503"}
    assert "/api/webhooks" in paths
    assert "/api/webhooks/{slug}/rotate-secret" in paths


async def test_a_store_outage_is_503_so_the_sender_retries(
    api: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = (await _create(api, slug="gh", preset="github"))["secret"]

    async def unreachable(**equal: Any) -> None:
        raise StoreUnavailableError("the database is not reachable")

    monkeypatch.setattr(store.webhooks, "find", unreachable)
    answer = await _github(api, "fresh", secret, "d-1")  # not cached: needs the store
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
