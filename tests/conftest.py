"""Shared fixtures: one DynamoDB Local per test session (in memory), fresh
tables per test module (a random table prefix), the real app over ASGI."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from core import db
from core.auth import Viewer, mint_token
from core.dynamodb_local import DynamoDBLocal
from core.settings import Settings
from models import tables

TEST_JWT_SECRET = "test-secret-for-loangraph-tests-0123456789"


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    external = os.environ.get("LOANGRAPH_DYNAMODB_ENDPOINT")
    if external:
        yield external
        return
    ddb = DynamoDBLocal().start()
    try:
        yield ddb.endpoint
    finally:
        ddb.stop()


def make_settings(endpoint: str, **overrides: object) -> Settings:
    base = Settings(
        dynamodb_endpoint=endpoint,
        table_prefix=f"t{uuid.uuid4().hex[:8]}_",
        jwt_secret=TEST_JWT_SECRET,
        webhook_allow_private=True,
        webhook_retry_base_seconds=0.2,
        create_tables=False,
        db_threads=16,
    )
    return base.with_(**overrides)


@pytest.fixture(scope="module")
def settings(dynamodb_endpoint: str) -> Iterator[Settings]:
    """Fresh tables for each test module."""
    s = make_settings(dynamodb_endpoint)
    tables.configure(s)
    tables.create_tables(s)
    yield s


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Extra environment of the module's `server`; a module (or conftest) that
    needs another configuration overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest,
    dynamodb_endpoint: str,
    server_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[object]:
    """A real `loangraph serve` process per test module, with fresh tables
    (tests/ops/conftest.py `start_server`) and `server_env` on top."""
    from tests.ops.conftest import start_server

    name = request.module.__name__.rsplit(".", 1)[-1]
    s = start_server(dynamodb_endpoint, tmp_path_factory.mktemp(name), **server_env)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def token(settings: Settings):
    """token(sub, email=None, admin=False) -> a signed bearer token."""

    def _make(sub: str, email: str | None = None, admin: bool = False) -> str:
        return mint_token(settings, sub=sub, email=email, admin=admin)

    return _make


def new_user(prefix: str = "user", admin: bool = False) -> Viewer:
    uid = f"{prefix}-{uuid.uuid4().hex[:10]}"
    return Viewer(user_id=uid, email=f"{uid}@example.com", roles=("admin",) if admin else ())


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the real Starlette app in-process."""
    from server import create_app

    app = create_app(settings, start_background=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture(autouse=True)
def _no_blocking_dynamodb_calls_on_the_event_loop():
    """Every test: no DynamoDB request was sent from a thread running an event
    loop (blocking PynamoDB calls belong in `core.db.run_db`)."""
    db.ON_LOOP_CALLS.clear()
    yield
    assert not db.ON_LOOP_CALLS, (
        f"blocking DynamoDB calls on the event loop: {db.ON_LOOP_CALLS[:5]}"
    )
