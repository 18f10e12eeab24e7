"""The typed request context, built once per request in `get_context()`
(server.py), once per operation on a WebSocket (web/sockets.py), and `Info`,
the resolvers' view of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import strawberry

from core.actor import Actor
from core.auth import AuthError, Viewer
from core.db import RequestStats
from core.errors import Unauthenticated
from core.settings import Settings
from loaders import Loaders

if TYPE_CHECKING:
    from events.runtime import EventRuntime
    from guards import Guards
    from guards.ratelimit import RateLimitState


@dataclass
class Context:
    settings: Settings
    request: Any = None  # starlette Request or WebSocket
    response: Any = None  # starlette Response (headers), None on WebSockets
    viewer: Viewer | None = None
    auth_error: AuthError | None = None
    request_id: str = ""
    ip_address: str | None = None
    user_agent: str | None = None
    loaders: Loaders = field(default_factory=Loaders)
    stats: RequestStats = field(default_factory=RequestStats)
    # The app's guard rails and event runtime (None in a bare schema execution).
    guards: Guards | None = None
    events: EventRuntime | None = None
    # Set by the guard rails (guards.extension): the operation's rate-limit
    # state, and the documents admitted (a persisted query may store them).
    rate_limit: RateLimitState | None = None
    admitted_documents: set[str] = field(default_factory=set)
    # resolvers.selection: whether a field selects a sub-field, by (node, name).
    selects: dict[Any, bool] = field(default_factory=dict)
    # The viewer's profile upsert failed (server.py); the request goes on.
    user_sync_error: Exception | None = None
    # WebSocket `connection_init` payload (Strawberry sets it).
    connection_params: dict[str, Any] | None = None

    def read_fresh(self) -> None:
        """Mutations and subscriptions read around the process caches (guards.extension)."""
        self.loaders = Loaders(fresh=True)

    def require_viewer(self) -> Viewer:
        if self.auth_error is not None:
            raise Unauthenticated(str(self.auth_error))
        if self.viewer is None:
            raise Unauthenticated("Authentication required: send 'Authorization: Bearer <token>'")
        return self.viewer

    @property
    def actor(self) -> Actor:
        return Actor(
            viewer=self.require_viewer(),
            ip_address=self.ip_address,
            user_agent=self.user_agent,
            request_id=self.request_id,
        )

    # Strawberry's views read `context["request"]`/`context["response"]`.
    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


# What resolvers receive: the context above, no root value.
Info: TypeAlias = strawberry.Info[Context, None]
