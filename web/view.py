"""The GraphQL view: Strawberry's ASGI app with our context (viewer, fresh
loaders), the GraphQL-over-HTTP rules (ops/http.py), strict JSON decoding, the
WebSocket sign-in and the offline GraphiQL page."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET

from core import db
from core.auth import AuthError
from core.settings import Settings
from guards.http import GuardedViewMixin
from guards.limits import JSONInputError, decode_json
from loaders import Loaders
from ops import http as http_spec
from resolvers.context import Context
from web.auth import Authentication, authenticate, from_scope
from web.sockets import LegacyWSSession, TransportWSSession

log = logging.getLogger("loangraph.server")


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
