"""HTTP parts of the guard rails, mixed into the GraphQL view (server.py):
persisted-query resolution (GET and POST, batches too), the batch-size limit,
and refusals outside execution as GraphQL-shaped JSON with their status."""

from __future__ import annotations

import dataclasses
from typing import Any

from cross_web import HTTPException
from starlette.responses import Response
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from core.errors import CodedError
from guards import apq
from guards.errors import TooManyOperations
from guards.limits import refusal_body
from guards.ratelimit import RateLimitExceeded


class HTTPRefusal(Exception):
    def __init__(self, status: int, error: CodedError) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error


class GuardedViewMixin:
    """Put before strawberry's `GraphQL` in the bases of the view. Its `super()`
    calls reach that view, which mypy cannot see from here (`# type: ignore[misc]`)."""

    def _guards(self) -> Any:
        return getattr(self, "app_state", {}).get("guards")

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            return await super().run(request, context, root_value)  # type: ignore[misc]  # a mixin
        except HTTPRefusal as exc:
            return Response(
                refusal_body(exc.error), status_code=exc.status, media_type="application/json"
            )

    async def parse_http_body(self, request_adapter: Any) -> Any:
        guards = self._guards()
        try:
            data = await super().parse_http_body(request_adapter)  # type: ignore[misc]  # a mixin
        except HTTPException as exc:
            if exc.reason == "Too many operations" and guards is not None:
                raise self._too_many(guards) from None
            raise
        if (
            guards is not None
            and isinstance(data, list)
            and len(data) > guards.limits.max_batch_operations
        ):
            raise self._too_many(guards, len(data))
        return data

    @staticmethod
    def _too_many(guards: Any, n: int | None = None) -> HTTPRefusal:
        cap = guards.limits.max_batch_operations
        return HTTPRefusal(
            400,
            TooManyOperations(
                f"A batch may hold at most {cap} operations",
                maxOperations=cap,
                **({"operations": n} if n is not None else {}),
            ),
        )

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> Any:
        guards = self._guards()
        resolved = None
        if guards is not None and guards.mode != "off" and request_data.extensions:
            viewer = getattr(context, "viewer", None)
            try:
                if apq.has_persisted_query(request_data.extensions):
                    # Lookups and registrations are not free: one point each,
                    # charged before the database is asked.
                    await guards.limiter.spend(context, apq.PERSISTED_QUERY_COST)
                resolved = await apq.resolve(
                    guards.store,
                    guards.mode,
                    request_data.query,
                    request_data.extensions,
                    is_admin=viewer is not None and viewer.is_admin,
                )
            except RateLimitExceeded as exc:
                _rate_limited(context, exc)
                return ExecutionResult(data=None, errors=[exc.error])
            except CodedError as exc:
                return ExecutionResult(data=None, errors=[exc])
            if resolved.trusted:
                extensions = {**request_data.extensions, apq.TRUSTED_KEY: apq.TRUSTED}
                request_data = dataclasses.replace(
                    request_data, query=resolved.query, extensions=extensions
                )
        result = await super().execute_single(  # type: ignore[misc]  # a mixin
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )
        if resolved is not None and resolved.register is not None and resolved.query:
            viewer = getattr(context, "viewer", None)
            admitted = getattr(context, "admitted_documents", ())
            if viewer is not None and resolved.query in admitted:
                await guards.store.register(resolved.query, resolved.register)
        return result


def _rate_limited(context: Any, exc: RateLimitExceeded) -> None:
    response = getattr(context, "response", None)
    if response is None:
        return
    response.headers.update(exc.state.headers())
    response.headers["Retry-After"] = str(exc.retry_after)
    response.status_code = 429
