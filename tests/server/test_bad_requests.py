"""Malformed requests get a coded client error, never a 500 or a masked one."""

from __future__ import annotations

import json

import pytest

LOAN = "query($id: ID!) { loan(id: $id) { id } }"
CREATE = "mutation($i: CreateLoanInput!) { createLoan(input: $i) { errors { code } } }"


@pytest.mark.parametrize("body", [b"[]", b'"str"', b"5", b"[1, 2]", b"null"])
async def test_non_object_bodies_are_400(client, token, settings, body):
    r = await client.post(
        "/graphql",
        content=body,
        headers={
            "content-type": "application/json",
            "Authorization": f"Bearer {token('p', 'p@x.com')}",
        },
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "query,variables",
    [
        (LOAN, {}),  # a required variable missing
        (LOAN, {"id": {"nested": 1}}),  # the wrong shape
        (
            CREATE,
            {
                "i": {
                    "title": "x",
                    "amount": "1",
                    "interestRate": "1",
                    "termMonths": 99999999999999999999,
                }
            },
        ),
        (
            CREATE,
            {"i": {"title": "x", "amount": "1", "interestRate": "1"}},
        ),  # a required input field missing
    ],
)
async def test_bad_variables_are_client_errors(client, token, settings, query, variables):
    r = await client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}),
        headers={
            "content-type": "application/json",
            "Authorization": f"Bearer {token('p', 'p@x.com')}",
        },
    )
    assert r.status_code < 500
    codes = {e["extensions"]["code"] for e in r.json()["errors"]}
    assert codes <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, r.text
    assert "INTERNAL_SERVER_ERROR" not in r.text and "Traceback" not in r.text
