"""Query limits: cost and nodes, depth, aliases, tokens, list inputs, batch size
and request body size. Each refusal is a coded error with the figures.

The limits of an app live in `GuardLimits` (defaults below); `guards.install`
puts one in the app state, so a test or a deployment may pass its own."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, ListValueNode, ObjectValueNode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import BadUserInput
from guards.cost import MAX_INTROSPECTION_LIST_NESTING, Analysis
from guards.documents import expanded_size
from guards.errors import (
    ListInputTooLong,
    PayloadTooLarge,
    QueryTooComplex,
    QueryTooDeep,
    TooManyAliases,
)


@dataclass(frozen=True)
class GuardLimits:
    max_cost: int = 1_000
    max_nodes: int = 50_000
    max_depth: int = 10
    # Selections (fields, spreads, inline fragments) once fragments are expanded (guards/documents.expanded_size):
    # refused before any other analysis, so no document expands exponentially.
    max_expanded_fields: int = 5_000
    # Nesting of JSON request bodies, variables and WebSocket messages.
    max_json_depth: int = 32
    max_aliases: int = 30
    max_tokens: int = 10_000
    max_body_bytes: int = 1024 * 1024
    max_list_items: int = 100
    max_batch_operations: int = 10
    # Subscriptions one user may hold open at once, per server process.
    max_subscriptions_per_user: int = 25


DEFAULT_LIMITS = GuardLimits()


def check_expanded_size(
    document: DocumentNode, operation_name: str | None, limits: GuardLimits
) -> None:
    """Refuse a document whose fragments expand past `max_expanded_fields`."""
    cap = limits.max_expanded_fields
    n = expanded_size(document, operation_name, cap)
    if n > cap:
        raise QueryTooComplex(
            f"The document expands to more than {cap} selections once its "
            "fragments are inlined: spread fewer or smaller fragments",
            maxExpandedFields=cap,
        )


def check_analysis(a: Analysis, limits: GuardLimits) -> None:
    """Raise the first limit the analysed operation breaks."""
    if a.depth > limits.max_depth:
        raise QueryTooDeep(
            f"Query depth {a.depth} exceeds the maximum of {limits.max_depth}",
            depth=a.depth,
            maxDepth=limits.max_depth,
        )
    if a.aliases > limits.max_aliases:
        raise TooManyAliases(
            f"{a.aliases} aliases exceed the maximum of {limits.max_aliases}",
            aliases=a.aliases,
            maxAliases=limits.max_aliases,
        )
    if a.introspection_nesting > MAX_INTROSPECTION_LIST_NESTING:
        raise QueryTooComplex(
            f"Introspection nests {a.introspection_nesting} list fields; at most "
            f"{MAX_INTROSPECTION_LIST_NESTING} are allowed",
            nesting=a.introspection_nesting,
            maxNesting=MAX_INTROSPECTION_LIST_NESTING,
        )
    if a.cost > limits.max_cost or a.nodes > limits.max_nodes:
        raise QueryTooComplex(
            f"Query cost {a.cost} (maximum {limits.max_cost}) and node count {a.nodes} "
            f"(maximum {limits.max_nodes}): ask for smaller pages (first/last) or fewer "
            "nested connections",
            cost=a.cost,
            maxCost=limits.max_cost,
            nodes=a.nodes,
            maxNodes=limits.max_nodes,
        )


def check_list_inputs(
    document: DocumentNode, variables: Mapping[str, Any] | None, limits: GuardLimits
) -> None:
    """No list in the arguments or the variables may hold more than `max_list_items`."""
    check_list_variables(variables, limits)
    check_list_literals(document, limits)


def check_list_variables(variables: Mapping[str, Any] | None, limits: GuardLimits) -> None:
    """The variables' part of `check_list_inputs` (nesting, then list lengths)."""
    cap = limits.max_list_items
    depth = json_depth(variables or {}, limits.max_json_depth) - 1
    if depth > limits.max_json_depth:
        raise BadUserInput(
            f"The variables are nested too deeply (at most {limits.max_json_depth} levels)",
            maxDepth=limits.max_json_depth,
        )
    for name, value in (variables or {}).items():
        n = _longest_list(value)
        if n > cap:
            raise ListInputTooLong(
                f"Variable `${name}` holds a list of {n} items; at most {cap} are allowed",
                variable=name,
                items=n,
                maxItems=cap,
            )


