"""``POST /hooks/{slug}``: inbound webhooks, outside the bearer-token ``/api`` router (senders
authenticate by their signature; see ``proctor.runtime.webhooks``).

The API app is a ``HooksFirstApp``: it hands a webhook request to ``WebhookEndpoint``, plain
ASGI, before FastAPI's middleware stack, routing and dependency solving, which cost more than
verifying and publishing it (an exception there is answered 500 by the server, as the stack
would). The path is added to the OpenAPI document by hand (``document_hooks``).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qsl

from fastapi import FastAPI
from pydantic_core import to_json
from starlette.types import Receive, Scope, Send

from proctor.core.errors import WebhookRejectedError
from proctor.runtime.webhooks import MAX_WEBHOOK_BODY_BYTES, WebhookRequest, check_body_size
from proctor.runtime.webhooks.receiver import Reply, WebhookReceiver

__all__ = ("HOOKS_PREFIX", "HooksFirstApp", "WebhookEndpoint", "document_hooks")

HOOKS_PREFIX: Final = "/hooks/"
_RESPONSES: Final = {
    "202": "Verified, and the event is stored in JetStream.",
    "400": "The body cannot become an event (the message says why).",
    "401": "Missing or wrong signature, stale timestamp, or a delivery answered 2xx before.",
    "404": "No such webhook.",
    "413": f"The body is larger than {MAX_WEBHOOK_BODY_BYTES} bytes.",
    "503": "The event broker is unavailable: retry after Retry-After seconds.",
}


class WebhookEndpoint:
    """ASGI: answers requests to ``/hooks/...`` (``handles``): POST to a slug, else 404/405."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver

    @staticmethod
    def handles(scope: Scope) -> bool:
        return scope["type"] == "http" and str(scope["path"]).startswith(HOOKS_PREFIX)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slug = scope["path"][len(HOOKS_PREFIX) :]
        if "/" in slug:
            await _send(send, Reply(404, {"error": {"message": "not found"}}))
        elif scope["method"] != "POST":
            message = "webhooks are POSTed"
            await _send(send, Reply(405, {"error": {"message": message}}, {"Allow": "POST"}))
        else:
            reply = await self._handle(scope, receive, slug)
            await _send(send, reply)
            await self.receiver.answered(reply)

    async def _handle(self, scope: Scope, receive: Receive, slug: str) -> Reply:
        # ASGI header names are lower-case already
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await _read_capped(headers.get("content-length", ""), receive)
        except WebhookRejectedError as error:
            return await self.receiver.refuse(slug, error)
        query = scope.get("query_string", b"")
        parameters = dict(parse_qsl(query.decode("latin-1"))) if query else {}
        return await self.receiver.receive(slug, WebhookRequest(body, headers, parameters))


class HooksFirstApp(FastAPI):
    """A FastAPI app that passes requests to ``/hooks/...`` to ``hooks`` (once set) first."""

    hooks: WebhookEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hooks is not None and self.hooks.handles(scope):
            await self.hooks(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def _read_capped(declared: str, receive: Receive) -> bytes:
    """The body, refused (``too_large``) past the cap (or a larger ``declared`` length) before
    reading more."""
    if declared.isdigit():
        check_body_size(int(declared))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        check_body_size(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


_JSON: Final = (b"content-type", b"application/json")


async def _send(send: Send, reply: Reply) -> None:
    body = to_json(reply.body)
    headers = [_JSON, (b"content-length", b"%d" % len(body))]
    for name, value in reply.headers.items():
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def document_hooks(app: FastAPI) -> None:
    """Add ``POST /hooks/{slug}`` to ``app``'s OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schema.setdefault("paths", {})["/hooks/{slug}"] = {
            "post": {
                "tags": ["webhooks"],
                "summary": "Receive a signed webhook; answers 2xx once its event is stored",
                "operationId": "receive_webhook",
                "security": [],
                "parameters": [
                    {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {"content": {"application/json": {}, "*/*": {}}},
                "responses": {code: {"description": text} for code, text in _RESPONSES.items()},
            }
        }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
