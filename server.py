"""The Starlette application: /graphql (HTTP and WebSocket, GraphiQL in a
browser), /v1/graphql, /healthz, /readyz, and the browser assets."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET

from core import db
from core.auth import AuthError, UnsafeConfiguration, check_token_settings
from core.settings import Settings, get_settings
from guards import install as install_guards
from guards.http import GuardedViewMixin
from guards.limits import BodySizeLimitMiddleware, JSONInputError, decode_json
from loaders import Loaders
from models import tables
from ops import http as http_spec
from ops import metrics as ops_metrics
from ops import tracing as ops_tracing
from ops.logging import AccessLogMiddleware, configure_logging
from resolvers.context import Context
from web.auth import Authentication, AuthenticationMiddleware, authenticate, from_scope
from web.idempotency import IdempotencyMiddleware
from web.sockets import LegacyWSSession, TransportWSSession

log = logging.getLogger("loangraph.server")
ROOT = Path(__file__).resolve().parent
NODE_MODULES = ROOT / "node_modules"

# Browser assets, served from npm packages installed by `make setup` (no CDN).
ASSETS: dict[str, Path] = {
    "graphiql/graphiql.min.js": NODE_MODULES / "graphiql/graphiql.min.js",
    "graphiql/graphiql.min.css": NODE_MODULES / "graphiql/graphiql.min.css",
    "react/react.production.min.js": NODE_MODULES / "react/umd/react.production.min.js",
    "react-dom/react-dom.production.min.js": NODE_MODULES
    / "react-dom/umd/react-dom.production.min.js",
    "graphql-ws/graphql-ws.min.js": NODE_MODULES / "graphql-ws/umd/graphql-ws.min.js",
    # The live funding page's own script and style (static/, docs/live-page.md).
    "live/live.js": ROOT / "static/live.js",
    "live/live.css": ROOT / "static/live.css",
}


class RequestIdMiddleware:
    """Accepts X-Request-ID (or makes one) and returns it on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                candidate = value.decode("latin-1").strip()
                if 0 < len(candidate) <= 128 and candidate.isprintable():
                    rid = candidate
                break
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


async def _client_json_problem(request: Request) -> str | None:
    """What is wrong with the JSON a client sent (the POST body; GET's variables and
    extensions parameters), or None. Decoded strictly here (guards.limits.decode_json)
    so a malformed body is a 400 naming the problem, never an exception inside
    Strawberry: invalid UTF-8, random bytes, nesting past the limit, huge numbers."""
    try:
        if request.method == "POST":
            payload = decode_json(await request.body(), "The request body")
            # Not an object (or a non-empty batch of objects): the client's mistake.
            if not (
                isinstance(payload, dict)
                or (
                    isinstance(payload, list)
                    and payload
                    and all(isinstance(p, dict) for p in payload)
                )
            ):
                return "The request body must be a JSON object (or a non-empty array of them)"
        elif request.method == "GET":
            for name in ("variables", "extensions"):
                value = request.query_params.get(name)
                if value:
                    decode_json(value, f"The {name!r} parameter")
    except JSONInputError as exc:
        return str(exc)
    return None


