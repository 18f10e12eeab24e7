"""Who may read what: every Query field and the row-level rules, for a borrower,
an invited lender (by email), an accepted lender, a stranger, an admin and no token."""

from __future__ import annotations

import pytest

import models
from core.ids import to_global_id
from tests.conftest import new_user
from tests.factories import (
    guard_for,
    loan_created_entry,
    make_loan,
    make_participant,
    make_user,
    now,
    version_of,
    write_all,
)
from tests.graphql_client import gql

B, INVITED, ACCEPTED, STRANGER = (
    new_user("borrower"),
    new_user("invited"),
    new_user("accepted"),
    new_user("stranger"),
)
ADMIN = new_user("admin", admin=True)


@pytest.fixture(scope="module")
def world(settings):
    loan = make_loan(B, title="Visible to some")
    p_inv = make_participant(loan, INVITED.email, amount="300.00")
    p_acc = make_participant(
        loan, ACCEPTED.email, amount="700.00", status="ACCEPTED", lender_id=ACCEPTED.user_id
    )
    audit = loan_created_entry(loan, B)
    metric = models.LoanMetric(
        loan_id=loan.loan_id,
        sk=f"{audit.sk}",
        timestamp=now(),
        event="PARTICIPANT_ACCEPTED",
        total_funded=700,
        funding_percentage=7,
        participant_count=2,
        accepted_participant_count=1,
    )
    write_all(
        [
            loan,
            p_inv,
            p_acc,
            guard_for(p_inv),
            guard_for(p_acc),
            version_of(loan),
            audit,
            metric,
            *[make_user(v) for v in (B, INVITED, ACCEPTED, STRANGER, ADMIN)],
        ]
    )
    return {"loan": loan, "inv": p_inv, "acc": p_acc, "audit": audit}


def tok(token, v):
    return token(v.user_id, v.email, admin=v.is_admin)


LOAN = """query($id: ID!) { loan(id: $id) { title totalFunded
  participants { totalCount edges { node { lenderEmail contributionAmount } } }
  versions { edges { node { version } } } } }"""
HISTORY = """query($id: ID!) { loan(id: $id) { fundingHistory { edges { node { totalFunded event } } } } }"""


@pytest.mark.parametrize(
    "who,sees", [(B, True), (INVITED, True), (ACCEPTED, True), (STRANGER, False), (ADMIN, True)]
)
async def test_loan_visibility(client, token, world, who, sees):
    r = await gql(
        client, LOAN, {"id": to_global_id("Loan", world["loan"].loan_id)}, token=tok(token, who)
    )
    assert "errors" not in r, r
    loan = r["data"]["loan"]
    if not sees:
        assert loan is None  # hidden, not FORBIDDEN: existence is not revealed
        return
    assert loan["title"] == "Visible to some"
    assert loan["versions"]["edges"][0]["node"]["version"] == 1
    r = await gql(
        client, HISTORY, {"id": to_global_id("Loan", world["loan"].loan_id)}, token=tok(token, who)
    )
    if who in (B, ADMIN):
        assert "errors" not in r, r
        assert r["data"]["loan"]["fundingHistory"]["edges"][0]["node"]["event"] == (
            "PARTICIPANT_ACCEPTED"
        )
    else:
        # a lender: the series can reveal another lender's amount (docs/security.md)
        assert [e["extensions"]["code"] for e in r["errors"]] == ["FORBIDDEN"], r
        assert r["errors"][0]["path"] == ["loan", "fundingHistory"]
    emails = {e["node"]["lenderEmail"] for e in loan["participants"]["edges"]}
    if who in (B, ADMIN):
        assert emails == {INVITED.email, ACCEPTED.email}
    else:
        # a lender sees only their own participation: no other emails or amounts
        assert emails == {who.email}
        assert loan["participants"]["totalCount"] is None


async def test_no_token_and_bad_token_are_unauthenticated(client, world):
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic abc"}):
        r = await gql(client, "{ viewer { userId } loans { totalCount } }", headers=headers)
        codes = {e["extensions"]["code"] for e in r["errors"]}
        assert codes == {"UNAUTHENTICATED"}, r
        assert r["data"] is None


