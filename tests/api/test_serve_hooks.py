"""The API server hands webhook requests to the app's endpoint ahead of uvicorn's stack, and
everything else through it (forwarded headers from a trusted proxy still apply there)."""

from __future__ import annotations

import httpx
from fastapi import Request
from starlette.types import Receive, Scope, Send

from proctor.runtime.api.hooks import HooksFirstApp, WebhookEndpoint
from proctor.runtime.api.serve import ApiServer


class EchoHooks(WebhookEndpoint):
    """Answers every webhook with the scheme and path it was given."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(scope["path"])
        body = f"{scope['scheme']} {scope['path']}".encode()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def test_webhooks_skip_the_stack_and_the_api_keeps_it() -> None:
    app = HooksFirstApp()

    @app.get("/api/scheme")
    def scheme(request: Request) -> dict[str, str]:
        return {"scheme": request.url.scheme}

    hooks = EchoHooks()
    app.hooks = hooks
    server = ApiServer(app, "127.0.0.1", 0)
    await server.start()
    forwarded = {"x-forwarded-proto": "https"}
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            hook = await client.post("/hooks/slug", content=b"{}", headers=forwarded)
            api = await client.get("/api/scheme", headers=forwarded)
    finally:
        await server.stop()
    assert (hook.status_code, hook.content) == (202, b"http /hooks/slug")
    assert hooks.seen == ["/hooks/slug"]
    assert api.json() == {"scheme": "https"}  # from 127.0.0.1: a trusted proxy
