"""The lending story end to end through GraphQL: create, invite, accept, change
terms, history and audit, delete, restore; payload errors for bad input."""

from __future__ import annotations

import pytest

from tests.conftest import new_user
from tests.graphql_client import gql

B, L1, L2, ADMIN = new_user("b"), new_user("l1"), new_user("l2"), new_user("a", admin=True)

CREATE = """mutation($i: CreateLoanInput!) { createLoan(input: $i) {
  loan { id loanId title amount interestRate currency termMonths status version totalFunded }
  errors { field code message } } }"""
INVITE = """mutation($i: InviteParticipantInput!) { inviteParticipant(input: $i) {
  participant { id participantId lenderEmail lender { userId } status contributionAmount } errors { field code message } } }"""
INVITES = """mutation($i: InviteParticipantsInput!) { inviteParticipants(input: $i) {
  results { index email status errors { code field } participant { lenderEmail } }
  summary { total succeeded failed } errors { code } } }"""
ACCEPT = """mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) {
  participant { participantId status lender { userId } acceptedVersion { version terms { amount } } }
  loan { totalFunded fundingPercentage acceptedParticipantCount pendingParticipantCount isFullyFunded status version
         averageContribution largestContribution smallestContribution lastFundingUpdate }
  errors { field code message } } }"""
UPDATE = """mutation($i: UpdateLoanTermsInput!) { updateLoanTerms(input: $i) {
  loan { version amount interestRate versions { edges { node { version changedFields changeReason terms { amount } } } } }
  errors { field code message } } }"""
DELETE = """mutation($i: DeleteLoanInput!) { deleteLoan(input: $i) { loan { deletedAt deletionReason version } errors { code } } }"""
RESTORE = """mutation($i: RestoreLoanInput!) { restoreLoan(input: $i) { loan { deletedAt version participantCount } errors { code } } }"""


def t(token, v):
    return token(v.user_id, v.email, admin=v.is_admin)


