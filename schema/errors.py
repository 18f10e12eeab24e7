"""The error boundary for top-level errors: coded errors pass through; anything
else is masked (INTERNAL_SERVER_ERROR with the request id) and logged in full."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from core.errors import CodedError

log = logging.getLogger("loangraph.errors")

# Errors graphql-core raises for bad documents or variables carry no original
# error and are the client's to fix.
CLIENT_CODES = {"UNAUTHENTICATED", "FORBIDDEN", "BAD_USER_INPUT"}


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        return True  # syntax/validation/coercion errors from graphql-core
    if isinstance(original, CodedError):
        return True
    if (
        not error.path
        and error.nodes
        and isinstance(original, ValueError | TypeError | ArithmeticError)
    ):
        # Raised while validating the document against one of its nodes (a
        # literal a scalar cannot represent, e.g. an Int of 5,000 digits):
        # nothing ran; the client's. (Errors of running code have no nodes here.)
        return True
    # graphql-core's own errors about the request (a missing or ill-typed
    # variable, an Int out of range) wrapped in a field error: the client's.
    return isinstance(original, GraphQLError)


class ErrorBoundary(SchemaExtension):
    """Applied to every result a client receives: the one result of an HTTP
    request at the end of the operation, and each message of a subscription (or
    of an operation over a socket) before it is sent."""

    def on_operation(self) -> Iterator[None]:
        self._streamed = False
        yield
        if not self._streamed:
            self._process(self.execution_context.result)

    def on_stream_result(self, result: object) -> Iterator[None]:
        self._streamed = True
        self._process(result)
        yield None

    def _process(self, result: Any) -> None:
        if not result or not getattr(result, "errors", None):
            return
        ctx = self.execution_context.context
        request_id = getattr(ctx, "request_id", None)
        processed = []
        for error in result.errors:
            if _is_expected(error):
                ext = dict(error.extensions or {})
                if (
                    isinstance(error.original_error, GraphQLError)
                    and error.original_error.extensions
                ):
                    ext = {**error.original_error.extensions, **ext}
                if "code" not in ext:
                    # Document errors have no path; errors about a request's
                    # values (variables, arguments) surface on a field.
                    ext["code"] = (
                        "GRAPHQL_VALIDATION_FAILED"
                        if error.original_error is None and not error.path
                        else "BAD_USER_INPUT"
                    )
                message = error.message
                if len(message) > 500:  # e.g. a huge literal quoted back
                    message = message[:497] + "..."
                processed.append(
                    GraphQLError(
                        message,
                        nodes=error.nodes,
                        source=error.source,
                        positions=error.positions,
                        path=error.path,
                        original_error=error.original_error,
                        extensions=ext,
                    )
                )
                continue
            log.error(
                "internal error request_id=%s path=%s",
                request_id,
                error.path,
                exc_info=(
                    type(error.original_error),
                    error.original_error,
                    error.original_error.__traceback__,
                ),
            )
            from core.errors import ServiceUnavailable  # noqa: F401  (mapped below)

            code, message = _classify(error.original_error)
            processed.append(
                GraphQLError(
                    f"{message} (request id {request_id})",
                    nodes=error.nodes,
                    path=error.path,
                    extensions={"code": code, "requestId": request_id},
                )
            )
        result.errors = processed


def _classify(exc: BaseException | None) -> tuple[str, str]:
    """Database outages are SERVICE_UNAVAILABLE (retry later), the rest internal."""
    from botocore.exceptions import BotoCoreError, EndpointConnectionError
    from pynamodb.exceptions import PynamoDBConnectionError, PynamoDBException

    from core.retry import THROTTLE_CODES, error_code, is_transient

    if exc is not None and is_transient(exc):
        code = error_code(exc) or ""
        if code in THROTTLE_CODES:
            return "SERVICE_UNAVAILABLE", "The database is throttling; retry shortly"
        return "SERVICE_UNAVAILABLE", "The database is unavailable; retry shortly"
    seen = exc
    while seen is not None:
        # PynamoDB's GetError, PutError... are PynamoDBConnectionErrors whatever
        # their cause: follow the cause first, so a request DynamoDB refused
        # (e.g. a ValidationException) is not reported as an outage.
        if isinstance(seen, PynamoDBException) and getattr(seen, "cause", None) is not None:
            seen = seen.cause
            continue
        if isinstance(seen, EndpointConnectionError | PynamoDBConnectionError):
            return "SERVICE_UNAVAILABLE", "The database is unavailable; retry shortly"
        if isinstance(seen, BotoCoreError) and "connect" in str(seen).lower():
            return "SERVICE_UNAVAILABLE", "The database is unavailable; retry shortly"
        seen = seen.__cause__
    return "INTERNAL_SERVER_ERROR", "Internal server error"