class LoangraphGraphQL(GuardedViewMixin, GraphQL[Context, None]):
    """Strawberry's ASGI view with our context, auth and offline GraphiQL."""

    # The per-request loader container (the naive benchmark swaps in an unbatched one).
    loaders_factory: Any = Loaders
    # WebSocket handlers the open-subscriptions gauge can count (ops/metrics.py).
    # (web/sockets.py: a context per operation, token expiry, init timeouts,
    # persisted documents by hash: guards/ws.py).
    graphql_transport_ws_handler_class = TransportWSSession
    graphql_ws_handler_class = LegacyWSSession

    def __init__(
        self, schema: Any, settings: Settings, app_state: dict[str, Any], **kwargs: Any
    ) -> None:
        super().__init__(
            schema,
            allowed_origins=settings.allowed_origins,
            connection_init_wait_timeout=dt.timedelta(seconds=settings.ws_init_timeout_seconds),
            **kwargs,
        )
        self.settings = settings
        self.app_state = app_state

    def decode_json(self, data: str | bytes) -> object:
        """Every JSON text Strawberry decodes (WebSocket messages included) under the
        same rules as HTTP bodies: a failure is a JSONDecodeError, which the socket
        handlers answer with 4400 instead of an exception inside them."""
        try:
            return decode_json(data, "The message")
        except JSONInputError as exc:
            raise json.JSONDecodeError(str(exc), "", 0) from None

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """GraphQL over HTTP media types and status codes (ops/http.py)."""
        if isinstance(request, WebSocket):
            return await super().run(request, context, root_value)
        refused = http_spec.refuse(request)
        if refused is not None:
            return refused
        problem = await _client_json_problem(request)
        if problem is not None:
            return http_spec._error(request, 400, problem)
        try:
            response = await super().run(request, context, root_value)
        except HTTPException as exc:
            return http_spec.error_response(request, exc)
        return http_spec.finish(request, response)

    async def process_result(self, request: Any, result: Any) -> Any:
        data = await super().process_result(request, result)
        return http_spec.process_result(request, result, data)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        ctx = Context(
            settings=self.settings,
            request=request,
            response=response if isinstance(response, Response) else None,
            request_id=request.scope.get("state", {}).get("request_id") or uuid.uuid4().hex,
            ip_address=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            guards=self.app_state.get("guards"),
            events=self.app_state.get("events"),
            loaders=self.loaders_factory(),
            # The access log's DynamoDB counter (ops/logging.py) when there is one.
            stats=db.current_stats.get() or db.RequestStats(),
        )
        if isinstance(request, Request):
            # Decoded once by AuthenticationMiddleware (off the event loop when
            # it may block); decoded here only when the app runs without it.
            auth = from_scope(request.scope) or await authenticate(
                request.headers.get("authorization"), self.settings
            )
            await self._sign_in(ctx, auth)
        return ctx

    async def _sign_in(self, ctx: Context, auth: Authentication) -> None:
        ctx.viewer, ctx.auth_error = auth.viewer, auth.error
        if ctx.viewer is not None:
            ensure = self.app_state.get("ensure_user")
            if ensure is not None:
                try:
                    await ensure(ctx.viewer)
                except Exception as exc:  # noqa: BLE001 - e.g. the database is down
                    # Not fatal here: the resolvers that need the database report it
                    # as a coded error (SERVICE_UNAVAILABLE) instead of a bare 500;
                    # the upsert is retried on the next request.
                    log.warning("user upsert failed for %s: %r", ctx.viewer.user_id, exc)
                    ctx.user_sync_error = exc

    async def on_ws_connect(self, context: Context) -> Any:
        params = getattr(context, "connection_params", None) or {}
        header = params.get("authorization") or params.get("Authorization")
        if header is None and isinstance(params.get("headers"), dict):
            header = params["headers"].get("authorization") or params["headers"].get(
                "Authorization"
            )
        if header is not None and not isinstance(header, str):
            header = ""  # not a string: refused below like a malformed header
        await self._sign_in(context, await authenticate(header, self.settings))
        if context.viewer is not None and context.viewer.expired():
            context.viewer, context.auth_error = None, AuthError("the token has expired")
        if context.auth_error is not None or context.viewer is None:
            raise ConnectionRejectionError(
                {"message": str(context.auth_error or "Authentication required")}
            )
        return None

    async def render_graphql_ide(self, request: Request) -> Response:
        from ops.pages import graphiql_page

        return graphiql_page()  # with its CSP, frame-ancestors 'none' (ops/pages.py)


