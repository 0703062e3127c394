"""Request → event: the default mapping, and the webhook's Jinja template when it has one.

Default event: name ``webhook.<slug>``; resource ``proctor.webhook.<slug>`` (with the
delivery id as ``proctor.webhook.delivery-id``); payload = the JSON object body (a JSON
value that is not an object goes under ``body``; a form body becomes an object of fields,
a repeated field a list), plus the kept headers under ``headers``. A template that names
another resource gets the webhook as a related resource (role ``webhook``), so the webhook's
deliveries stay findable.

Template context: ``body`` (parsed JSON or form, ``None`` for other content types),
``text`` (the body as text), ``headers`` (lower-case, without credentials), ``query``,
``webhook`` (``slug``, ``preset``), ``delivery_id``, ``received`` (ISO time).
A body that cannot be parsed or mapped is a ``bad_body`` rejection (HTTP 400) whose
message says why.

``build_wire_event`` is what the receiver publishes: the default mapping's event as its wire
bytes, its payload serialised once (``build_event`` checks a payload's size by serialising it
as the model is validated, and the bus serialises the model again), around an envelope made
and validated as a model once per webhook (``_envelope``): only the id, the time and the
delivery id are written per request.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qs
from uuid import UUID

from pydantic_core import from_json, to_json

from proctor.core.errors import EventError, EventTooLargeError, TemplateError
from proctor.events.ids import uuid7
from proctor.events.labels import ID_LABEL, MAX_LABEL_VALUE_LENGTH, NAME_LABEL, ROLE_LABEL
from proctor.events.model import (
    EMPTY_PAYLOAD_JSON,
    MAX_EVENT_BYTES,
    MAX_PAYLOAD_BYTES,
    Event,
    WireEvent,
)
from proctor.runtime.webhooks.model import Webhook
from proctor.runtime.webhooks.reasons import RejectReason, reject

__all__ = (
    "DELIVERY_ID_LABEL",
    "WebhookRequest",
    "build_event",
    "build_wire_event",
    "parse_body",
    "template_context",
    "webhook_resource_id",
)

DELIVERY_ID_LABEL: Final = "proctor.webhook.delivery-id"
_CREDENTIAL_HEADERS: Final = frozenset({"authorization", "cookie", "proxy-authorization"})
_MAX_FORM_FIELDS: Final = 1000
_TEMPLATE_ID: Final = UUID(int=0)
_TEMPLATE_TIME: Final = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What the server hands over: the raw body bytes, lower-case headers, query parameters."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        body: bytes,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        query: Mapping[str, str] | None = None,
    ) -> WebhookRequest:
        """Build one from any header container, lower-casing the names."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        return cls(body, {key.lower(): value for key, value in pairs}, dict(query or {}))

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def webhook_resource_id(slug: str) -> str:
    """The resource id of a webhook's events."""
    return f"proctor.webhook.{slug}"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json(body: bytes) -> Any:
    with contextlib.suppress(ValueError):  # pydantic's parser: twice as fast on a 7 KB body,
        # faster still caching only keys (values are mostly distinct: caching them costs)
        return from_json(body, allow_inf_nan=False, cache_strings="keys")
    try:  # the standard library's: what it accepts and the errors it names, as before
        return json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise reject(RejectReason.BAD_BODY, "the JSON body is not valid UTF-8") from None
    except RecursionError:
        raise reject(RejectReason.BAD_BODY, "the JSON body is nested too deeply") from None
    except ValueError as error:
        raise reject(RejectReason.BAD_BODY, f"the body is not valid JSON: {error}") from None


