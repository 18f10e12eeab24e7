"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): media
type negotiation and status codes around Strawberry's view.

* `Accept: application/graphql-response+json` (preferred, or the only one
  acceptable): that content type; a *request error* (the document does not
  parse or validate, variables do not coerce: nothing executed) is status 400
  and the body has no `data` entry.
* `Accept: application/json`, `*/*` or no Accept header: `application/json`,
  status 200 for every well-formed request (legacy clients), `data: null` on
  request errors as Strawberry writes it.
* An Accept header that allows neither (and is not a browser asking for
  GraphiQL): 406. A POST body that is not `application/json`: 415. A mutation
  over GET: 405 with `Allow: POST`. Malformed requests: 400.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from strawberry.schema.exceptions import InvalidOperationTypeError

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
_STATE_KEY = "graphql_http"


def _accept(request: Request) -> list[tuple[str, float]]:
    """Media ranges of the Accept header with their q values, in header order."""
    ranges: list[tuple[str, float]] = []
    for part in request.headers.get("accept", "").split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media, q))
    return ranges


def negotiate(request: Request) -> str | None:
    """The response media type, or None when the client accepts neither."""
    ranges = _accept(request)
    if not ranges:
        return JSON
    best: tuple[float, int, str] | None = None
    for index, (media, q) in enumerate(ranges):
        if q <= 0:
            continue
        if media == GRAPHQL_RESPONSE_JSON:
            candidate = GRAPHQL_RESPONSE_JSON
        elif media in (JSON, "application/*", "*/*"):
            candidate = JSON
        else:
            continue
        key = (q, -index, candidate)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def _state(request: Request) -> dict[str, Any]:
    return request.scope.setdefault("state", {}).setdefault(_STATE_KEY, {})


def _wants_ide(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def _streaming(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "multipart/mixed" in accept or "text/event-stream" in accept


def refuse(request: Request) -> Response | None:
    """406/415 before Strawberry sees the request; None to go ahead."""
    if _wants_ide(request):
        return None
    media = negotiate(request)
    if media is None and _streaming(request):
        return None  # multipart/mixed or SSE only: Strawberry's incremental transports
    if media is None:
        return PlainTextResponse(
            f"Not acceptable: this endpoint answers {GRAPHQL_RESPONSE_JSON} or {JSON}",
            status_code=406,
        )
    _state(request)["media_type"] = media
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            return _error(request, 415, f"Unsupported Media Type: send the request body as {JSON}")
    return None


def _error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    media = _state(request).get("media_type") or JSON
    body = {"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]}
    return Response(json.dumps(body), status_code=status, headers=headers, media_type=media)


def error_response(request: Request, exc: HTTPException) -> Response:
    """Strawberry's HTTP-level refusals as GraphQL error bodies; mutations over GET 405."""
    if isinstance(exc.__cause__, InvalidOperationTypeError) and request.method == "GET":
        return _error(request, 405, exc.reason, headers={"Allow": "POST"})
    return _error(request, exc.status_code, exc.reason)


def _is_request_error(result: Any) -> bool:
    errors = getattr(result, "errors", None)
    if not errors:
        return False
    return result.data is None and all(not e.path for e in errors)


def process_result(request: Request, result: Any, data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Drop `data` from request errors when the client speaks graphql-response+json."""
    state = _state(request)
    if state.get("media_type") == GRAPHQL_RESPONSE_JSON and _is_request_error(result):
        state["request_error"] = True
        data = {k: v for k, v in data.items() if k != "data"}
    return data


def finish(request: Request, response: Response) -> Response:
    state = _state(request)
    if state.get("media_type") != GRAPHQL_RESPONSE_JSON:
        return response
    if response.headers.get("content-type", "").startswith(JSON):
        response.headers["content-type"] = GRAPHQL_RESPONSE_JSON + "; charset=utf-8"
        if state.get("request_error") and response.status_code == 200:
            response.status_code = 400
    return response
