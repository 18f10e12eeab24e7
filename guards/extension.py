"""`QueryGuards`: the Strawberry extension that admits or refuses each operation
(HTTP and WebSocket alike) before it runs, and reports `extensions.cost`.

Per operation, in order:
  parse ........ documents are parsed once per process (an LRU by text), with
                 at most `max_tokens` tokens (TOO_MANY_TOKENS)
  before validation (cheap checks first, so hostile documents never reach
                 graphql-core's validation):
                 allow-list (PERSISTED_QUERY_REQUIRED), list inputs
                 (BAD_USER_INPUT), depth (QUERY_TOO_DEEP), aliases
                 (TOO_MANY_ALIASES), cost and nodes (QUERY_TOO_COMPLEX),
                 open subscriptions (TOO_MANY_SUBSCRIPTIONS), then the points
                 (RATE_LIMITED, HTTP 429, Retry-After)
  execution .... mutations and subscriptions get fresh loaders (no cache)
  results ...... `extensions.cost` and the X-RateLimit-* headers
A refused operation never reaches a resolver, so it makes no DynamoDB request
(the DynamoDB rate-limit backend writes only for admitted operations)."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from cachetools import LRUCache
from graphql import DocumentNode
from strawberry.extensions import SchemaExtension

from core.errors import CodedError
from core.times import serialize_datetime
from guards import GuardedContext, Guards, apq
from guards.cost import Analysis, actual_cost, analyze
from guards.errors import TooManyTokens
from guards.limits import (
    check_analysis,
    check_expanded_size,
    check_list_literals,
    check_list_variables,
)
from guards.ratelimit import WINDOW_SECONDS, RateLimitExceeded, RateLimitState

log = logging.getLogger("loangraph.guards")
_PARSED: LRUCache[str, DocumentNode] = LRUCache(maxsize=1024)
_PARSED_LOCK = threading.Lock()


def _unexpected(ctx: Any, exc: Exception) -> CodedError:
    """An exception of the guard rails themselves: logged in full, and answered like
    the ErrorBoundary answers one in a resolver (an exception raised in this hook
    would reach the client uncoded, with its message)."""
    from core.errors import ServiceUnavailable
    from core.retry import is_transient

    request_id = getattr(ctx, "request_id", None)
    if is_transient(exc):
        log.warning("guard rails: database unavailable request_id=%s: %r", request_id, exc)
        return ServiceUnavailable("The database is unavailable; retry shortly")
    log.error("guard rails failed request_id=%s", request_id, exc_info=exc)
    return CodedError(f"Internal server error (request id {request_id})", requestId=request_id)


class QueryGuards(SchemaExtension):
    def __init__(self, *, execution_context: Any = None) -> None:
        self.analysis: Analysis | None = None
        self.state: RateLimitState | None = None
        self.subscription_caller: str | None = None
        self.guards: Guards | None = None
        self.reported = False  # a subscription's charge, on its first message

    # ------------------------------------------------------------ hooks
    async def on_operation(self) -> AsyncIterator[None]:
        ec = self.execution_context
        # None when the schema runs without the app's context (no guard rails).
        self.guards = getattr(ec.context, "guards", None)
        if self.guards is not None:
            ec.parse_options["max_tokens"] = self.guards.limits.max_tokens
        try:
            yield
        finally:
            if self.subscription_caller is not None and self.guards is not None:
                self.guards.limiter.close_subscription(self.subscription_caller)
                self.subscription_caller = None

    def on_parse(self) -> Iterator[None]:
        ec = self.execution_context
        query = ec.query
        cached = False
        if ec.graphql_document is None and query:
            with _PARSED_LOCK:
                doc = _PARSED.get(query)
            if doc is not None:
                ec.graphql_document = doc
                cached = True
        yield
        if cached or not query:
            return
        if ec.graphql_document is not None:
            with _PARSED_LOCK:
                _PARSED[query] = ec.graphql_document
        elif ec.pre_execution_errors and self.guards is not None:
            for error in ec.pre_execution_errors:
                if "tokens" in error.message and "Parsing aborted" in error.message:
                    limit = self.guards.limits.max_tokens
                    # The same error object is in the result: recode it in place.
                    refusal = TooManyTokens(
                        f"The document has more than {limit} tokens", maxTokens=limit
                    )
                    error.message = refusal.message
                    error.extensions = refusal.extensions

    async def on_validate(self) -> AsyncIterator[None]:
        ec = self.execution_context
        if (
            self.guards is not None
            and ec.graphql_document is not None
            and not ec.pre_execution_errors
        ):
            try:
                await self._admit(self.guards, ec.graphql_document)
            except RateLimitExceeded as exc:
                self._set_headers(exc.state, status=429, retry_after=exc.retry_after)
                ec.pre_execution_errors = [exc.error]
            except CodedError as exc:
                ec.pre_execution_errors = [exc]
            except Exception as exc:  # noqa: BLE001 - never an uncoded error to the client
                ec.pre_execution_errors = [_unexpected(ec.context, exc)]
        yield
        # Validation ran inside the yield: a document with no error by now parsed,
        # validated and passed every limit; a persisted query may store it.
        if self.guards is not None and ec.query and not ec.pre_execution_errors:
            ctx: GuardedContext = ec.context
            ctx.admitted_documents.add(ec.query)

    def get_results(self) -> dict[str, Any]:
        a = self.analysis
        if a is None:
            return {}
        if a.operation_type == "subscription":
            # Charged once, when it opens: the first message (the current state,
            # or the refusal) reports it; the updates cost nothing and repeat
            # nothing, so an event's update is the same bytes for every
            # subscriber who selected the same fields (web/sockets.py).
            if self.reported:
                return {}
            self.reported = True
            return self._results(a, None)
        actual = None
        result = self.execution_context.result
        if self.state is not None and result is not None:
            actual = actual_cost(a.plan, getattr(result, "data", None))
        return self._results(a, actual)

    def _results(self, a: Any, actual: Any) -> dict[str, Any]:
        st = self.state
        return {
            "cost": {
                "requestedQueryCost": a.cost,
                "actualQueryCost": actual,
                "nodes": a.nodes,
                "throttleStatus": None
                if st is None
                else {
                    "maximumAvailable": st.limit,
                    "currentlyAvailable": st.remaining,
                    "used": st.used,
                    "resetAt": serialize_datetime(st.reset_at),
                    "windowSeconds": WINDOW_SECONDS,
                },
            }
        }

    # ------------------------------------------------------------ admission
    async def _admit(self, guards: Guards, document: DocumentNode) -> None:
        ec = self.execution_context
        ctx: GuardedContext = ec.context
        limits = guards.limits
        schema = ec.schema._schema
        # The document-only work is done once per document (guards.analyses):
        # `read` is not None when this document passed its own checks before.
        cache = guards.analyses
        key = cache.key(schema, ec.query, ec.operation_name, limits) if ec.query else None
        read = cache.checked(key) if key is not None else None
        if read is None:
            # First, before any lookup or analysis: the expanded size of the
            # document (linear in its text), which bounds the work of everything after it.
            check_expanded_size(document, ec.operation_name, limits)
        if guards.mode == "allowlist":
            trusted = (ec.operation_extensions or {}).get(apq.TRUSTED_KEY) is apq.TRUSTED
            viewer = getattr(ctx, "viewer", None)
            if not trusted and not (viewer is not None and viewer.is_admin):
                await apq.check_allowed(guards.store, ec.query)
        check_list_variables(ec.variables, limits)
        a = None
        if read is None:
            check_list_literals(document, limits)
        elif key is not None:
            a = cache.analysis(key, read, ec.variables)
        if a is None:
            a = analyze(
                schema, document, ec.operation_name, ec.variables, max_depth=limits.max_depth
            )
            if key is not None:
                cache.store(key, a, ec.variables)
        self.analysis = a
        check_analysis(a, limits)
        if a.operation_type != "query":
            ctx.read_fresh()
        if a.operation_type == "subscription":
            self.subscription_caller = guards.limiter.open_subscription(
                ctx, limits.max_subscriptions_per_user
            )
        self.state = await guards.limiter.spend(ctx, max(a.cost, 1))
        ctx.rate_limit = self.state
        self._set_headers(self.state)

    def _set_headers(
        self, state: RateLimitState, *, status: int | None = None, retry_after: int | None = None
    ) -> None:
        response = getattr(self.execution_context.context, "response", None)
        if response is None:
            return
        response.headers.update(state.headers())
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        if status is not None:
            response.status_code = status
