"""Where /metrics is served: on the API listener (behind
LOANGRAPH_METRICS_TOKEN when set), or on its own listener
(LOANGRAPH_METRICS_PORT) started by a lifespan hook."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from prometheus_client import REGISTRY
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

log = logging.getLogger("loangraph.ops.metrics")


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def token_endpoint(token: str | None) -> Callable[[Request], Awaitable[Response]]:
    """/metrics, behind `Authorization: Bearer <token>` when a token is set
    (LOANGRAPH_METRICS_TOKEN): 401 otherwise, compared in constant time."""
    if not token:
        return metrics_endpoint
    expected = ("Bearer " + token).encode()

    async def guarded(request: Request) -> Response:
        sent = request.headers.get("authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(sent, expected):
            return Response(
                "metrics need 'Authorization: Bearer <LOANGRAPH_METRICS_TOKEN>'\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
            )
        return await metrics_endpoint(request)

    return guarded


def api_routes(settings: Any) -> list[Route]:
    """The /metrics route of the API listener: none when LOANGRAPH_METRICS_PORT
    moves it to its own listener (then /metrics is a 404 on the API port)."""
    if settings.metrics_port is not None:
        return []
    return [Route("/metrics", token_endpoint(settings.metrics_token))]


class _SideServer(uvicorn.Server):
    """A uvicorn server sharing the API server's process and event loop: the
    API server owns the signal handlers and stops this one from its lifespan."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    # SO_REUSEPORT: with `--workers N` every worker binds the metrics port too and
    # the kernel spreads scrapes over them, as it does on the API port.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def metrics_port_hook(app: Any, settings: Any, state: Any, start_background: bool) -> Any:
    """Lifespan hook: serve /metrics (only) on LOANGRAPH_METRICS_PORT, from
    however the app was started (`loangraph serve` or `uvicorn --factory`)."""
    if settings.metrics_port is None:
        return None
    side_app = Starlette(routes=[Route("/metrics", token_endpoint(settings.metrics_token))])
    config = uvicorn.Config(
        side_app, lifespan="off", log_level="warning", access_log=False, log_config=None
    )
    server = _SideServer(config)
    sock = _listen(settings.host, settings.metrics_port)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="metrics-listener")
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # raises what stopped it
            raise RuntimeError("the metrics listener stopped while starting")
        await asyncio.sleep(0.01)
    log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)

    async def stop() -> None:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
        sock.close()

    return stop