async def asset(request: Request) -> Response:
    path = ASSETS.get(request.path_params["path"])
    if path is None or not path.is_file():
        return Response("not found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


# The live funding page: same-origin only; the token stays in sessionStorage.
LIVE_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


async def live_page(request: Request) -> Response:
    """/loans/{gid}/live (docs/live-page.md); 404 unless gid names a Loan."""
    from core.errors import BadUserInput
    from core.ids import expect_global_id

    try:
        expect_global_id(request.path_params["gid"], "Loan")
    except BadUserInput:
        return Response("not found", status_code=404, media_type="text/plain")
    return HTMLResponse((ROOT / "static/live.html").read_text(), headers=LIVE_PAGE_HEADERS)


# The reference frontend (frontend/, docs/frontend.md): one page, built twice,
# with Apollo Client and with urql; bundles from `make setup` in frontend/dist.
FRONTEND_DIST = ROOT / "frontend/dist"
FRONTEND_CLIENTS = ("apollo", "urql")
FRONTEND_ASSETS = {"apollo.js", "urql.js", "app.css"}


async def frontend_page(request: Request) -> Response:
    client = request.path_params.get("client", "apollo")
    page = FRONTEND_DIST / "index.html"
    if client not in FRONTEND_CLIENTS or not page.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    html = page.read_text().replace("{{client}}", client)
    return HTMLResponse(html, headers=LIVE_PAGE_HEADERS)


async def frontend_asset(request: Request) -> Response:
    name = request.path_params["name"]
    path = FRONTEND_DIST / name
    if name not in FRONTEND_ASSETS or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(path, headers={**LIVE_PAGE_HEADERS, "Cache-Control": "no-cache"})


async def _import_persisted_documents(settings: Settings, guards: Any, schema: Any) -> None:
    """LOANGRAPH_PERSISTED_DOCUMENTS: load a manifest at start-up (idempotent)."""
    from guards import apq

    path = Path(settings.persisted_documents or "")
    try:
        docs = apq.parse_manifest(json.loads(path.read_text()))
        apq.check_manifest_schema(docs, schema._schema)
    except (OSError, ValueError, GraphQLError) as exc:
        raise RuntimeError(f"LOANGRAPH_PERSISTED_DOCUMENTS={path}: {exc}") from None
    added, present = await apq.import_manifest(guards.store, docs)
    log.info("persisted documents from %s: %d added, %d already stored", path, added, present)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the database answers (DescribeTable of the loans table) within 2 s."""
    import models

    try:
        with anyio_fail_after(2.0):
            await db.run_db(models.Loan.describe_table)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return JSONResponse(
            {"status": "unavailable", "database": type(exc).__name__}, status_code=503
        )
    return JSONResponse({"status": "ready"})


def anyio_fail_after(seconds: float) -> Any:
    import anyio

    return anyio.fail_after(seconds)


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
    _wire_own_writes(state, settings)  # the process caches follow this process's writes
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

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.create_tables:
            await db.run_db(tables.create_tables, settings)
        if settings.persisted_documents:
            await _import_persisted_documents(settings, guards, schema)
        from events.runtime import lifespan_hook as events_hook

        hooks: list[Any] = []
        for starter in (events_hook, *LIFESPAN_HOOKS):
            hooks.append(await starter(app, settings, state, start_background))
        runtime = app.state.events
        state["events"] = runtime
        hooks.append(await _wire_cache_invalidation(runtime))
        try:
            yield
        finally:
            for stop in reversed(hooks):
                if stop is not None:
                    with contextlib.suppress(Exception):
                        await stop()

    async def receipt_keys(request: Request) -> Response:
        """The public keys of acceptance receipts, current and retired (a JWKS)."""
        from services import receipts

        ring = await anyio.to_thread.run_sync(receipts.keyring, settings)
        return JSONResponse(ring.jwks(), headers={"Cache-Control": "public, max-age=300"})

    routes = [
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        Route("/.well-known/receipt-keys.json", receipt_keys),
        WebSocketRoute("/graphql", graphql_app),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/assets/{path:path}", asset),
        Route("/loans/{gid:path}/live", live_page),
        *ops_metrics.api_routes(settings),  # /metrics, unless LOANGRAPH_METRICS_PORT moves it
        Route("/app/", frontend_page),
        Route("/app/{client}/", frontend_page),
        Route("/app/assets/{name}", frontend_asset),
    ]
    for version, release_app in release_apps.items():
        routes += [
            Route(f"/{version}/graphql", release_app, methods=["GET", "POST"]),
            WebSocketRoute(f"/{version}/graphql", release_app),
        ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(AccessLogMiddleware),
            Middleware(BodySizeLimitMiddleware, max_body_bytes=guards.limits.max_body_bytes),
            Middleware(AuthenticationMiddleware, settings=settings),
            Middleware(IdempotencyMiddleware, settings=settings),
            Middleware(GZipMiddleware, minimum_size=1024, compresslevel=5),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.shared = state
    app.state.graphql = graphql_app
    return app


def _wire_own_writes(state: dict[str, Any], settings: Settings) -> None:
    """Size the process caches (loaders/) and invalidate them after this
    process's own writes: every committed transaction (`services.tx`) and the
    viewer's profile upsert (read your writes)."""
    from loaders import cache, page_cache
    from services import tx

    cache.configure(settings)
    page_cache.configure(settings)
    for hook in (cache.after_commit, page_cache.after_commit):
        if hook not in tx.AFTER_COMMIT_HOOKS:
            tx.AFTER_COMMIT_HOOKS.append(hook)
    ensure = state["ensure_user"]

    async def ensure_user(viewer: Any) -> Any:
        wrote = await ensure(viewer)
        if wrote:
            cache.invalidate("users", viewer.user_id)
        return wrote

    state["ensure_user"] = ensure_user


async def _wire_cache_invalidation(runtime: Any) -> Any:
    """Every committed change invalidates the process cache: from the dispatcher
    when this process runs it, else from the broker (replicas behind Redis)."""

    from loaders import cache, page_cache

    if runtime.dispatcher is not None:
        runtime.add_invalidation_hook(cache.on_event)
        runtime.add_invalidation_hook(page_cache.on_event)
        return None
    # It restarts itself when its subscription ends (fell behind, or the broker
    # lost Redis): invalidations may have been missed, so the cache is cleared.
    from events.broker import (
        INVALIDATION_RESTARTS,
        SubscriptionInterrupted,
        SubscriptionOverflow,
    )

    stopping = asyncio.Event()
    current: list[Any] = []

    async def consume() -> None:
        ended = False  # the previous subscription ended: events may have been missed
        while not stopping.is_set():
            try:
                sub = runtime.broker.subscribe_all()
            except SubscriptionInterrupted:  # the broker is reconnecting
                await asyncio.sleep(0.2)
                continue
            current[:] = [sub]
            if ended:
                cache.CACHE.clear()
                page_cache.PAGES.clear()
                INVALIDATION_RESTARTS.inc()
                log.warning("cache invalidation feed resumed; the cache was cleared")
            try:
                async for event in sub:
                    cache.on_event(event)
                    page_cache.on_event(event)
            except (SubscriptionOverflow, SubscriptionInterrupted) as exc:
                log.warning("cache invalidation feed ended (%s); resubscribing", exc)
            finally:
                sub.close()
            ended = True
            await asyncio.sleep(0.05)

    task = asyncio.create_task(consume(), name="cache-invalidation")

    async def stop() -> None:
        stopping.set()
        for sub in current:
            sub.close()
        task.cancel()

    return stop


# Async callables (app, settings, state, start_background) -> stop callable | None,
# run at startup by the lifespan (event dispatcher, broker, metrics...).
LIFESPAN_HOOKS: list[Any] = [ops_metrics.metrics_port_hook]


def app_from_env() -> Starlette:
    """uvicorn factory: `uvicorn --factory server:app_from_env`."""
    configure_logging(get_settings().log_level)
    try:
        return create_app(get_settings())
    except UnsafeConfiguration as exc:
        raise SystemExit(f"loangraph: {exc}") from None
