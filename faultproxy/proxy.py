"""The proxy: an asyncio HTTP/1.1 server (h11 for the protocol) that forwards
every request to the upstream DynamoDB endpoint (httpx, one keep-alive pool)
and applies the first fault rule that fires for the request's operation.

Control endpoints on the same port (never sent by an AWS SDK, which only
POSTs to `/`):

* `GET  /__faultproxy/stats`: requests by operation and faults injected by kind.
* `PUT  /__faultproxy/rules`: `{"rules": [...], "seed": 7}` replaces the rules.
* `POST /__faultproxy/reset`: no rules, counters at zero.

`FaultProxy.start_in_thread()` runs it on its own event loop in a thread (the
test process: its own loop may be blocked by a test's direct DynamoDB call);
`python -m faultproxy` runs it standalone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
import zlib
from typing import Any

import h11
import httpx

from faultproxy.faults import (
    ERRORS,
    Plan,
    Rule,
    error_body,
    partial_records,
    split_batch_get,
    transaction_conflict,
)

log = logging.getLogger("faultproxy")
CONTROL = "/__faultproxy/"
_HOP = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"content-length",
    b"host",
    b"content-encoding",
}


class _Dropped(Exception):
    """Close the client's connection without an answer."""


def _json_response(
    status: int, body: dict[str, Any]
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    data = json.dumps(body, separators=(",", ":")).encode()
    return status, _headers(data), data


def _headers(data: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/x-amz-json-1.0"),
        (b"x-amzn-requestid", uuid.uuid4().hex.upper().encode()),
        (b"x-amz-crc32", str(zlib.crc32(data) & 0xFFFFFFFF).encode()),
        (b"content-length", str(len(data)).encode()),
    ]


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        plan: Plan | None = None,
        upstream_timeout: float = 30.0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.host = host
        self.port = port
        self.plan = plan or Plan()
        self.upstream_timeout = upstream_timeout
        self._server: asyncio.AbstractServer | None = None
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        # ClientRequestTokens of TransactWriteItems DynamoDB applied (insertion order).
        self._applied: dict[str, None] = {}

    # ------------------------------------------------------------ lifecycle
    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FaultProxy:
        self._client = httpx.AsyncClient(
            timeout=self.upstream_timeout,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=64),
        )
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("fault proxy on %s -> %s", self.endpoint, self.upstream)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._conns):
                w.transport.abort()
            await self._server.wait_closed()
            self._server = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def start_in_thread(self) -> FaultProxy:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="faultproxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    # ------------------------------------------------------------ control (in-process)
    def set_rules(self, rules: list[dict[str, Any]], seed: int | None = None) -> None:
        self.plan.set_rules(rules, seed)

    def reset(self) -> None:
        self.plan.reset()

    def injected(self, kind: str | None = None, operation: str | None = None) -> int:
        return self.plan.injected_count(kind, operation)

    # ------------------------------------------------------------ connections
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await self._read_request(conn, reader)
                if request is None:
                    return
                try:
                    status, headers, data = await self._handle(request, body)
                except _Dropped:
                    writer.transport.abort()
                    return
                out = conn.send(h11.Response(status_code=status, headers=headers))
                out += conn.send(h11.Data(data=data))
                out += conn.send(h11.EndOfMessage())
                writer.write(out)
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            return
        finally:
            self._conns.discard(writer)
            writer.close()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request | None, bytes]:
        request: h11.Request | None = None
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and request is None:
                    return None, b""
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return request, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                return None, b""

    # ------------------------------------------------------------ requests
    async def _handle(
        self, request: h11.Request, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        path = request.target.decode()
        if path.startswith(CONTROL):
            return self._control(request.method.decode(), path[len(CONTROL) :], body)
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP]
        target = dict((k.lower(), v) for k, v in request.headers).get(b"x-amz-target", b"")
        operation = target.decode().rsplit(".", 1)[-1] or "Unknown"
        token = _token(operation, body)
        # DynamoDB answers a resend of a transaction it already applied (same
        # ClientRequestToken, within 10 minutes) with success, without evaluating
        # it again: only network faults can hit it, no DynamoDB error.
        applied = token is not None and token in self._applied
        rule = self.plan.choose(operation, network_only=applied)
        if rule is None:
            answer = await self._forward(request, headers, body)
        else:
            answer = await self._inject(rule, operation, request, headers, body)
        return answer

    def _remember(self, token: str | None) -> None:
        if token is not None:
            self._applied[token] = None
            while len(self._applied) > 10_000:
                self._applied.pop(next(iter(self._applied)))

    async def _inject(
        self,
        rule: Rule,
        operation: str,
        request: h11.Request,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        kind = rule.kind
        log.debug("injecting %s on %s", kind, operation)
        if kind in ERRORS:
            status, code, message = ERRORS[kind]
            return _json_response(status, error_body(code, message))
        if kind == "transaction_conflict":
            return _json_response(400, transaction_conflict(_loads(body)))
        if kind == "drop":
            raise _Dropped
        if kind == "latency":
            await asyncio.sleep(rule.delay)
            return await self._forward(request, headers, body)
        if kind in ("slow", "drop_after"):
            answer = await self._forward(request, headers, body)
            if kind == "drop_after":
                raise _Dropped
            await asyncio.sleep(rule.delay)
            return answer
        if kind == "unprocessed_keys":
            forward, unprocessed = split_batch_get(_loads(body), rule.keep)
            if forward:
                status, _, data = await self._forward(request, headers, _dumps(forward))
                if status != 200:
                    return status, _headers(data), data
                answer = _loads(data)
            else:
                tables = _loads(body).get("RequestItems") or {}
                answer = {"Responses": {t: [] for t in tables}, "UnprocessedKeys": {}}
            merged = dict(answer.get("UnprocessedKeys") or {})
            for table, spec in unprocessed.items():
                if table in merged:
                    merged[table] = {**spec, "Keys": merged[table]["Keys"] + spec["Keys"]}
                else:
                    merged[table] = spec
            answer["UnprocessedKeys"] = merged
            return _json_response(200, answer)
        if kind == "partial_records":
            return await self._forward(
                request, headers, _dumps(partial_records(_loads(body), rule.keep))
            )
        raise AssertionError(f"unhandled fault kind {kind}")  # pragma: no cover

    async def _forward(
        self, request: h11.Request, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        assert self._client is not None
        try:
            resp = await self._client.request(
                request.method.decode(),
                self.upstream + request.target.decode(),
                headers=headers,
                content=body,
            )
        except httpx.HTTPError as exc:
            log.warning("upstream %s failed: %s", self.upstream, exc)
            raise _Dropped from exc
        data = resp.content
        if resp.status_code == 200:
            self._remember(_token_of_target(request, body))
        out = [(k, v) for k, v in resp.headers.raw if k.lower() not in _HOP | {b"x-amz-crc32"}]
        out.append((b"x-amz-crc32", str(zlib.crc32(data) & 0xFFFFFFFF).encode()))
        out.append((b"content-length", str(len(data)).encode()))
        return resp.status_code, out, data

    def _control(
        self, method: str, what: str, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        try:
            if method == "GET" and what == "stats":
                return _json_response(200, self.plan.stats())
            if method == "PUT" and what == "rules":
                spec = _loads(body)
                self.plan.set_rules(spec.get("rules", []), spec.get("seed"))
                return _json_response(200, {"rules": len(self.plan.rules)})
            if method == "POST" and what == "reset":
                self.plan.reset()
                return _json_response(200, {"reset": True})
        except (ValueError, KeyError, TypeError) as exc:
            return _json_response(400, {"error": str(exc)})
        return _json_response(404, {"error": f"no control endpoint {method} {what}"})


def _token(operation: str, body: bytes) -> str | None:
    if operation != "TransactWriteItems":
        return None
    try:
        return _loads(body).get("ClientRequestToken")
    except ValueError:
        return None


def _token_of_target(request: h11.Request, body: bytes) -> str | None:
    target = dict((k.lower(), v) for k, v in request.headers).get(b"x-amz-target", b"")
    return _token(target.decode().rsplit(".", 1)[-1], body)


def _loads(data: bytes) -> dict[str, Any]:
    return json.loads(data) if data else {}


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
