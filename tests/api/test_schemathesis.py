"""Property-based requests from the API's own OpenAPI schema: no operation answers 5xx.

The API runs as `proctor services api` does (real NATS JetStream, a SQLite store, token
auth on) on an event loop of its own thread, because schemathesis calls it synchronously;
every request carries an admin token, so each reaches its route rather than stopping at auth.

The examples are the same on every run (``derandomize``), so CI is reproducible; set
``PROCTOR_FUZZ_RANDOM=1`` (and raise ``PROCTOR_FUZZ_EXAMPLES``) to explore new inputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import BaseSchema

from proctor.core.loop_thread import LoopThread
from proctor.core.settings import ProctorSettings
from proctor.events.naming import Naming
from proctor.events.nats_server import EmbeddedNats
from proctor.runtime.api.auth import Scope
from proctor.runtime.api.tokens import create_token
from proctor.runtime.server import LocalServer, service_server
from tests.server.conftest import delete_namespace

pytestmark = [pytest.mark.nats, pytest.mark.slow]

EXAMPLES_PER_OPERATION = int(os.environ.get("PROCTOR_FUZZ_EXAMPLES", "10"))
RANDOM = os.environ.get("PROCTOR_FUZZ_RANDOM", "") not in ("", "0")


class RunningApi:
    """The API-only server on a private loop, and an admin token for it."""

    def __init__(self, server: LocalServer, loop: LoopThread, token: str) -> None:
        self.server, self.loop, self.token = server, loop, token


@pytest.fixture(scope="module")
def running_api(
    nats_server: EmbeddedNats, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApi]:
    home: Path = tmp_path_factory.mktemp("schemathesis-home")
    naming = Naming(f"s{home.name[-12:].replace('-', '')}"[:32])
    config = ProctorSettings(
        home=home,
        nats_url=nats_server.url,
        namespace=naming.namespace,
        database_url=f"sqlite+aiosqlite:///{home / 'api.db'}",
        api_auth="token",
    )
    loop = LoopThread("schemathesis-api")
    server = service_server("api", config, port=0)
    try:
        loop.call(server.start(), 60)
        assert server.store is not None
        token = loop.call(create_token(server.store, "schemathesis", Scope.ADMIN), 30)
        yield RunningApi(server, loop, token)
    finally:
        loop.call(server.stop(), 60)
        loop.call(delete_namespace(nats_server.url, naming), 30)
        loop.stop()


@pytest.fixture(scope="module")
def api_schema(running_api: RunningApi) -> BaseSchema:
    url = running_api.server.api_url
    # GET /api/events/stream is Server-Sent Events: a response that never ends by design.
    return schemathesis.openapi.from_url(f"{url}/openapi.json").exclude(path="/api/events/stream")


# (not `@schema.parametrize()` with `schemathesis.pytest.from_fixture`: schemathesis 4.32's
# lazy loader reads `Function._nodeid`, which pytest 9 no longer has)
@pytest.mark.parametrize("mode", list(GenerationMode))
def test_no_operation_answers_a_server_error(
    api_schema: BaseSchema,
    running_api: RunningApi,
    mode: GenerationMode,
    subtests: pytest.Subtests,
) -> None:
    headers = {"Authorization": f"Bearer {running_api.token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]  # an invalid schema fails here, loudly
    assert len(operations) > 30

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=not RANDOM,
        )
        def no_server_error(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error], timeout=30)

        with subtests.test(operation.label):
            try:
                no_server_error()
            except Unsatisfiable:
                # an operation without parameters or body has no invalid request to generate
                assert mode is GenerationMode.NEGATIVE, operation.label
