"""The UI is served by the API app: at / and at every page path, without a token, with a
policy that lets nothing external load; its assets ship in the package."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from proctor.events.bus import InMemoryEventBus
from proctor.events.naming import Naming
from proctor.runtime.api.app import create_app
from proctor.runtime.store import Store
from proctor.runtime.ui import PAGES, STATIC_DIR
from proctor.triggers.schedules import CronSchedule
from tests.api.conftest import MemoryTokens, services


@pytest.fixture
async def secured(naming: Naming, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The API app with token auth on, over an in-memory bus and a SQLite store."""
    async with await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'ui.db'}") as store:
        app = create_app(services(InMemoryEventBus(naming), store, MemoryTokens(), "token"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proctor") as http:
            yield http


async def test_every_page_path_serves_the_app_without_a_token(secured: httpx.AsyncClient) -> None:
    deep = "/runs/0190b0a8-3c1e-7000-8000-000000000001"
    for path in ["/", *(f"/{page}" for page in PAGES), deep, "/events?name=a.>"]:
        response = await secured.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/ui/js/app.js">' in response.text
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "connect-src 'self'" in policy


async def test_assets_load_without_a_token_but_the_api_still_needs_one(
    secured: httpx.AsyncClient,
) -> None:
    script = await secured.get("/ui/js/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert (await secured.get("/ui/style.css")).status_code == 200
    assert (await secured.get("/api/flow-runs")).status_code == 401


async def test_api_routes_are_not_shadowed_by_the_ui(secured: httpx.AsyncClient) -> None:
    assert (await secured.get("/health")).json() == {"status": "ok"}
    assert (await secured.get("/ui/nope.js")).status_code == 404
    assert (await secured.get("/nope")).status_code == 404


def test_assets_reference_nothing_outside_the_server() -> None:
    external = re.compile(r"""(?:src|href|import|from|url)\s*\(?\s*['"]?(?:https?:)?//""")
    for asset in STATIC_DIR.rglob("*"):
        if asset.suffix in {".html", ".js", ".css"}:
            text = asset.read_text()
            assert not external.search(text), f"{asset.name} loads something external"


def test_every_module_imported_by_the_app_exists() -> None:
    imports = re.compile(r"""(?:from\s+|import\(\s*)['"](\.{1,2}/[^'"]+)['"]""")
    for module in (STATIC_DIR / "js").rglob("*.js"):
        for target in imports.findall(module.read_text()):
            resolved = (module.parent / target).resolve()
            assert resolved.is_file(), f"{module.name} imports missing {target}"
            assert Path(STATIC_DIR) in resolved.parents


@pytest.mark.slow
def test_the_wheel_ships_every_asset(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(root)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("proctor-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    for asset in STATIC_DIR.rglob("*"):
        if asset.is_file():
            name = f"proctor/runtime/ui/static/{asset.relative_to(STATIC_DIR).as_posix()}"
            assert name in shipped, f"the wheel lacks {name}"


async def test_next_fires_use_the_schedulers_maths_without_a_token(
    secured: httpx.AsyncClient,
) -> None:
    after = "2026-03-07T12:00:00Z"  # the night New York springs forward: 02:30 does not exist
    cron: dict[str, str | int] = {
        "cron": "30 2 * * *",
        "timezone": "America/New_York",
        "after": after,
        "count": 2,
    }
    answer = await secured.get("/ui/next-fires", params=cron)
    assert answer.status_code == 200, answer.text
    expected = CronSchedule("30 2 * * *", "America/New_York")
    first = expected.next_fire(datetime(2026, 3, 7, 12, tzinfo=UTC))
    fires = [datetime.fromisoformat(f) for f in answer.json()["fires"]]
    assert fires == [first, expected.next_fire(first)]

    every: dict[str, str | int] = {"interval_s": 3600, "after": after, "count": 3}
    hourly = (await secured.get("/ui/next-fires", params=every)).json()["fires"]
    assert [datetime.fromisoformat(f).hour for f in hourly] == [13, 14, 15]

    bad = await secured.get("/ui/next-fires", params={"cron": "61 * * * *"})
    assert bad.status_code == 400
    assert "61" in bad.json()["error"]["message"]
    neither = await secured.get("/ui/next-fires")
    assert neither.status_code == 400
    assert "cron" in neither.json()["error"]["message"]
