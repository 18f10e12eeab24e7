"""Typed errors. Domain errors become payload `UserError`s at one boundary;
`CodedError`s become top-level GraphQL errors with `extensions.code`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import GraphQLError


class CodedError(GraphQLError):
    """A top-level GraphQL error a client may act on (never masked)."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class Unauthenticated(CodedError):
    code = "UNAUTHENTICATED"


class Forbidden(CodedError):
    code = "FORBIDDEN"


class BadUserInput(CodedError):
    code = "BAD_USER_INPUT"


class NotFoundError(CodedError):
    code = "NOT_FOUND"


class ServiceUnavailable(CodedError):
    code = "SERVICE_UNAVAILABLE"


class DomainError(Exception):
    """An expected business or validation failure: a payload `UserError`.

    `code` is a `UserErrorCode` name; `field` the path into the input."""

    def __init__(self, code: str, message: str, field: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = list(field) if field is not None else None


class DomainErrors(Exception):
    """Several validation failures reported together."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = list(errors)