async def test_lending_story(client, token, settings):
    tb = t(token, B)
    r = await gql(
        client,
        CREATE,
        {"i": {"title": "Solar roof", "amount": "1000", "interestRate": "7.5", "termMonths": 24}},
        token=tb,
    )
    assert r["data"]["createLoan"]["errors"] == [], r
    loan = r["data"]["createLoan"]["loan"]
    assert (
        loan["amount"],
        loan["interestRate"],
        loan["currency"],
        loan["status"],
        loan["version"],
        loan["totalFunded"],
    ) == ("1000.00", "7.5000", "USD", "PENDING", 1, "0.00")
    lid = loan["id"]

    r = await gql(
        client, INVITE, {"i": {"loanId": lid, "email": L1.email.upper(), "amount": "600"}}, token=tb
    )
    p1 = r["data"]["inviteParticipant"]["participant"]
    assert p1["lenderEmail"] == L1.email and p1["lender"] is None and p1["status"] == "PENDING"

    r = await gql(
        client,
        INVITES,
        {
            "i": {
                "loanId": lid,
                "invites": [
                    {"email": L2.email, "amount": "400"},
                    {"email": L1.email, "amount": "1"},
                    {"email": "not-an-email", "amount": "5"},
                ],
            }
        },
        token=tb,
    )
    res = r["data"]["inviteParticipants"]
    assert [x["status"] for x in res["results"]] == ["CREATED", "FAILED", "FAILED"], res
    assert res["results"][1]["errors"][0]["code"] == "DUPLICATE_PARTICIPANT"
    assert res["results"][2]["errors"][0]["code"] == "VALIDATION"
    assert res["summary"] == {"total": 3, "succeeded": 1, "failed": 2}

    # a stranger cannot accept L1's invitation
    r = await gql(client, ACCEPT, {"i": {"participantId": p1["id"]}}, token=t(token, L2))
    assert r["data"]["acceptInvitation"]["errors"][0]["code"] in ("FORBIDDEN", "NOT_FOUND")

    r = await gql(
        client,
        ACCEPT,
        {"i": {"participantId": p1["id"], "expectedLoanVersion": 1}},
        token=t(token, L1),
    )
    acc = r["data"]["acceptInvitation"]
    assert acc["errors"] == [], acc
    assert (
        acc["participant"]["participantId"] == p1["participantId"]
    )  # same record, updated in place
    assert acc["participant"]["lender"] == {"userId": L1.user_id}
    assert acc["participant"]["acceptedVersion"] == {"version": 1, "terms": {"amount": "1000.00"}}
    assert acc["loan"]["totalFunded"] == "600.00" and acc["loan"]["fundingPercentage"] == "60.00"
    assert (acc["loan"]["acceptedParticipantCount"], acc["loan"]["pendingParticipantCount"]) == (
        1,
        1,
    )
    # the lender: contribution statistics are the borrower's and admins' (docs/security.md)
    assert acc["loan"]["averageContribution"] is None
    assert acc["loan"]["largestContribution"] is None
    assert acc["loan"]["smallestContribution"] is None
    assert sorted(e["path"][-1] for e in r["errors"]) == [
        "averageContribution",
        "largestContribution",
        "smallestContribution",
    ]
    assert {e["extensions"]["code"] for e in r["errors"]} == {"FORBIDDEN"}
    r = await gql(
        client,
        "query($id: ID!) { loan(id: $id) { averageContribution largestContribution smallestContribution } }",
        {"id": lid},
        token=tb,
    )
    assert r["data"]["loan"] == {
        "averageContribution": "600.00",
        "largestContribution": "600.00",
        "smallestContribution": "600.00",
    }, r

    # terms change: stale version, then a good one
    r = await gql(
        client,
        UPDATE,
        {"i": {"id": lid, "expectedVersion": 7, "changeReason": "x", "amount": "1200"}},
        token=tb,
    )
    assert r["data"]["updateLoanTerms"]["errors"][0]["code"] == "VERSION_MISMATCH"
    r = await gql(
        client,
        UPDATE,
        {"i": {"id": lid, "expectedVersion": 1, "changeReason": "bigger roof", "amount": "1200"}},
        token=tb,
    )
    upd = r["data"]["updateLoanTerms"]
    assert (
        upd["errors"] == [] and upd["loan"]["version"] == 2 and upd["loan"]["amount"] == "1200.00"
    )
    versions = [e["node"] for e in upd["loan"]["versions"]["edges"]]
    assert [v["version"] for v in versions] == [1, 2]
    assert "amount" in versions[1]["changedFields"] and versions[1]["changeReason"] == "bigger roof"

    # L2 read version 1: the terms moved on
    inv = await gql(client, "{ myInvitations { edges { node { id } } } }", token=t(token, L2))
    p2 = inv["data"]["myInvitations"]["edges"][0]["node"]["id"]
    r = await gql(
        client, ACCEPT, {"i": {"participantId": p2, "expectedLoanVersion": 1}}, token=t(token, L2)
    )
    assert r["data"]["acceptInvitation"]["errors"][0]["code"] == "TERMS_CHANGED"

    # audit trail for the borrower
    r = await gql(
        client,
        "query($id: ID!) { loan(id: $id) { auditTrail(first: 50) { edges { node { action tableName actor { userId } ipAddress } } } } }",
        {"id": lid},
        token=tb,
    )
    trail = [e["node"] for e in r["data"]["loan"]["auditTrail"]["edges"]]
    # create, two invitations (failed batch items write nothing), the acceptance, the terms
    assert [(e["action"], e["tableName"]) for e in trail] == [
        ("CREATE", "loans"),
        ("CREATE", "participants"),
        ("CREATE", "participants"),
        ("UPDATE", "participants"),
        ("UPDATE", "loans"),
    ]
    # request metadata: the borrower sees it on their own entries, not on the lender's
    assert {e["ipAddress"] for e in trail if e["actor"]["userId"] == B.user_id} == {"127.0.0.1"}
    assert [e["ipAddress"] for e in trail if e["actor"]["userId"] != B.user_id] == [None]
    # delete and restore round trip
    r = await gql(client, DELETE, {"i": {"id": lid, "reason": "duplicate"}}, token=tb)
    assert (
        r["data"]["deleteLoan"]["errors"] == []
        and r["data"]["deleteLoan"]["loan"]["deletionReason"] == "duplicate"
    )
    r = await gql(client, "query($id: ID!) { loan(id: $id) { id } }", {"id": lid}, token=tb)
    assert r["data"]["loan"] is None
    r = await gql(client, RESTORE, {"i": {"id": lid}}, token=t(token, L1))
    assert r["data"]["restoreLoan"]["errors"][0]["code"] in ("FORBIDDEN", "NOT_FOUND")
    r = await gql(client, RESTORE, {"i": {"id": lid}}, token=tb)
    restored = r["data"]["restoreLoan"]
    assert (
        restored["errors"] == []
        and restored["loan"]["deletedAt"] is None
        and restored["loan"]["participantCount"] == 2
    )


@pytest.mark.parametrize(
    "field,value,code",
    [
        ("amount", "10.001", "VALIDATION"),
        ("amount", "-5", "VALIDATION"),
        ("interestRate", "100.5", "VALIDATION"),
        ("interestRate", "1.00001", "VALIDATION"),
        ("termMonths", 0, "VALIDATION"),
        ("termMonths", 601, "VALIDATION"),
        ("currency", "XXX1", "VALIDATION"),
        ("title", "", "VALIDATION"),
        ("title", "x" * 201, "VALIDATION"),
    ],
)
async def test_create_loan_validation(client, token, settings, field, value, code):
    good = {"title": "ok", "amount": "100", "interestRate": "5", "termMonths": 12}
    r = await gql(client, CREATE, {"i": {**good, field: value}}, token=t(token, B))
    payload = r["data"]["createLoan"]
    assert payload["loan"] is None
    assert payload["errors"][0]["code"] == code and payload["errors"][0]["field"][-1] == field, (
        payload
    )


async def test_malformed_ids_in_mutations_are_payload_errors(client, token, settings):
    r = await gql(client, DELETE, {"i": {"id": "garbage", "reason": "x"}}, token=t(token, B))
    assert r["data"]["deleteLoan"]["errors"][0]["code"] == "VALIDATION"


async def test_mutations_need_a_token(client, settings):
    r = await gql(
        client, CREATE, {"i": {"title": "x", "amount": "1", "interestRate": "1", "termMonths": 1}}
    )
    assert r["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
