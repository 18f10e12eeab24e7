"""Open GraphQL WebSockets, for the subscription gauges of /metrics
(ops/metrics.py): the socket handlers register themselves here; errors sent
before execution get the `extensions.code` HTTP would give them."""

from __future__ import annotations

import weakref
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

_ws_handlers: weakref.WeakSet[Any] = weakref.WeakSet()


def _code_errors(errors: Any) -> Any:
    """Errors Strawberry sends before execution (bad document, bad variables)
    carry no `extensions.code`: give them the one HTTP would."""
    if isinstance(errors, list):
        for err in errors:
            if isinstance(err, dict) and "code" not in (err.get("extensions") or {}):
                code = "GRAPHQL_VALIDATION_FAILED"
                if "Variable" in str(err.get("message", "")):
                    code = "BAD_USER_INPUT"
                err["extensions"] = {**(err.get("extensions") or {}), "code": code}
    return errors


class TrackedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws handler that the open-subscriptions gauge can see."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _ws_handlers.add(self)

    async def send_message(self, message: Any) -> None:
        if message.get("type") == "error":
            _code_errors(message.get("payload"))
        await super().send_message(message)


class TrackedWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """Legacy graphql-ws handler that the open-subscriptions gauge can see."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _ws_handlers.add(self)

    async def send_message(self, message: Any) -> None:
        if message.get("type") == "error":
            payload = message.get("payload")
            _code_errors(payload if isinstance(payload, list) else [payload])
        await super().send_message(message)


def open_subscriptions() -> dict[str, int]:
    counts = {"graphql-transport-ws": 0, "graphql-ws": 0}
    for handler in list(_ws_handlers):
        if isinstance(handler, BaseGraphQLTransportWSHandler):
            counts["graphql-transport-ws"] += len(getattr(handler, "operations", {}))
        else:
            counts["graphql-ws"] += len(getattr(handler, "subscriptions", {}))
    return counts


def open_connections() -> int:
    return len(_ws_handlers)
