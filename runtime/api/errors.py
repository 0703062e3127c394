"""One error shape for every API failure: ``{"error": {"message": ..., "field": ...}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proctor.core.errors import (
    BrokerUnavailableError,
    EventError,
    ProctorError,
    StoreUnavailableError,
)
from proctor.runtime.api.auth import AuthError

__all__ = ("BodySizeLimit", "error_response", "install_error_handlers")


def error_response(status: int, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Map Proctor's exceptions, validation errors and auth failures to JSON errors."""

    async def on_auth(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, AuthError)
        response = error_response(error.status, error.message)
        if error.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(422, f"{field}: {first.get('msg', 'invalid')}", field)

    async def on_proctor(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ProctorError)
        if isinstance(error, BrokerUnavailableError | StoreUnavailableError):
            response = error_response(503, str(error))
            response.headers["Retry-After"] = "5"
            return response
        status = 400 if isinstance(error, ValueError) else 500
        field = error.field if isinstance(error, EventError) else None
        return error_response(status, str(error), field)

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return error_response(error.status_code, str(error.detail))

    app.add_exception_handler(AuthError, on_auth)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ProctorError, on_proctor)
    app.add_exception_handler(HTTPException, on_http)


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413, before reading them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, f"request body is larger than {self.max_bytes} bytes")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
