"""Validation is cached by document text, and cached results stay correct."""

from __future__ import annotations

from schema import validation
from tests.graphql_client import gql


async def test_valid_and_invalid_documents_are_cached_and_still_right(client, token, settings):
    t = token("val-user", "val-user@example.com")
    good = "{ viewer { userId } }"
    bad = "{ viewer { noSuchField } }"
    for _ in range(2):
        r = await gql(client, good, token=t)
        assert r["data"]["viewer"]["userId"] == "val-user"
        r = await gql(client, bad, token=t)
        assert r["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "noSuchField" in r["errors"][0]["message"]
    cached = {q for cache in list(validation._CACHES.values()) for q in cache.keys()}
    assert {good, bad} <= cached


async def test_verdicts_are_kept_per_schema(client, token):
    """The same text is valid for the current schema and not for the published
    v1 (asOf came later): each schema answers with its own verdict, whichever
    validated the text first."""
    t = token("val-user2", "val-user2@example.com")
    doc = '{ loan(id: "TG9hbjp4", asOf: "2026-01-01T00:00:00Z") { id } }'
    for path, first in (("/graphql", True), ("/v1/graphql", False), ("/graphql", False)):
        r = await gql(client, doc, token=t, path=path)
        codes = [e["extensions"]["code"] for e in r.get("errors") or []]
        if path == "/v1/graphql":
            assert codes == ["GRAPHQL_VALIDATION_FAILED"], r
            assert "asOf" in r["errors"][0]["message"]
        else:
            assert "GRAPHQL_VALIDATION_FAILED" not in codes, (first, r)
