"""Idempotency-Key over HTTP: a replay returns the first response and writes
nothing; the same key with another body is refused."""

from __future__ import annotations

import uuid

from core import db
from tests.conftest import new_user

CREATE = """mutation($i: CreateLoanInput!) { createLoan(input: $i) { loan { loanId title } errors { code } } }"""


def body(title: str) -> dict:
    return {
        "query": CREATE,
        "variables": {
            "i": {"title": title, "amount": "100", "interestRate": "5", "termMonths": 12}
        },
    }


async def test_replay_returns_first_response_without_writing(client, token, settings):
    b = new_user("idem")
    h = {
        "Authorization": f"Bearer {token(b.user_id, b.email)}",
        "Idempotency-Key": f"k-{uuid.uuid4()}",
    }
    first = await client.post("/graphql", json=body("once"), headers=h)
    loan_id = first.json()["data"]["createLoan"]["loan"]["loanId"]
    before = dict(db.TOTALS.calls)
    again = await client.post("/graphql", json=body("once"), headers=h)
    writes = {
        op: n - before.get(op, 0)
        for op, n in db.TOTALS.calls.items()
        if op in ("TransactWriteItems", "PutItem", "UpdateItem")
    }
    assert again.json()["data"]["createLoan"]["loan"]["loanId"] == loan_id
    assert again.headers["idempotent-replayed"] == "true"
    # every business change is a TransactWriteItems: none happened (the one
    # conditional PutItem is the key's claim attempt, refused because it exists)
    assert writes.get("TransactWriteItems", 0) == 0 and writes.get("UpdateItem", 0) == 0, writes
    # one loan only
    r = await client.post(
        "/graphql",
        json={"query": "{ loans(first: 10) { edges { node { title } } } }"},
        headers={"Authorization": h["Authorization"]},
    )
    assert [e["node"]["title"] for e in r.json()["data"]["loans"]["edges"]] == ["once"]


async def test_same_key_other_body_is_refused(client, token, settings):
    b = new_user("idem")
    h = {"Authorization": f"Bearer {token(b.user_id, b.email)}", "Idempotency-Key": "shared-key"}
    assert (await client.post("/graphql", json=body("a"), headers=h)).status_code == 200
    r = await client.post("/graphql", json=body("b"), headers=h)
    assert (
        r.status_code == 409
        and r.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    )


async def test_keys_are_per_user_and_bounded(client, token, settings):
    b1, b2 = new_user("idem"), new_user("idem")
    for u in (b1, b2):
        h = {"Authorization": f"Bearer {token(u.user_id, u.email)}", "Idempotency-Key": "same"}
        r = await client.post("/graphql", json=body(u.user_id), headers=h)
        assert r.json()["data"]["createLoan"]["loan"]["title"] == u.user_id
    h = {"Authorization": f"Bearer {token(b1.user_id, b1.email)}", "Idempotency-Key": "x" * 256}
    r = await client.post("/graphql", json=body("long"), headers=h)
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
