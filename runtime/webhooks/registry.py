"""Webhook definitions in the store (``store.webhooks``), and the cached lookup the request
path uses.

A row keeps the settings, the secret and, during a rotation, the previous secret with the
time it stops being accepted. Secrets are stored as given (the server needs them to check
HMACs); they leave this module only in ``WebhookCreated``, once.

``lookup`` caches each slug (found or not) for ``cache_ttl_s`` so a request costs no database
read, and the requests that miss a slug at the same time share one read; changes made through
this registry take effect at once in this process, and within ``cache_ttl_s`` in other API
replicas.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import SecretStr, ValidationError

from proctor.core.errors import ConfigurationError
from proctor.events.model import utcnow
from proctor.runtime.store import Page, Store
from proctor.runtime.store.control import WebhookRow
from proctor.runtime.webhooks.model import SLUG_PATTERN, Webhook, WebhookSettings, generate_secret
from proctor.runtime.webhooks.presets import WebhookPreset
from proctor.runtime.webhooks.records import (
    RotateSecret,
    WebhookApplied,
    WebhookCreate,
    WebhookCreated,
    WebhookInfo,
)

__all__ = ("DEFAULT_CACHE_TTL_S", "WebhookRegistry", "hook_path")

log = logging.getLogger(__name__)

DEFAULT_CACHE_TTL_S: Final = 2.0
_MAX_CACHED: Final = 10_000
_SETTINGS: Final = set(WebhookSettings.model_fields)
_SLUG: Final = re.compile(SLUG_PATTERN)


def hook_path(slug: str) -> str:
    """The path senders POST to."""
    return f"/hooks/{slug}"


def _as_configuration_error(error: ValidationError) -> ConfigurationError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "webhook"
    message = first["msg"].removeprefix("Value error, ")
    return ConfigurationError(message if ":" in message else f"{field}: {message}", setting=field)


def _webhook(fields: dict[str, Any]) -> Webhook:
    try:
        return Webhook.model_validate(fields)
    except ValidationError as error:
        raise _as_configuration_error(error) from None


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def _definition(webhook: Webhook, previous_expires: datetime | None) -> dict[str, Any]:
    settings = webhook.model_dump(mode="json", include=_SETTINGS)
    return {
        **settings,
        "secret": _reveal(webhook.secret),
        "previous_secret": _reveal(webhook.previous_secret),
        "previous_secret_expires": previous_expires.isoformat() if previous_expires else None,
    }


@dataclass(frozen=True, slots=True)
class _Stored:
    """A row, decoded: the webhook with and without the previous secret."""

    row: WebhookRow
    current: Webhook
    rotating: Webhook | None
    previous_expires: datetime | None

    @classmethod
    def of(cls, row: WebhookRow) -> _Stored:
        definition = dict(row.definition)
        expires_text = definition.pop("previous_secret_expires", None)
        expires = datetime.fromisoformat(expires_text) if expires_text else None
        rotating = _webhook(definition) if definition.get("previous_secret") else None
        current = _webhook({**definition, "previous_secret": None})
        return cls(row, current, rotating, expires)

    def webhook(self, now: datetime) -> Webhook:
        """The webhook as it verifies at ``now``: with the previous secret until it expires."""
        if self.rotating is not None and self.previous_expires and now < self.previous_expires:
            return self.rotating
        return self.current

    def info(self, now: datetime) -> WebhookInfo:
        expires = self.previous_expires
        return WebhookInfo.model_validate(
            {
                **self.current.model_dump(include=_SETTINGS),
                "id": self.row.id,
                "enabled": self.row.enabled,
                "url_path": hook_path(self.row.slug),
                "created": self.row.created,
                "updated": self.row.updated,
                "previous_secret_expires": expires if self.webhook(now) is self.rotating else None,
            }
        )


class WebhookRegistry:
    """Create, list, rotate and delete webhooks; look one up by slug for a request."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._cache_ttl_s = cache_ttl_s
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, _Stored | None]] = {}
        self._reading: dict[str, asyncio.Task[_Stored | None]] = {}

    async def lookup(self, slug: str, *, now: datetime) -> Webhook | None:
        """The enabled webhook at ``slug`` as it verifies at ``now``; ``None`` if there is none."""
        if not _SLUG.match(slug):
            return None
        cached = self._cache.get(slug)
        if cached is None or cached[0] <= self._monotonic():
            stored = await self._refresh(slug)
        else:
            stored = cached[1]
        if stored is None or not stored.row.enabled:
            return None
        return stored.webhook(now)

    async def _refresh(self, slug: str) -> _Stored | None:
        """Read ``slug`` into the cache: one read for every request waiting for it."""
        reading = self._reading.get(slug)
        if reading is None:
            reading = asyncio.create_task(self._read(slug))
            self._reading[slug] = reading
            reading.add_done_callback(lambda done: self._cache_read(slug, done))
        return await asyncio.shield(reading)

    def _cache_read(self, slug: str, done: asyncio.Task[_Stored | None]) -> None:
        if self._reading.get(slug) is not done:
            return  # forgotten while it was read: the next lookup reads again
        del self._reading[slug]
        if done.cancelled() or done.exception() is not None:
            return
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[slug] = (self._monotonic() + self._cache_ttl_s, done.result())

    async def _read(self, slug: str) -> _Stored | None:
        row = await self._store.webhooks.find(slug=slug)
        if row is None:
            return None
        try:
            return _Stored.of(row)
        except ConfigurationError as error:
            log.error("webhook %r is stored with an invalid definition: %s", slug, error)
            return None

    def forget(self, slug: str) -> None:
        """Drop ``slug`` from the cache (it changed)."""
        self._cache.pop(slug, None)
        self._reading.pop(slug, None)

    async def create(self, spec: WebhookCreate) -> WebhookCreated:
        """Store a new webhook; ``ConflictError`` if the slug is taken. A secret left out is
        generated and returned (once)."""
        generated = None
        if spec.secret is None and spec.preset is not WebhookPreset.NONE:
            generated = generate_secret(spec.preset)
        secret = spec.secret or generated
        webhook = _webhook({**spec.model_dump(include=_SETTINGS), "secret": secret})
        row = WebhookRow(
            name=webhook.slug,
            slug=webhook.slug,
            description=webhook.description or None,
            enabled=spec.enabled,
            definition=_definition(webhook, None),
        )
        await self._store.webhooks.create(row)
        self.forget(webhook.slug)
        return WebhookCreated(webhook=_Stored.of(row).info(self._clock()), secret=generated)

    async def apply(self, spec: WebhookCreate) -> WebhookApplied:
        """Create ``spec.slug``, or update its settings and ``enabled`` in place. The stored
        secrets are kept unless ``spec.secret`` is given (it then replaces them at once)."""
        stored = await self._read(spec.slug)
        if stored is None:
            created = await self.create(spec)
            return WebhookApplied(webhook=created.webhook, secret=created.secret, created=True)
        keep = spec.secret is None
        fields = {
            **spec.model_dump(include=_SETTINGS),
            "secret": stored.current.secret if keep else spec.secret,
            "previous_secret": stored.rotating.previous_secret
            if keep and stored.rotating
            else None,
        }
        expires = stored.previous_expires if fields["previous_secret"] is not None else None
        webhook = _webhook(fields)
        row = await self._store.webhooks.update(
            stored.row.id,
            description=webhook.description or None,
            enabled=spec.enabled,
            definition=_definition(webhook, expires),
        )
        self.forget(spec.slug)
        if row is None:  # deleted meanwhile
            return await self.apply(spec)
        info = _Stored.of(row).info(self._clock())
        return WebhookApplied(webhook=info, secret=None, created=False)

    async def list(self, *, limit: int = 100, page_token: str | None = None) -> Page[WebhookInfo]:
        """Webhooks by slug, a page at a time."""
        page = await self._store.webhooks.list(limit=limit, page_token=page_token)
        now = self._clock()
        infos = [stored.info(now) for row in page.items if (stored := self._decode(row))]
        return Page[WebhookInfo](items=infos, next_page=page.next_page)

    def _decode(self, row: WebhookRow) -> _Stored | None:
        try:
            return _Stored.of(row)
        except ConfigurationError as error:
            log.error("webhook %r is stored with an invalid definition: %s", row.slug, error)
            return None

    async def get(self, slug: str) -> WebhookInfo | None:
        """One webhook, or ``None``."""
        stored = await self._read(slug) if _SLUG.match(slug) else None
        return None if stored is None else stored.info(self._clock())

    async def rotate(self, slug: str, rotation: RotateSecret) -> WebhookCreated | None:
        """Give ``slug`` a new secret; the current one stays valid for ``rotation.grace``.
        ``None`` if there is no such webhook; ``ConfigurationError`` for preset none."""
        stored = await self._read(slug) if _SLUG.match(slug) else None
        if stored is None:
            return None
        generated = None if rotation.secret else generate_secret(stored.current.preset)
        try:
            rotated = stored.current.rotated(rotation.secret or generated)
        except ValidationError as error:
            raise _as_configuration_error(error) from None
        now = self._clock()
        expires: datetime | None = now + rotation.grace
        if not rotation.grace:
            rotated, expires = _webhook({**rotated.model_dump(), "previous_secret": None}), None
        row = await self._store.webhooks.update(
            stored.row.id, definition=_definition(rotated, expires)
        )
        self.forget(slug)
        if row is None:  # deleted meanwhile
            return None
        return WebhookCreated(webhook=_Stored.of(row).info(now), secret=generated)

    async def delete(self, slug: str) -> bool:
        """Delete ``slug``; ``False`` if there was none."""
        stored = await self._read(slug) if _SLUG.match(slug) else None
        self.forget(slug)
        return stored is not None and await self._store.webhooks.delete(stored.row.id)