async def test_expired_and_forged_tokens(client, settings, world):
    import time as _t

    import jwt as pyjwt

    expired = pyjwt.encode(
        {"sub": "x", "exp": int(_t.time()) - 3600}, settings.jwt_secret, algorithm="HS256"
    )
    forged = pyjwt.encode(
        {"sub": "x", "exp": int(_t.time()) + 3600},
        "another-secret-of-enough-length-123",
        algorithm="HS256",
    )
    for t in (expired, forged):
        r = await gql(client, "{ viewer { userId } }", token=t)
        assert r["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_introspection_needs_no_token(client):
    r = await gql(client, "{ __schema { queryType { name } } }")
    assert r["data"]["__schema"]["queryType"]["name"] == "Query"


AUDIT_TRAIL = "query($id: ID!) { loan(id: $id) { auditTrail { edges { node { action ipAddress actor { userId } } } } } }"


@pytest.mark.parametrize(
    "who,allowed", [(B, True), (ADMIN, True), (INVITED, False), (ACCEPTED, False)]
)
async def test_audit_trail_for_borrower_and_admins(client, token, world, who, allowed):
    r = await gql(
        client,
        AUDIT_TRAIL,
        {"id": to_global_id("Loan", world["loan"].loan_id)},
        token=tok(token, who),
    )
    if allowed:
        assert "errors" not in r, r
        node = r["data"]["loan"]["auditTrail"]["edges"][0]["node"]
        assert node == {
            "action": "CREATE",
            "ipAddress": "127.0.0.1",
            "actor": {"userId": B.user_id},
        }
    else:
        assert r["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert r["errors"][0]["path"] == ["loan", "auditTrail"]


AUDIT_LOG = "query($f: AuditFilter) { auditLog(filter: $f) { edges { node { recordId action } } } }"


@pytest.mark.parametrize("who", [B, INVITED, STRANGER])
async def test_audit_log_is_admin_only(client, token, world, who):
    r = await gql(client, AUDIT_LOG, token=tok(token, who))
    assert r["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_audit_log_for_admin_by_record_and_actor(client, token, world):
    loan_gid = to_global_id("Loan", world["loan"].loan_id)
    for f in (
        {"recordId": loan_gid},
        {"actorId": to_global_id("User", B.user_id)},
        {"action": "CREATE"},
        None,
    ):
        r = await gql(client, AUDIT_LOG, {"f": f}, token=tok(token, ADMIN))
        assert "errors" not in r, r
        ids = [e["node"]["recordId"] for e in r["data"]["auditLog"]["edges"]]
        assert world["loan"].loan_id in ids, f


LOANS = "query($b: ID) { loans(filter: {borrowerId: $b}) { edges { node { title } } } }"


async def test_loans_listing_scope(client, token, world):
    b_gid = to_global_id("User", B.user_id)
    r = await gql(client, LOANS, {"b": None}, token=tok(token, B))
    assert [e["node"]["title"] for e in r["data"]["loans"]["edges"]] == ["Visible to some"]
    r = await gql(client, LOANS, {"b": None}, token=tok(token, ACCEPTED))
    assert r["data"]["loans"]["edges"] == []  # lenders list theirs through myInvitations
    r = await gql(client, LOANS, {"b": b_gid}, token=tok(token, STRANGER))
    assert r["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    r = await gql(client, LOANS, {"b": b_gid}, token=tok(token, ADMIN))
    assert [e["node"]["title"] for e in r["data"]["loans"]["edges"]] == ["Visible to some"]


INVITES = "query($s: ParticipantStatus) { myInvitations(status: $s) { edges { node { lenderEmail status loan { title } } } } }"


async def test_my_invitations(client, token, world):
    r = await gql(client, INVITES, token=tok(token, INVITED))
    assert [
        (e["node"]["lenderEmail"], e["node"]["loan"]["title"])
        for e in r["data"]["myInvitations"]["edges"]
    ] == [(INVITED.email, "Visible to some")]
    r = await gql(client, INVITES, {"s": "ACCEPTED"}, token=tok(token, INVITED))
    assert r["data"]["myInvitations"]["edges"] == []
    r = await gql(client, INVITES, {"s": "ACCEPTED"}, token=tok(token, ACCEPTED))
    assert len(r["data"]["myInvitations"]["edges"]) == 1
    r = await gql(client, INVITES, token=tok(token, STRANGER))
    assert r["data"]["myInvitations"]["edges"] == []


USER_EMAIL = "query($id: ID!) { node(id: $id) { ... on User { userId email } } viewer { email } }"


@pytest.mark.parametrize("who,sees_email", [(B, True), (ADMIN, True), (STRANGER, False)])
async def test_user_email_visible_to_self_and_admins(client, token, world, who, sees_email):
    r = await gql(
        client, USER_EMAIL, {"id": to_global_id("User", B.user_id)}, token=tok(token, who)
    )
    assert (r["data"]["node"]["email"] == B.email) is sees_email
    assert r["data"]["viewer"]["email"] == who.email


NODE = "query($id: ID!) { node(id: $id) { id __typename } }"


@pytest.mark.parametrize(
    "who,visible",
    [
        (B, {"inv", "acc"}),
        (ADMIN, {"inv", "acc"}),
        (INVITED, {"inv"}),
        (ACCEPTED, {"acc"}),
        (STRANGER, set()),
    ],
)
async def test_participant_nodes_follow_row_rules(client, token, world, who, visible):
    for name in ("inv", "acc"):
        p = world[name]
        gid = to_global_id("Participant", f"{p.loan_id}/{p.participant_id}")
        r = await gql(client, NODE, {"id": gid}, token=tok(token, who))
        assert (r["data"]["node"] is not None) is (name in visible), (who.user_id, name, r)


async def test_webhooks_and_rate_limit_need_a_token(client, token, world):
    r = await gql(client, "{ webhooks { edges { node { url } } } rateLimit { limit remaining } }")
    assert {e["extensions"]["code"] for e in r["errors"]} == {"UNAUTHENTICATED"}
    r = await gql(
        client,
        "{ webhooks { edges { node { url } } } rateLimit { limit } }",
        token=tok(token, STRANGER),
    )
    assert r["data"]["webhooks"]["edges"] == [] and r["data"]["rateLimit"]["limit"] > 0
