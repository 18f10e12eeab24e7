"""WebSocket sessions that keep checking what they were allowed.

Strawberry builds one context per socket at `connection_init` and runs every
operation of that socket with it. Here, for both protocols:

- every operation gets its own context: fresh loaders (nothing memoized at
  `connection_init` is read again, so each access decision is made anew) and its
  own rate-limit state, admitted documents and selection cache; the viewer is
  the socket's;
- a token's `exp` holds on sockets too: an operation started after it is refused
  (UNAUTHENTICATED) and the socket is closed with 4403 when it passes;
- the legacy `graphql-ws` protocol gets the same connection-init timeout as
  `graphql-transport-ws` (4408 when no `connection_init` arrives in time);
- a message that is JSON but not a protocol message (a list, a missing id or
  query) closes the socket with 4400 instead of raising inside the handler.

Subscriptions re-check their own access per event (resolvers/subscriptions.py)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from typing import Any, cast

from starlette.websockets import WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected

from core.auth import AuthError
from core.db import RequestStats
from guards.ws import PersistedTransportWSHandler
from ops.metrics import TrackedWSHandler
from resolvers.context import Context
from schema.event_memo import JSON_CACHE

log = logging.getLogger("loangraph.ws")

EXPIRED_CLOSE_CODE = 4403


class _PerOperationSchema:
    """The schema as a socket handler sees it: `subscribe` and `stream` run each
    operation with a context of its own (SocketSession.operation_context)."""

    def __init__(self, schema: Any, session: SocketSession) -> None:
        self._schema = schema
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)

    async def subscribe(self, *args: Any, context_value: Any = None, **kwargs: Any) -> Any:
        ctx = self._session.operation_context(context_value)
        return await self._schema.subscribe(*args, context_value=ctx, **kwargs)

    async def stream(self, *args: Any, context_value: Any = None, **kwargs: Any) -> Any:
        ctx = self._session.operation_context(context_value)
        return await self._schema.stream(*args, context_value=ctx, **kwargs)


class SocketSession:
    """Mixed into both protocol handlers (before them in the bases)."""

    view: Any
    websocket: Any
    context: Any
    schema: Any
    connection_acknowledged: bool
    connection_init_timeout_task: asyncio.Task[Any] | None  # graphql-transport-ws only

    def _start_session(self) -> None:
        self.schema = _PerOperationSchema(self.schema, self)
        # A timer, not a sleeping task per socket: a task (and its frame) only
        # when the token actually expires.
        self._expiry: asyncio.TimerHandle | None = None
        self._expiry_task: asyncio.Task[None] | None = None

    def operation_context(self, connection_context: Any) -> Any:
        ctx = connection_context
        if not isinstance(ctx, Context):
            return ctx
        viewer, auth_error = ctx.viewer, ctx.auth_error
        if viewer is not None and viewer.expired():
            viewer, auth_error = None, AuthError("the token has expired; sign in again")
        factory = getattr(self.view, "loaders_factory", None)
        return dataclasses.replace(
            ctx,
            viewer=viewer,
            auth_error=auth_error,
            loaders=factory() if factory is not None else type(ctx.loaders)(),
            rate_limit=None,
            admitted_documents=set(),
            selects={},
            stats=RequestStats(),
        )

    async def handle_connection_init(self, message: Any) -> None:
        """Both protocols: once the connection is acknowledged, its token's `exp` is armed."""
        await super().handle_connection_init(message)  # type: ignore[misc]  # a mixin
        if self.connection_acknowledged:
            self._arm_expiry()
            # graphql-transport-ws: the init timeout was cancelled by the ack; the
            # loop finishes the task, the socket need not hold it for its lifetime.
            if getattr(self, "connection_init_timeout_task", None) is not None:
                self.connection_init_timeout_task = None

    def _arm_expiry(self) -> None:
        viewer = getattr(self.context, "viewer", None)
        expires_at = getattr(viewer, "expires_at", None)
        if expires_at is None or self._expiry is not None:
            return
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_at(loop.time() + max(0.0, expires_at - time.time()), self._expired)

    def _expired(self) -> None:
        self._expiry_task = asyncio.create_task(self._close_expired(), name="ws-token-expiry")

    async def _close_expired(self) -> None:
        log.info("closing a WebSocket: its token expired")
        with contextlib.suppress(Exception):
            await self.websocket.close(code=EXPIRED_CLOSE_CODE, reason="Token expired")

    async def _end_session(self) -> None:
        timer, self._expiry = self._expiry, None
        if timer is not None:
            timer.cancel()
        task, self._expiry_task = self._expiry_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class TransportWSSession(SocketSession, PersistedTransportWSHandler):
    """graphql-transport-ws (with persisted documents by hash, guards/ws.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._start_session()

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.handle_invalid_message("A message must be an object with a 'type'")
            return
        if message["type"] == "subscribe" and not _valid_payload(message, by_hash=True):
            await self.handle_invalid_message(
                "'subscribe' needs an 'id' and a payload 'query' (or a persisted-query hash)"
            )
            return
        await super().handle_message(cast(Any, message))  # checked above, as far as needed

    async def shutdown(self) -> None:
        await self._end_session()
        await super().shutdown()

    async def send_message(self, message: Any) -> None:
        """A `next` whose data is an event's shared result (schema/event_memo.py)
        is encoded once for every subscriber: only the operation id differs."""
        text = _shared_next(self.view, message)
        if text is None:
            await super().send_message(message)
            return
        try:
            await self.websocket.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class LegacyWSSession(SocketSession, TrackedWSHandler):
    """The legacy graphql-ws (subscriptions-transport-ws) protocol."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._start_session()
        self._init_timeout_task: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        self._init_timeout_task = asyncio.create_task(self._init_timeout())
        try:
            await super().handle()
        finally:
            task, self._init_timeout_task = self._init_timeout_task, None
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def _init_timeout(self) -> None:
        """The same rule as graphql-transport-ws: connection_init in time, or 4408."""
        wait = getattr(self.view, "connection_init_wait_timeout", None)
        seconds = wait.total_seconds() if wait is not None else 60.0
        await asyncio.sleep(seconds)
        if not self.connection_acknowledged:
            with contextlib.suppress(Exception):
                await self.websocket.close(code=4408, reason="Connection initialisation timeout")

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.websocket.close(code=4400, reason="A message must be an object")
            return
        if message["type"] == "start" and not _valid_payload(message):
            await self.websocket.close(code=4400, reason="'start' needs an 'id' and a 'query'")
            return
        if message["type"] == "stop" and not isinstance(message.get("id"), str):
            await self.websocket.close(code=4400, reason="'stop' needs an 'id'")
            return
        await super().handle_message(cast(Any, message))  # checked above, as far as needed

    async def cleanup(self) -> None:
        await self._end_session()
        await super().cleanup()


