"""The routes other than GraphQL's: browser assets, the live funding page, the
reference frontend, health and readiness, the receipt keys; and `build_routes`,
the app's whole route table (GraphQL views included)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from core import db
from core.settings import Settings
from ops import metrics as ops_metrics

ROOT = Path(__file__).resolve().parent.parent
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
    return anyio.fail_after(seconds)


def receipt_keys_endpoint(settings: Settings) -> Any:
    async def receipt_keys(request: Request) -> Response:
        """The public keys of acceptance receipts, current and retired (a JWKS)."""
        from services import receipts

        ring = await anyio.to_thread.run_sync(receipts.keyring, settings)
        return JSONResponse(ring.jwks(), headers={"Cache-Control": "public, max-age=300"})

    return receipt_keys


def build_routes(
    settings: Settings, graphql_app: Any, release_apps: Mapping[str, Any]
) -> list[BaseRoute]:
    """/graphql (HTTP and WebSocket), each published major version's
    /{version}/graphql, and the routes above."""
    routes: list[BaseRoute] = [
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        Route("/.well-known/receipt-keys.json", receipt_keys_endpoint(settings)),
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
    return routes
