"""Browser fixtures: headless Chromium (Debian's `chromium`, driven by Playwright) against a
real in-process server. Without Chromium the browser tests skip, saying why, unless
PROCTOR_REQUIRE_BROWSER=1 (CI), where they fail instead."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
import pytest_asyncio

from proctor.core.settings import ProctorSettings
from proctor.runtime.server import LocalServer

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Page, Request

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000


def find_chromium() -> str | None:
    """Debian's Chromium (``/usr/bin/chromium``), or one on PATH."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("PROCTOR_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (PROCTOR_REQUIRE_BROWSER=1: the browser tests must run)")
    pytest.skip(reason)


# One browser for the session (starting Playwright's driver and Chromium takes ~2 s); the
# browser tests run on the session's event loop, which Playwright's objects are bound to.
@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    try:
        from playwright.async_api import async_playwright, expect
    except ImportError:
        _unavailable("Playwright is not installed: pip install -e '.[dev]'")
    executable = find_chromium()
    if executable is None:
        _unavailable(
            "no Chromium found (looked for chromium, chromium-browser on PATH): "
            "apt-get install -y chromium chromium-driver"
        )
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
def auth_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Token auth for the server (request it before `page`, which starts the server)."""
    monkeypatch.setenv("PROCTOR_API_AUTH", "token")


@pytest_asyncio.fixture(loop_scope="session")
async def server(isolated_environment: Path) -> AsyncIterator[LocalServer]:
    running = LocalServer(ProctorSettings(), port=0)
    await running.start()
    yield running
    await running.stop()


class Watch:
    """What went wrong in the page: script errors, console errors, requests leaving the server."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.problems: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        """Accept console errors matching ``pattern`` (e.g. the 401 before a token is given)."""
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.problems.append(f"console error: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.problems.append(f"script error: {error}")

    def on_request(self, request: Request) -> None:
        if not request.url.startswith((self.origin, "data:")):
            self.problems.append(f"request outside the server: {request.url}")


@pytest.fixture
def watch(server: LocalServer) -> Watch:
    return Watch(server.api_url)


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, server: LocalServer, watch: Watch) -> AsyncIterator[Page]:
    """A tab on the server's UI (its own browser context: storage starts empty); the test
    fails if the page logged errors or sent requests elsewhere."""
    context = await browser.new_context(
        base_url=server.api_url, viewport={"width": 1360, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    tab = await context.new_page()
    tab.on("console", watch.on_console)
    tab.on("pageerror", watch.on_page_error)
    tab.on("request", watch.on_request)
    yield tab
    await context.close()
    assert not watch.problems, "\n".join(watch.problems)


async def screenshot(page: Page, name: str) -> None:
    """Save the whole page as artifacts/screenshots/<name>.png (kept by CI)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
