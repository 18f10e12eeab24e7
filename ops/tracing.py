"""OpenTelemetry tracing, only when the `opentelemetry` packages are installed
(`pip install -e .[otel]`); without them this module does nothing.

With the API and SDK importable, every GraphQL operation becomes a span
(Strawberry's OpenTelemetryExtension: parse, validate, resolvers) and every
DynamoDB call a child span. Exporters are configured the standard way
(OTEL_* environment variables, e.g. via `opentelemetry-instrument`); we do
not pick one here.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("loangraph.tracing")


def available() -> bool:
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        return False
    return True


def extensions() -> list[Any]:
    """Strawberry extensions to add to the schema ([] without opentelemetry)."""
    if not available():
        return []
    try:
        from strawberry.extensions.tracing import OpenTelemetryExtension
    except ImportError:  # pragma: no cover - strawberry without the otel helper
        return []
    return [OpenTelemetryExtension]


def on_db_call(operation: str, seconds: float, error: str | None) -> None:
    """core.db CALL_LISTENERS: a finished DynamoDB call as a span (timed after the
    fact: botocore gives us start and end, not a context manager)."""
    from opentelemetry import trace

    tracer = trace.get_tracer("loangraph.dynamodb")
    import time

    end = time.time_ns()
    span = tracer.start_span(f"DynamoDB {operation}", start_time=end - int(seconds * 1e9))
    span.set_attribute("db.system", "dynamodb")
    span.set_attribute("db.operation", operation)
    if error:
        span.set_attribute("error.type", error)
    span.end(end_time=end)


_installed = False


def install() -> bool:
    """Hook DynamoDB call spans (idempotent). Returns whether tracing is on."""
    global _installed
    if not available():
        return False
    if not _installed:
        from core import db

        db.CALL_LISTENERS.append(on_db_call)
        _installed = True
        log.info("OpenTelemetry tracing enabled")
    return True
