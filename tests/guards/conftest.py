"""Guard-rail tests: one set of tables for the package (each test uses its own
users, loans and documents), apps built with their own settings and limits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core import db
from core.settings import Settings
from models import tables
from tests.conftest import make_settings


@pytest.fixture(scope="package")
def shared_settings(dynamodb_endpoint: str) -> Settings:
    s = make_settings(dynamodb_endpoint)
    tables.configure(s)
    tables.create_tables(s)
    return s


@pytest.fixture(scope="module")
def settings(shared_settings: Settings) -> Settings:
    """Re-point the models at the package's tables (another package may have
    configured its own)."""
    try:
        current = db.settings()
    except RuntimeError:
        current = None
    if current is not shared_settings:
        tables.configure(shared_settings)
    return shared_settings


@contextlib.asynccontextmanager
async def app_client(
    settings: Settings, limits: Any = None, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client over a fresh app (its own rate limiter and stores) built with
    `settings.with_(**overrides)`; `limits` replaces the app's GuardLimits."""
    from server import create_app

    app = create_app(settings.with_(**overrides) if overrides else settings, start_background=False)
    if limits is not None:
        app.state.shared["guards"].limits = limits
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


async def post(
    client: httpx.AsyncClient,
    query: str | None = None,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    extensions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {}
    if query is not None:
        body["query"] = query
    if variables:
        body["variables"] = variables
    if extensions:
        body["extensions"] = extensions
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    return await client.post("/graphql", json=body, headers=h)
