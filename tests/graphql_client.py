"""A tiny helper to post GraphQL documents to the app in tests."""

from __future__ import annotations

from typing import Any

import httpx


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/graphql",
) -> dict[str, Any]:
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    r = await client.post(path, json={"query": query, "variables": variables or {}}, headers=h)
    assert r.status_code in (200, 400, 429), r.text
    return r.json()
