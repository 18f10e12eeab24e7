"""revertLoanTerms: a new version with an earlier version's terms; history is
never rewritten; the usual rules and codes apply."""

from __future__ import annotations

import pytest

from tests.conftest import new_user
from tests.graphql_client import gql

B, L, ADMIN = new_user("b"), new_user("l"), new_user("a", admin=True)

CREATE = "mutation($i: CreateLoanInput!) { createLoan(input: $i) { loan { id } errors { code } } }"
UPDATE = "mutation($i: UpdateLoanTermsInput!) { updateLoanTerms(input: $i) { loan { version } errors { code } } }"
REVERT = """mutation($i: RevertLoanTermsInput!) { revertLoanTerms(input: $i) {
  loan { version amount interestRate termMonths title } errors { field code message } } }"""
HISTORY = """query($id: ID!) { loan(id: $id) {
  versions(first: 50) { edges { node { version revertedFrom changeReason changedFields terms { amount interestRate termMonths title } } } }
  auditTrail(last: 1) { edges { node { action tableName changedFields actor { userId } before after } } } } }"""


def t(token, v):
    return token(v.user_id, v.email, admin=v.is_admin)


@pytest.fixture
async def loan(client, token, settings):
    tb = t(token, B)
    r = await gql(
        client,
        CREATE,
        {"i": {"title": "T1", "amount": "1000", "interestRate": "5", "termMonths": 12}},
        token=tb,
    )
    lid = r["data"]["createLoan"]["loan"]["id"]
    r = await gql(
        client,
        UPDATE,
        {
            "i": {
                "id": lid,
                "expectedVersion": 1,
                "changeReason": "more",
                "amount": "2000",
                "interestRate": "6",
            }
        },
        token=tb,
    )
    assert r["data"]["updateLoanTerms"]["errors"] == []
    r = await gql(
        client,
        UPDATE,
        {
            "i": {
                "id": lid,
                "expectedVersion": 2,
                "changeReason": "longer",
                "termMonths": 36,
                "title": "T3",
            }
        },
        token=tb,
    )
    assert r["data"]["updateLoanTerms"]["errors"] == []
    return lid


async def test_revert_writes_a_new_version_with_old_terms(client, token, loan):
    tb = t(token, B)
    before = (await gql(client, HISTORY, {"id": loan}, token=tb))["data"]["loan"]["versions"][
        "edges"
    ]
    r = await gql(
        client,
        REVERT,
        {"i": {"id": loan, "toVersion": 1, "expectedVersion": 3, "changeReason": "back to v1"}},
        token=tb,
    )
    p = r["data"]["revertLoanTerms"]
    assert p["errors"] == [], p
    assert p["loan"] == {
        "version": 4,
        "amount": "1000.00",
        "interestRate": "5.0000",
        "termMonths": 12,
        "title": "T1",
    }
    h = (await gql(client, HISTORY, {"id": loan}, token=tb))["data"]["loan"]
    versions = [e["node"] for e in h["versions"]["edges"]]
    # history unchanged, one version more
    assert [e["node"] for e in before] == versions[:3]
    assert (
        versions[3]["version"] == 4
        and versions[3]["revertedFrom"] == 1
        and versions[3]["changeReason"] == "back to v1"
    )
    assert versions[3]["terms"] == versions[0]["terms"]
    assert versions[0]["revertedFrom"] is None
    # its audit entry
    audit = h["auditTrail"]["edges"][-1]["node"]
    assert (
        audit["action"] == "UPDATE"
        and audit["tableName"] == "loans"
        and audit["actor"] == {"userId": B.user_id}
    )
    assert audit["before"]["amount"] == "2000.00" and audit["after"]["amount"] == "1000.00"
    assert {"amount", "interest_rate", "term_months", "title"} <= set(audit["changedFields"])


async def test_revert_of_a_revert(client, token, loan):
    tb = t(token, B)
    await gql(
        client,
        REVERT,
        {"i": {"id": loan, "toVersion": 1, "expectedVersion": 3, "changeReason": "v1"}},
        token=tb,
    )
    r = await gql(
        client,
        REVERT,
        {"i": {"id": loan, "toVersion": 3, "expectedVersion": 4, "changeReason": "undo"}},
        token=tb,
    )
    p = r["data"]["revertLoanTerms"]
    assert p["errors"] == [] and p["loan"]["version"] == 5
    assert (p["loan"]["amount"], p["loan"]["termMonths"], p["loan"]["title"]) == (
        "2000.00",
        36,
        "T3",
    )


@pytest.mark.parametrize(
    "variables,who,code",
    [
        ({"toVersion": 1, "expectedVersion": 2}, B, "VERSION_MISMATCH"),
        ({"toVersion": 9, "expectedVersion": 3}, B, "NOT_FOUND"),
        ({"toVersion": 1, "expectedVersion": 3}, L, "NOT_FOUND"),  # a stranger: the loan is hidden
        ({"toVersion": 1, "expectedVersion": 3, "changeReason": ""}, B, "VALIDATION"),
    ],
)
async def test_revert_errors(client, token, loan, variables, who, code):
    i = {"id": loan, "changeReason": "x", **variables}
    r = await gql(client, REVERT, {"i": i}, token=t(token, who))
    assert r["data"]["revertLoanTerms"]["errors"][0]["code"] == code, r
    assert r["data"]["revertLoanTerms"]["loan"] is None


async def test_revert_only_while_pending(client, token, loan):
    tb = t(token, B)
    r = await gql(
        client,
        "mutation($i: SetLoanStatusInput!) { setLoanStatus(input: $i) { loan { version status } errors { code } } }",
        {"i": {"id": loan, "status": "CANCELLED", "reason": "off"}},
        token=tb,
    )
    assert r["data"]["setLoanStatus"]["errors"] == []
    v = r["data"]["setLoanStatus"]["loan"]["version"]
    r = await gql(
        client,
        REVERT,
        {"i": {"id": loan, "toVersion": 1, "expectedVersion": v, "changeReason": "x"}},
        token=tb,
    )
    assert r["data"]["revertLoanTerms"]["errors"][0]["code"] == "INVALID_STATE"


async def test_admin_is_not_the_borrower(client, token, loan):
    r = await gql(
        client,
        REVERT,
        {"i": {"id": loan, "toVersion": 1, "expectedVersion": 3, "changeReason": "x"}},
        token=t(token, ADMIN),
    )
    assert r["data"]["revertLoanTerms"]["errors"][0]["code"] == "FORBIDDEN"