def _form(body: bytes) -> dict[str, Any]:
    try:
        fields = parse_qs(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise reject(RejectReason.BAD_BODY, f"the form body cannot be parsed: {error}") from None
    return {key: values[0] if len(values) == 1 else values for key, values in fields.items()}


def parse_body(request: WebhookRequest, *, required: bool = True) -> Any:
    """The body as JSON (``application/json``, ``*+json``, or no content type) or a form
    (``application/x-www-form-urlencoded``); ``None`` if empty. Another content type is a
    ``bad_body`` rejection when ``required``, else ``None``."""
    kind = request.content_type
    if not request.body.strip():
        return None
    if kind in ("", "application/json", "text/json") or kind.endswith("+json"):
        return _json(request.body)
    if kind == "application/x-www-form-urlencoded":
        return _form(request.body)
    if required:
        raise reject(
            RejectReason.BAD_BODY,
            f"content type {kind[:80]!r} is neither JSON nor a form; send JSON, or give the "
            "webhook an event_template that reads 'text'",
        )
    return None


def _visible_headers(webhook: Webhook, request: WebhookRequest) -> dict[str, str]:
    hidden = _CREDENTIAL_HEADERS | {webhook.secret_header}
    return {key: value for key, value in request.headers.items() if key not in hidden}


def template_context(
    webhook: Webhook, request: WebhookRequest, *, now: datetime, delivery_id: str | None
) -> dict[str, Any]:
    """What an ``event_template`` sees."""
    return {
        "body": parse_body(request, required=False),
        "text": request.body.decode("utf-8", "replace"),
        "headers": _visible_headers(webhook, request),
        "query": dict(request.query),
        "webhook": {"slug": webhook.slug, "preset": webhook.preset.value},
        "delivery_id": delivery_id,
        "received": now.isoformat(),
    }


def _default_payload(webhook: Webhook, request: WebhookRequest) -> dict[str, Any]:
    body = parse_body(request)
    payload: dict[str, Any] = {}
    if isinstance(body, dict):
        payload = body
    elif body is not None:
        payload = {"body": body}
    kept = {name: request.headers[name] for name in webhook.kept_headers if name in request.headers}
    if kept:
        if "headers" in payload:
            raise reject(
                RejectReason.BAD_BODY,
                "the body has a top-level 'headers' field, where the kept headers go; give "
                "the webhook an event_template, or keep no headers",
            )
        payload = {**payload, "headers": kept}
    return payload


def _expect(value: Any, kind: type, key: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise reject(
            RejectReason.BAD_BODY,
            f"event_template.{key} rendered to {type(value).__name__}, not {what}",
        )
    return value


def _labels(value: Any, key: str) -> dict[str, Any]:
    labels = _expect(value, dict, key, "an object of labels")
    # Native rendering may give numbers ("{{ body.repository.id }}"); labels are strings.
    return {k: str(v) if isinstance(v, int | float) else v for k, v in labels.items()}


def _default_resource(slug: str, delivery_id: str | None) -> dict[str, str]:
    resource = {ID_LABEL: webhook_resource_id(slug), NAME_LABEL: slug}
    if delivery_id is not None:
        resource[DELIVERY_ID_LABEL] = delivery_id
    return resource


def build_wire_event(
    webhook: Webhook,
    request: WebhookRequest,
    *,
    now: datetime,
    delivery_id: str | None,
    event_id: UUID | None = None,
) -> Event | WireEvent:
    """``build_event``'s event; for the default mapping (no template) as its wire bytes,
    exactly ``Event.to_wire()``, unless the event is out of the ordinary (too large, or
    invalid): then ``build_event``'s event, or its rejection."""
    if webhook.event_template is None:  # no template: the default mapping
        payload = _default_payload(webhook, request)
        wire = _default_wire(webhook, payload, now=now, delivery_id=delivery_id, id=event_id)
        if wire is not None:
            return wire
    return build_event(webhook, request, now=now, delivery_id=delivery_id, event_id=event_id)


class _Envelope(NamedTuple):
    """A webhook's default event as bytes, around what changes per request: ``head`` after
    the id and time, up to the delivery id's value (or the payload's), ``middle`` from there to
    the payload, ``tail`` after it."""

    head: bytes
    middle: bytes
    tail: bytes


@functools.lru_cache(maxsize=1024)
def _envelope(event_name: str, slug: str, with_delivery_id: bool) -> _Envelope:
    """The envelope of ``slug``'s default events: a model with an empty payload (and an empty
    delivery id) made once, validated, serialised and cut where the per-request values go.
    ``EventError`` if the event is invalid (``build_event`` then says why)."""
    delivery_id = "" if with_delivery_id else None
    resource = _default_resource(slug, delivery_id)
    model = Event.build(event_name, resource, occurred=_TEMPLATE_TIME, id=_TEMPLATE_ID)
    data = model.model_dump_json().encode()
    start = data.index(b',"event":')  # after ``{"id":"<id>","occurred":"<time>"``
    before_payload, _, tail = data[start:].partition(EMPTY_PAYLOAD_JSON)
    if not with_delivery_id:
        return _Envelope(before_payload, b"", b',"follows":' + tail)
    label = to_json(DELIVERY_ID_LABEL) + b":"
    head, _, middle = before_payload.partition(label + b'""')
    return _Envelope(head + label, middle, b',"follows":' + tail)


def _default_wire(
    webhook: Webhook,
    payload: dict[str, Any],
    *,
    now: datetime,
    delivery_id: str | None,
    id: UUID | None,
) -> WireEvent | None:
    """The default event's bytes: ``Event.to_wire()`` of ``build_event``'s event, written
    into the webhook's envelope; ``None`` if anything is amiss."""
    if now.utcoffset() is None or (
        delivery_id is not None and len(delivery_id) > MAX_LABEL_VALUE_LENGTH
    ):
        return None  # build_event names the problem
    try:
        body = to_json(payload)
        envelope = _envelope(webhook.event_name, webhook.slug, delivery_id is not None)
        occurred = to_json(now.astimezone(UTC))
        label = b"" if delivery_id is None else to_json(delivery_id)
    except Exception:  # not serialisable, or not a valid event: build_event says why
        return None
    id = id or uuid7()
    data = b"".join((
        b'{"id":"', str(id).encode(), b'","occurred":', occurred,
        envelope.head, label, envelope.middle, b',"payload":', body, envelope.tail,
    ))  # fmt: skip
    if len(body) > MAX_PAYLOAD_BYTES or len(data) > MAX_EVENT_BYTES:
        return None
    return WireEvent(id, webhook.event_name, data)


def build_event(
    webhook: Webhook,
    request: WebhookRequest,
    *,
    now: datetime,
    delivery_id: str | None,
    event_id: UUID | None = None,
) -> Event:
    """The event for a verified request (with ``event_id``, else a new id); a ``bad_body`` or
    ``too_large`` rejection if the body (or what the template makes of it) cannot be an
    event."""
    resource = _default_resource(webhook.slug, delivery_id)
    spec: dict[str, Any] = {"event": webhook.event_name, "resource": resource, "related": []}
    if webhook.template is not None:
        context = template_context(webhook, request, now=now, delivery_id=delivery_id)
        try:
            spec.update(webhook.template.render(context))
        except TemplateError as error:
            raise reject(
                RejectReason.BAD_BODY, f"the event template cannot handle this request: {error}"
            ) from None
    if "payload" not in spec:
        spec["payload"] = _default_payload(webhook, request)
    labels = _labels(spec["resource"], "resource")
    related = [
        _labels(item, "related[]") for item in _expect(spec["related"], list, "related", "a list")
    ]
    if labels.get(ID_LABEL) != resource[ID_LABEL]:
        related.append({**resource, ROLE_LABEL: "webhook"})
    try:
        return Event.build(
            _expect(spec["event"], str, "event", "a string"),
            labels,
            payload=_expect(spec["payload"], dict, "payload", "a JSON object"),
            related=related,
            occurred=now,
            id=event_id,
        )
    except EventTooLargeError as error:
        raise reject(RejectReason.TOO_LARGE, f"the event would be too large: {error}") from None
    except EventError as error:
        raise reject(
            RejectReason.BAD_BODY, f"the request does not make a valid event: {error}"
        ) from None
