"""Persisted queries are not free storage (issue 10, item 4), against a real
server: only an authenticated caller's admitted document is stored, and every
lookup or registration is charged to the caller's rate limit (by IP when
anonymous)."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest

from tests.ops.conftest import start_server
from tests.subscriptions.client import token_for


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def ext(document: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha(document)}}


async def post(base: str, body: dict, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        return await c.post("/graphql", json=body, headers=headers)


async def stored(base: str, document: str, token: str | None = None) -> bool:
    """Whether the hash alone runs (the document was stored)."""
    r = (await post(base, {"extensions": ext(document)}, token)).json()
    codes = [e["extensions"]["code"] for e in r.get("errors", [])]
    assert codes in ([], ["PERSISTED_QUERY_NOT_FOUND"]), r
    return not codes


def nonce() -> str:
    return "n" + uuid.uuid4().hex[:12]


async def test_anonymous_junk_is_not_stored(server):
    junk = "x" * 300_000
    r = await post(server.url, {"query": junk, "extensions": ext(junk)})
    assert r.status_code in (200, 400)
    assert "errors" in r.json()
    assert not await stored(server.url, junk)


async def test_anonymous_valid_document_runs_but_is_not_stored(server):
    doc = f"{{ {nonce()}: __typename }}"
    r = (await post(server.url, {"query": doc, "extensions": ext(doc)})).json()
    assert "errors" not in r and list(r["data"].values()) == ["Query"]
    assert not await stored(server.url, doc)


@pytest.mark.parametrize(
    "kind",
    ["syntax", "validation", "too-deep"],
)
async def test_an_authenticated_callers_refused_document_is_not_stored(server, kind):
    token = token_for(nonce(), "apq@example.com")
    doc = {
        "syntax": f"{{ {nonce()}: __typename ",
        "validation": f"{{ {nonce()}: noSuchField }}",
        "too-deep": f"{{ {nonce()}: __schema {{ types {{ fields {{ type {{ fields {{ type "
        "{ fields { type { fields { name } } } } } } } } } } } }",
    }[kind]
    r = (await post(server.url, {"query": doc, "extensions": ext(doc)}, token)).json()
    assert "errors" in r, r
    assert not await stored(server.url, doc, token)


async def test_an_authenticated_callers_valid_document_is_stored(server):
    token = token_for(nonce(), "apq@example.com")
    doc = f"{{ {nonce()}: __typename }}"
    r = (await post(server.url, {"query": doc, "extensions": ext(doc)}, token)).json()
    assert "errors" not in r, r
    assert await stored(server.url, doc)  # then anyone may run it by hash


async def test_unknown_hash_lookups_spend_the_anonymous_callers_points(tight_server):
    seen = []
    for _ in range(8):
        doc = f"{{ {nonce()}: __typename }}"
        r = await post(tight_server.url, {"extensions": ext(doc)})
        seen.append((r.status_code, r.json()["errors"][0]["extensions"]["code"]))
    # 5 points an hour: five lookups, then RATE_LIMITED (429) before any database read
    assert seen[:5] == [(200, "PERSISTED_QUERY_NOT_FOUND")] * 5, seen
    assert seen[5:] == [(429, "RATE_LIMITED")] * 3, seen


@pytest.fixture(scope="module")
def tight_server(dynamodb_endpoint, tmp_path_factory):
    s = start_server(
        dynamodb_endpoint, tmp_path_factory.mktemp("apq"), LOANGRAPH_RATE_LIMIT_POINTS="5"
    )
    try:
        yield s
    finally:
        s.stop()
