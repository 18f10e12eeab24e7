"""Automatic persisted queries (register, hit, shared across replicas, GET) and
the allow-list mode (only registered documents run; admins register)."""

from __future__ import annotations

import json
import uuid

import pytest

from guards.apq import PersistedQueryStore, sha256_hex
from tests.conftest import new_user
from tests.guards.conftest import app_client, post


def unique_document() -> str:
    """A document no other test registered (the nonce is an alias)."""
    return f"{{ n{uuid.uuid4().hex[:12]}: __typename rateLimit {{ limit }} }}"


def apq(document: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(document)}}


def data_key(document: str) -> str:
    return document.split(":")[0].strip("{ ")


@pytest.fixture
def user_token(token):
    v = new_user("apq")
    return token(v.user_id, v.email)


async def test_register_then_hit_on_any_replica(settings, user_token):
    doc = unique_document()
    async with app_client(settings) as a, app_client(settings) as b:
        # given an unknown hash, the client hears PersistedQueryNotFound
        r = (await post(a, extensions=apq(doc), token=user_token)).json()
        assert r["errors"][0]["message"] == "PersistedQueryNotFound"
        assert r["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        # when it sends hash and document, the document runs and is stored
        r = (await post(a, doc, extensions=apq(doc), token=user_token)).json()
        assert r["data"][data_key(doc)] == "Query"
        # then the hash alone runs, here and on another replica (via DynamoDB)
        r = (await post(a, extensions=apq(doc), token=user_token)).json()
        assert r["data"][data_key(doc)] == "Query" and r["data"]["rateLimit"]["limit"] == 5000
        r = (await post(b, extensions=apq(doc), token=user_token)).json()
        assert r["data"][data_key(doc)] == "Query"
        # and over GET, as Apollo Client sends it
        g = await b.get(
            "/graphql",
            params={"extensions": json.dumps(apq(doc))},
            headers={"Authorization": f"Bearer {user_token}", "Accept": "application/json"},
        )
        assert g.status_code == 200 and g.json()["data"][data_key(doc)] == "Query"


async def test_hash_must_match_the_document(settings, user_token):
    doc = unique_document()
    async with app_client(settings) as c:
        r = (await post(c, doc, extensions=apq(doc + " "), token=user_token)).json()
    assert r["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "does not match" in r["errors"][0]["message"]


async def test_allowlist_mode(settings, token):
    user = new_user("allow")
    admin = new_user("admin", admin=True)
    t_user, t_admin = token(user.user_id, user.email), token(admin.user_id, admin.email, admin=True)
    doc, other, scripted = unique_document(), unique_document(), unique_document()
    async with app_client(settings, persisted_queries="allowlist") as c:
        # an unregistered document does not run, by text, by hash, or by hash and text
        for kwargs in (
            {"query": doc},
            {"extensions": apq(doc)},
            {"query": doc, "extensions": apq(doc)},
        ):
            r = (await post(c, token=t_user, **kwargs)).json()
            assert r["data"] is None
            assert r["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED", (kwargs, r)
        # an admin's hash-and-text request registers it
        r = (await post(c, doc, extensions=apq(doc), token=t_admin)).json()
        assert r["data"][data_key(doc)] == "Query"
        # then users may run it by hash or in full
        r = (await post(c, extensions=apq(doc), token=t_user)).json()
        assert r["data"][data_key(doc)] == "Query"
        r = (await post(c, doc, token=t_user)).json()
        assert r["data"][data_key(doc)] == "Query"
        # an admin's plain query runs without registering anything
        r = (await post(c, other, token=t_admin)).json()
        assert r["data"][data_key(other)] == "Query"
        r = (await post(c, other, token=t_user)).json()
        assert r["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
        # a deploy script registers documents with the store directly
        await PersistedQueryStore().register(scripted)
        r = (await post(c, extensions=apq(scripted), token=t_user)).json()
        assert r["data"][data_key(scripted)] == "Query"


async def test_apq_can_be_turned_off(settings, user_token):
    doc = unique_document()
    async with app_client(settings, persisted_queries="off") as c:
        r = await post(c, extensions=apq(doc), token=user_token)
    # no document: the plain GraphQL-over-HTTP refusal
    assert r.status_code == 400
