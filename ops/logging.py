"""JSON logs: every log record as one JSON object per line, and one access line
per HTTP request (request id, operation, user, status, duration, DynamoDB calls).

`LOANGRAPH_LOG_FORMAT=text` switches to plain text for a terminal.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import db
from core.settings import get_settings
from ops import metrics

access_log = logging.getLogger("loangraph.access")

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `extra={...}` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Root logging to stderr: JSON unless LOANGRAPH_LOG_FORMAT=text. The server,
    the worker and every CLI command call this, so they all log alike."""
    settings = get_settings()
    level = level or settings.log_level
    fmt = (fmt or settings.log_format).lower()
    handler = logging.StreamHandler()
    if fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Strawberry logs every GraphQL error, the client's included; schema/errors.py
    # (ErrorBoundary) already logs the unexpected ones in full with the request id.
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)


def _route(scope: Scope) -> str:
    """A bounded route label: the matched route's path template, else `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class AccessLogMiddleware:
    """Counts DynamoDB calls per request (core.db.current_stats), times it, records
    HTTP metrics and writes one access log line. WebSockets are logged at close."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        stats = db.RequestStats()
        token = db.current_stats.set(stats)
        status = 0 if scope["type"] == "http" else 101

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "websocket.close":
                status = message.get("code", 1000)
            await send(message)

        if scope["type"] == "http":
            metrics.INFLIGHT.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            status = 500
            raise
        finally:
            db.current_stats.reset(token)
            elapsed = time.perf_counter() - started
            if scope["type"] == "http":
                metrics.INFLIGHT.dec()
                route = _route(scope)
                metrics.HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
                metrics.HTTP_LATENCY.labels(route).observe(elapsed)
            self._log(scope, status, elapsed, stats)

    @staticmethod
    def _log(scope: Scope, status: int, elapsed: float, stats: db.RequestStats) -> None:
        path = scope.get("path", "")
        if path in ("/healthz", "/metrics") or path.startswith("/assets/"):
            return  # probes and scrapes would drown the log
        state = scope.get("state", {})
        info = state.get("loangraph", {})
        access_log.info(
            "%s %s %s",
            scope.get("method", "WS"),
            path,
            status,
            extra={
                "request_id": state.get("request_id"),
                "method": scope.get("method", "WEBSOCKET"),
                "path": path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "operation": info.get("operation"),
                "operation_type": info.get("operation_type"),
                "outcome": info.get("outcome"),
                "error_codes": info.get("error_codes") or None,
                "user": info.get("user"),
                "dynamodb_calls": stats.total,
                "dynamodb_by_operation": dict(stats.calls) or None,
            },
        )
