"""Persisted documents over WebSocket (graphql-transport-ws): a `subscribe`
whose payload carries `extensions.persistedQuery.sha256Hash` and no `query`
runs the stored document, so a trusted-documents client sends no document text
on the socket either (docs/frontend.md). Unknown hashes answer an `error`
message with the same codes as HTTP (PERSISTED_QUERY_NOT_FOUND, or
PERSISTED_QUERY_REQUIRED in allow-list mode)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from guards import apq
from guards.errors import PersistedQueryNotFound, PersistedQueryRequired
from guards.ratelimit import RateLimitExceeded
from ops.metrics import TrackedTransportWSHandler


class PersistedTransportWSHandler(TrackedTransportWSHandler):
    async def handle_subscribe(self, message: Any) -> None:
        payload = message.get("payload")
        guards = getattr(self.view, "app_state", {}).get("guards")
        if (
            self.connection_acknowledged
            and guards is not None
            and guards.mode != "off"
            and isinstance(payload, dict)
            and not payload.get("query")
            and isinstance(payload.get("extensions"), dict)
        ):
            try:
                if apq.has_persisted_query(payload["extensions"]):
                    # Charged like a lookup over HTTP (one point, before the store).
                    await guards.limiter.spend(self.context, apq.PERSISTED_QUERY_COST)
                query = await self._stored(guards, payload["extensions"])
            except RateLimitExceeded as exc:
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [exc.error.formatted]}
                )
                return
            except GraphQLError as exc:
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [exc.formatted]}
                )
                return
            if query is not None:
                message = {**message, "payload": {**payload, "query": query}}
        await super().handle_subscribe(message)

    @staticmethod
    async def _stored(guards: Any, extensions: dict[str, Any]) -> str | None:
        ext = apq._persisted_ext(extensions)
        if ext is None:
            return None
        sha = ext["sha256Hash"].lower()
        query = await guards.store.get(sha)
        if query is None:
            if guards.mode == "allowlist":
                raise PersistedQueryRequired(
                    "This hash is not on the allow-list of this server", sha256Hash=sha
                )
            raise PersistedQueryNotFound("PersistedQueryNotFound", sha256Hash=sha)
        return query