def check_list_literals(document: DocumentNode, limits: GuardLimits) -> None:
    """The document's part of `check_list_inputs`: list literals in arguments."""
    cap = limits.max_list_items
    stack: list[Any] = [d for d in document.definitions]
    while stack:
        node = stack.pop()
        for arg in getattr(node, "arguments", None) or ():
            n = _longest_literal(arg.value)
            if n > cap:
                raise ListInputTooLong(
                    f"Argument `{arg.name.value}` holds a list of {n} items; "
                    f"at most {cap} are allowed",
                    argument=arg.name.value,
                    items=n,
                    maxItems=cap,
                )
        sel = getattr(node, "selection_set", None)
        if sel is not None:
            stack.extend(sel.selections)


def _longest_list(value: Any) -> int:
    longest = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            longest = max(longest, len(item))
            stack.extend(v for v in item if isinstance(v, list | dict))
        elif isinstance(item, dict):
            stack.extend(v for v in item.values() if isinstance(v, list | dict))
    return longest


def _longest_literal(node: Any) -> int:
    longest = 0
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ListValueNode):
            longest = max(longest, len(item.values))
            stack.extend(item.values)
        elif isinstance(item, ObjectValueNode):
            stack.extend(f.value for f in item.fields)
    return longest


class JSONInputError(ValueError):
    """A JSON text a client sent that is not acceptable; the message says why."""


def decode_json(raw: bytes | str, what: str, max_depth: int = DEFAULT_LIMITS.max_json_depth) -> Any:
    """Strict JSON for everything a client sends (HTTP bodies, GET parameters,
    WebSocket messages): UTF-8 only, parsed by the C scanner with its recursion
    failure caught, then nested at most `max_depth` deep. Raises JSONInputError
    with a message naming what is wrong; never RecursionError or UnicodeError."""
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONInputError(
                f"{what} is not valid UTF-8 (invalid byte at offset {exc.start})"
            ) from None
    else:
        text = raw
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONInputError(f"{what} is nested too deeply (at most {max_depth} levels)") from None
    except ValueError as exc:
        reason = str(exc)
        if "integer string conversion" in reason:
            reason = "a number has too many digits"
        raise JSONInputError(f"{what} is not valid JSON: {reason}") from None
    if json_depth(value, max_depth) > max_depth:
        raise JSONInputError(f"{what} is nested too deeply (at most {max_depth} levels)")
    return value


def json_depth(value: Any, stop_after: int = 1_000) -> int:
    """Nesting depth of a decoded JSON value (iterative: no recursion limit);
    stops counting once past `stop_after`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > deepest:
            deepest = depth
            if deepest > stop_after:
                return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def refusal_body(error: Exception) -> bytes:
    """A GraphQL response holding one coded error (for refusals outside execution)."""
    ext = dict(getattr(error, "extensions", None) or {})
    return json.dumps(
        {
            "data": None,
            "errors": [{"message": getattr(error, "message", str(error)), "extensions": ext}],
        }
    ).encode()


class BodySizeLimitMiddleware:
    """Refuses HTTP request bodies over `max_body_bytes` with 413 PAYLOAD_TOO_LARGE,
    before the GraphQL view reads (and parses) them. Checks Content-Length up front
    and counts the bytes of chunked bodies as they arrive."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_LIMITS.max_body_bytes) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await self._refuse(send, declared)
                    return
                break
        # Read the body up to the limit; replay it to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._refuse(send, size)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replay: list[Message] = [
            {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        ]
        await self.app(scope, _replay(replay, receive), send)

    async def _refuse(self, send: Send, size: int) -> None:
        error = PayloadTooLarge(
            f"The request body exceeds {self.max_body_bytes} bytes",
            maxBytes=self.max_body_bytes,
        )
        body = refusal_body(error)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
