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
    cached = {q for (_, q) in validation._CACHE.keys()}
    assert {good, bad} <= cached
