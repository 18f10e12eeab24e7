"""Global ids round-trip through node/nodes; deleted records stay hidden unless
includeDeleted and the caller may see them."""

from __future__ import annotations

import base64

import pytest

from core.ids import from_global_id, to_global_id
from tests.conftest import new_user
from tests.factories import guard_for, make_loan, make_participant, make_user, version_of, write_all
from tests.graphql_client import gql

B, L, ADMIN = new_user("b"), new_user("l"), new_user("a", admin=True)


@pytest.fixture(scope="module")
def world(settings):
    live = make_loan(B, title="live")
    gone = make_loan(B, title="gone", deleted=True)
    p_live = make_participant(live, L.email)
    p_removed = make_participant(live, "removed@example.com", deleted=True)
    p_gone = make_participant(gone, L.email, deleted=True)
    write_all(
        [
            live,
            gone,
            p_live,
            p_removed,
            p_gone,
            guard_for(p_live),
            guard_for(p_gone),
            version_of(live),
            make_user(B),
            make_user(L),
        ]
    )
    return {"live": live, "gone": gone, "p_live": p_live, "p_removed": p_removed}


def t(token, v):
    return token(v.user_id, v.email, admin=v.is_admin)


ROUND_TRIP = """query($ids: [ID!]!) { nodes(ids: $ids) { id __typename
  ... on Loan { loanId } ... on Participant { participantId } ... on User { userId } ... on LoanVersion { version } } }"""


async def test_global_ids_round_trip(client, token, world):
    live, p = world["live"], world["p_live"]
    r = await gql(
        client,
        "query($id: ID!) { loan(id: $id) { id versions { edges { node { id } } } participants { edges { node { id } } } borrower { id } } }",
        {"id": to_global_id("Loan", live.loan_id)},
        token=t(token, B),
    )
    loan = r["data"]["loan"]
    ids = [
        loan["id"],
        loan["versions"]["edges"][0]["node"]["id"],
        loan["participants"]["edges"][0]["node"]["id"],
        loan["borrower"]["id"],
    ]
    assert [from_global_id(i)[0] for i in ids] == ["Loan", "LoanVersion", "Participant", "User"]
    r = await gql(client, ROUND_TRIP, {"ids": ids}, token=t(token, B))
    nodes = r["data"]["nodes"]
    assert [n["id"] for n in nodes] == ids
    assert [n["__typename"] for n in nodes] == ["Loan", "LoanVersion", "Participant", "User"]
    assert nodes[0]["loanId"] == live.loan_id and nodes[2]["participantId"] == p.participant_id


@pytest.mark.parametrize(
    "bad", ["%%%", base64.b64encode(b"Nope:1").decode(), base64.b64encode(b"Loan").decode()]
)
async def test_malformed_ids_are_bad_user_input(client, token, world, bad):
    r = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": bad}, token=t(token, B)
    )
    assert r["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_unknown_id_is_null(client, token, world):
    r = await gql(
        client,
        "query($id: ID!) { loan(id: $id) { id } }",
        {"id": to_global_id("Loan", "missing")},
        token=t(token, B),
    )
    assert r["data"] == {"loan": None} and "errors" not in r


async def test_wrong_type_of_id_is_bad_user_input(client, token, world):
    r = await gql(
        client,
        "query($id: ID!) { loan(id: $id) { id } }",
        {"id": to_global_id("User", B.user_id)},
        token=t(token, B),
    )
    assert r["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


LOAN = "query($id: ID!, $d: Boolean) { loan(id: $id, includeDeleted: $d) { title deletedAt } }"
LOANS = "query($d: Boolean) { loans(includeDeleted: $d) { edges { node { title } } } }"
PARTS = "query($id: ID!, $d: Boolean) { loan(id: $id) { participants(includeDeleted: $d) { edges { node { lenderEmail deletedAt } } } } }"


async def test_deleted_loans_hidden_by_default(client, token, world):
    gone = to_global_id("Loan", world["gone"].loan_id)
    r = await gql(client, LOAN, {"id": gone}, token=t(token, B))
    assert r["data"]["loan"] is None
    r = await gql(client, LOAN, {"id": gone, "d": True}, token=t(token, B))
    assert r["data"]["loan"]["title"] == "gone" and r["data"]["loan"]["deletedAt"].endswith("Z")
    r = await gql(client, LOAN, {"id": gone, "d": True}, token=t(token, ADMIN))
    assert r["data"]["loan"]["title"] == "gone"
    # an invited lender may not see a deleted loan even when asking
    r = await gql(client, LOAN, {"id": gone, "d": True}, token=t(token, L))
    assert r["data"]["loan"] is None
    r = await gql(client, LOANS, {}, token=t(token, B))
    assert [e["node"]["title"] for e in r["data"]["loans"]["edges"]] == ["live"]
    r = await gql(client, LOANS, {"d": True}, token=t(token, B))
    assert sorted(e["node"]["title"] for e in r["data"]["loans"]["edges"]) == ["gone", "live"]


async def test_removed_participants_hidden_by_default(client, token, world):
    live = to_global_id("Loan", world["live"].loan_id)
    r = await gql(client, PARTS, {"id": live}, token=t(token, B))
    assert [e["node"]["lenderEmail"] for e in r["data"]["loan"]["participants"]["edges"]] == [
        L.email
    ]
    r = await gql(client, PARTS, {"id": live, "d": True}, token=t(token, B))
    assert sorted(
        e["node"]["lenderEmail"] for e in r["data"]["loan"]["participants"]["edges"]
    ) == sorted([L.email, "removed@example.com"])
    # a lender's includeDeleted shows nothing more than their own live participation
    r = await gql(client, PARTS, {"id": live, "d": True}, token=t(token, L))
    assert [e["node"]["lenderEmail"] for e in r["data"]["loan"]["participants"]["edges"]] == [
        L.email
    ]
    # and the lender's invitations list skips the deleted loan's cascaded participant
    r = await gql(
        client, "{ myInvitations { edges { node { loan { title } } } } }", token=t(token, L)
    )
    assert [e["node"]["loan"]["title"] for e in r["data"]["myInvitations"]["edges"]] == ["live"]
