"""`Idempotency-Key` on mutation requests: the first response is stored for 24 h
and replayed to the same user sending the same body, without writing again.
The same key with another body is refused (409, code IDEMPOTENCY_KEY_REUSED);
one still running answers 409 IDEMPOTENCY_IN_PROGRESS. Keys: 1..255 chars."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from graphql import GraphQLError, OperationType, parse
from graphql.language import OperationDefinitionNode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import DomainError
from core.settings import Settings
from guards.limits import DEFAULT_LIMITS, JSONInputError, decode_json
from web.auth import from_scope

HEADER = b"idempotency-key"
PATHS = ("/graphql", "/v1/graphql")


def _is_mutation(body: dict[str, Any]) -> bool:
    query = body.get("query")
    if not isinstance(query, str):
        return False
    try:
        doc = parse(query, max_tokens=DEFAULT_LIMITS.max_tokens)
    except (GraphQLError, RecursionError):
        return False
    name = body.get("operationName")
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    op = next(
        (o for o in ops if name and o.name and o.name.value == name),
        ops[0] if len(ops) == 1 else None,
    )
    return op is not None and op.operation == OperationType.MUTATION


async def _send_json(
    send: Send, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        # Read the body once, hand the same bytes downstream.
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        sent = False

        async def replay_receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        # The token was decoded once, off the event loop when that may block
        # (web.auth.AuthenticationMiddleware runs before this middleware).
        auth = from_scope(scope)
        viewer = auth.viewer if auth is not None else None
        try:
            body = decode_json(raw, "The request body")
        except JSONInputError:
            body = None
        if not isinstance(body, dict) or viewer is None or not _is_mutation(body):
            # Not a mutation we can key (or the request fails anyway): no replay.
            await self.app(scope, replay_receive, send)
            return
        from services import idempotency

        digest = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        key_text = key.decode("latin-1")
        try:
            claim = await idempotency.begin(viewer.user_id, key_text, digest)
        except DomainError as exc:
            code = {
                idempotency.IdempotencyKeyReused: "IDEMPOTENCY_KEY_REUSED",
                idempotency.IdempotencyInProgress: "IDEMPOTENCY_IN_PROGRESS",
            }.get(type(exc), "BAD_USER_INPUT")
            status = 400 if code == "BAD_USER_INPUT" else 409
            await _send_json(
                send, status, {"errors": [{"message": exc.message, "extensions": {"code": code}}]}
            )
            return
        if claim.replay is not None:
            stored = claim.replay
            await send(
                {
                    "type": "http.response.start",
                    "status": stored["status"],
                    "headers": [
                        (b"content-type", stored["content_type"].encode()),
                        (b"content-length", str(len(stored["body"].encode())).encode()),
                        (b"idempotent-replayed", b"true"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": stored["body"].encode()})
            return
        captured: dict[str, Any] = {"status": 500, "content_type": "application/json", "body": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        captured["content_type"] = value.decode("latin-1")
                    if name.lower() == b"content-encoding":
                        captured["encoded"] = True
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        # Store the plain JSON: ask downstream not to compress this response.
        inner = dict(scope)
        inner["headers"] = [(n, v) for n, v in scope["headers"] if n != b"accept-encoding"]
        try:
            await self.app(inner, replay_receive, capture)
        except BaseException:
            await idempotency.abandon(viewer.user_id, key_text)
            raise
        if captured["status"] >= 500 or captured.get("encoded"):
            await idempotency.abandon(viewer.user_id, key_text)
            return
        text = b"".join(captured["body"]).decode("utf-8", errors="replace")
        await idempotency.finish(
            viewer.user_id,
            key_text,
            {"status": captured["status"], "content_type": captured["content_type"], "body": text},
            digest,
        )
