"""The app factory: the schema and its published releases behind one GraphQL
view each, the route table (web/routes.py), the middleware stack and the
lifespan (web/lifespan.py)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware

from core.auth import UnsafeConfiguration, check_token_settings
from core.settings import Settings, get_settings
from guards import install as install_guards
from guards.limits import BodySizeLimitMiddleware
from models import tables
from ops import metrics as ops_metrics
from ops import tracing as ops_tracing
from ops.logging import AccessLogMiddleware, configure_logging
from web.auth import AuthenticationMiddleware
from web.idempotency import IdempotencyMiddleware
from web.lifespan import make_lifespan, wire_own_writes
from web.middleware import RequestIdMiddleware
from web.routes import build_routes
from web.view import LoangraphGraphQL


def create_app(settings: Settings | None = None, *, start_background: bool = True) -> Starlette:
    """Build the app. `start_background` runs the event dispatcher in-process."""
    from schema import EXTRA_EXTENSIONS, build_schema
    from schema.releases import RELEASES, build_release_schema

    settings = settings or get_settings()
    # However the app is started (loangraph serve, uvicorn --factory, a test):
    # never with settings that let anyone mint tokens (core.auth).
    check_token_settings(settings)
    tables.configure(settings)
    state: dict[str, Any] = {}
    from services.users import ensure_user

    state["ensure_user"] = ensure_user

    guards = install_guards(state, settings)  # rate limiter, persisted queries
    wire_own_writes(state, settings)  # the process caches follow this process's writes
    ops_metrics.install()
    ops_tracing.install()
    for extension in (ops_metrics.MetricsExtension, *ops_tracing.extensions()):
        if extension not in EXTRA_EXTENSIONS:
            EXTRA_EXTENSIONS.append(extension)
    schema = build_schema()
    graphql_app = LoangraphGraphQL(schema, settings, state, keep_alive=True, keep_alive_interval=15)
    # Published major versions: the current code pruned to each release's SDL
    # (schema/releases, docs/versioning.md).
    release_apps = {
        version: LoangraphGraphQL(
            build_release_schema(version), settings, state, keep_alive=True, keep_alive_interval=15
        )
        for version in RELEASES
    }
    app = Starlette(
        routes=build_routes(settings, graphql_app, release_apps),
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(AccessLogMiddleware),
            Middleware(BodySizeLimitMiddleware, max_body_bytes=guards.limits.max_body_bytes),
            Middleware(AuthenticationMiddleware, settings=settings),
            Middleware(IdempotencyMiddleware, settings=settings),
            Middleware(GZipMiddleware, minimum_size=1024, compresslevel=5),
        ],
        lifespan=make_lifespan(settings, state, guards, schema, start_background),
    )
    app.state.settings = settings
    app.state.shared = state
    app.state.graphql = graphql_app
    return app


def app_from_env() -> Starlette:
    """uvicorn factory: `uvicorn --factory server:app_from_env`."""
    configure_logging(get_settings().log_level)
    try:
        return create_app(get_settings())
    except UnsafeConfiguration as exc:
        raise SystemExit(f"loangraph: {exc}") from None
