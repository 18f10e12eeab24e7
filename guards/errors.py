"""The coded refusals of the guard rails (docs/rate-limits.md lists them all).

Each is a `CodedError`: a top-level GraphQL error whose `extensions.code` a
client can act on, with the figures that explain the refusal."""

from __future__ import annotations

from core.errors import BadUserInput, CodedError


class QueryTooComplex(CodedError):
    code = "QUERY_TOO_COMPLEX"


class QueryTooDeep(CodedError):
    code = "QUERY_TOO_DEEP"


class TooManyAliases(CodedError):
    code = "TOO_MANY_ALIASES"


class TooManyTokens(CodedError):
    code = "TOO_MANY_TOKENS"


class TooManyOperations(CodedError):
    code = "TOO_MANY_OPERATIONS"


class PayloadTooLarge(CodedError):
    code = "PAYLOAD_TOO_LARGE"


class ListInputTooLong(BadUserInput):
    """A list argument or variable longer than the limit (BAD_USER_INPUT)."""


class RateLimited(CodedError):
    code = "RATE_LIMITED"


class TooManySubscriptions(CodedError):
    code = "TOO_MANY_SUBSCRIPTIONS"


class PersistedQueryNotFound(CodedError):
    """Apollo's APQ protocol: the client re-sends the hash with the document."""

    code = "PERSISTED_QUERY_NOT_FOUND"


class PersistedQueryRequired(CodedError):
    """Allow-list mode: only registered documents run."""

    code = "PERSISTED_QUERY_REQUIRED"