def _shared_next(view: Any, message: Any) -> str | None:
    if message.get("type") != "next":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or "data" not in payload or "errors" in payload:
        return None
    data = payload["data"]
    entry = JSON_CACHE.get(id(data))
    if entry is None or entry[0] is not data:
        return None
    encoded = entry[1]
    if encoded is None:
        encoded = view.encode_json(data)
        if not isinstance(encoded, str):
            return None
        JSON_CACHE[id(data)] = (data, encoded)
    rest = ""
    if payload.keys() - {"data"}:
        # Extensions of this subscriber's own (a subscription's rate-limit figures
        # come with its first message only, which is not a shared result).
        others = {k: v for k, v in payload.items() if k != "data"}
        extra = view.encode_json(others)
        if not isinstance(extra, str) or not extra.startswith("{"):
            return None
        rest = "," + extra[1:-1]
    head = '{"id":' + json.dumps(message["id"]) + ',"type":"next","payload":{"data":'
    return head + encoded + rest + "}}"


def _valid_payload(message: dict[str, Any], *, by_hash: bool = False) -> bool:
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return False
    query = payload.get("query")
    hashed = by_hash and query is None and isinstance(payload.get("extensions"), dict)
    return (
        isinstance(message.get("id"), str)
        and (isinstance(query, str) or hashed)
        and isinstance(payload.get("variables") or {}, dict)
        and isinstance(payload.get("operationName") or "", str)
    )
