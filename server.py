"""The Starlette application: /graphql (HTTP and WebSocket, GraphiQL in a
browser), /v1/graphql, /healthz, /readyz, and the browser assets.

The entry point (`uvicorn --factory server:app_from_env`, `loangraph serve`,
`from server import create_app`); the parts live in web/: the factory
(web/app.py), the GraphQL view (web/view.py), the other routes
(web/routes.py), the lifespan (web/lifespan.py), request ids
(web/middleware.py), authentication, idempotency and socket sessions."""

from __future__ import annotations

from web.app import app_from_env, create_app
from web.lifespan import LIFESPAN_HOOKS
from web.view import LoangraphGraphQL

__all__ = ["LIFESPAN_HOOKS", "LoangraphGraphQL", "app_from_env", "create_app"]
