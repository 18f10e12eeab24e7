"""Authentication once per HTTP request, before anything else reads the token.

`AuthenticationMiddleware` decodes the bearer token of every GraphQL request one
time and leaves the outcome in `scope["state"]["auth"]`; the idempotency
middleware and the GraphQL context read it from there. Decoding that may block
(a JWKS URL: RS256 verification, and a fetch at most once per 30 s, see
core.auth.JWKSCache) runs in a worker thread, never on the event loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from core.auth import AuthError, Viewer, bearer_token, decode_token, is_url
from core.settings import Settings

STATE_KEY = "auth"
GRAPHQL_PATHS = ("/graphql", "/v1/graphql")


@dataclass(frozen=True, slots=True)
class Authentication:
    """The outcome for one request: a viewer, an error, or neither (no token)."""

    viewer: Viewer | None = None
    error: AuthError | None = None


ANONYMOUS = Authentication()


async def authenticate(header: str | None, settings: Settings) -> Authentication:
    try:
        token = bearer_token(header)
        if token is None:
            return ANONYMOUS
        if is_url(settings.jwks):
            viewer = await anyio.to_thread.run_sync(decode_token, token, settings)
        else:
            viewer = decode_token(token, settings)
    except AuthError as exc:
        return Authentication(error=exc)
    return Authentication(viewer=viewer)


def from_scope(scope: Scope) -> Authentication | None:
    """What the middleware decided for this request (None: it did not run)."""
    found = scope.get("state", {}).get(STATE_KEY)
    return found if isinstance(found, Authentication) else None


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in GRAPHQL_PATHS:
            header: Any = None
            for name, value in scope.get("headers", ()):
                if name == b"authorization":
                    header = value.decode("latin-1")
                    break
            auth = await authenticate(header, self.settings)
            scope.setdefault("state", {})[STATE_KEY] = auth
        await self.app(scope, receive, send)
