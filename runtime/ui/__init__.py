"""The web UI: static HTML, CSS and ES modules served by the API app, no build step.

``mount_ui(app)`` serves the assets under ``/ui/`` and the single page at ``/`` and at each
page path (``/runs/<id>`` reloads and deep links work), and ``/ui/next-fires`` (schedule maths
for the deployments page). The UI loads without a token; its API
calls carry one when the server asks (see ``static/js/api.js``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from proctor.runtime.ui.schedules import schedules_router

__all__ = ("ASSETS_PREFIX", "PAGES", "STATIC_DIR", "mount_ui")

# resolve(): in a strict editable install the module is a symlink into the source tree.
STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
ASSETS_PREFIX: Final = "/ui"
PAGES: Final = ("runs", "events", "automations", "deployments", "work-pools", "webhooks")
"""Top-level paths the UI owns besides ``/``; deeper paths under them are UI pages too."""

# Nothing external may load: scripts, styles, images and API calls come from this server.
_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS: Final = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def mount_ui(app: FastAPI) -> None:
    """Serve the UI from ``app``: assets at ``/ui/``, the page at ``/`` and under ``PAGES``."""
    index = STATIC_DIR / "index.html"

    async def page() -> FileResponse:
        return FileResponse(index, media_type="text/html", headers=_PAGE_HEADERS)

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    for name in PAGES:
        app.add_api_route(f"/{name}", page, methods=["GET"], include_in_schema=False)
        app.add_api_route(f"/{name}/{{rest:path}}", page, methods=["GET"], include_in_schema=False)
    app.include_router(schedules_router())  # before the assets mount, which takes all of /ui/
    app.mount(ASSETS_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui")
