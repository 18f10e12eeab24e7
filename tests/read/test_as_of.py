"""Point-in-time reads: a long scripted story (creation, invitations,
acceptances, a decline, a removal, terms updates, a revert, a deletion, a
restore, a cancellation) records the loan's full state through the API after
every step; `loan(id:, asOf:)` at each recorded instant must return exactly
that state, participants included, under today's access rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.actor import Actor
from core.ids import to_global_id
from services.loans import (
    create_loan,
    delete_loan,
    restore_loan,
    revert_loan_terms,
    set_loan_status,
    update_loan_terms,
)
from services.participants import (
    accept_invitation,
    decline_invitation,
    invite_participant,
    invite_participants,
    remove_participant,
)
from tests.conftest import new_user
from tests.graphql_client import gql

PARTS = """edges { node { participantId lenderEmail contributionAmount status version
  respondedAt deletedAt deletionReason updatedAt acceptedVersion { version } } }"""
STATE = f"""query($id: ID!, $at: DateTime) {{ loan(id: $id, asOf: $at, includeDeleted: true) {{
  loanId title amount currency interestRate termMonths status version totalFunded
  fundingPercentage isFullyFunded participantCount acceptedParticipantCount
  pendingParticipantCount averageContribution largestContribution smallestContribution
  lastFundingUpdate createdAt updatedAt deletedAt deletionReason
  everyone: participants(first: 100, includeDeleted: true) {{ totalCount {PARTS} }}
  live: participants(first: 100) {{ totalCount {PARTS} }}
  accepted: participants(first: 100, status: ACCEPTED) {{ totalCount {PARTS} }}
}} }}"""
LENDER_VIEW = """query($id: ID!, $at: DateTime) { loan(id: $id, asOf: $at) {
  totalFunded participants(first: 100) { edges { node { lenderEmail status } } } } }"""
PAGE = """query($id: ID!, $at: DateTime, $after: String) { loan(id: $id, asOf: $at) {
  participants(first: 1, after: $after) { edges { cursor node { participantId } }
  pageInfo { hasNextPage endCursor } } } }"""


def actor(v) -> Actor:
    return Actor(v, ip_address="198.51.100.1", user_agent="story", request_id="r")


def tok(token, v) -> str:
    return token(v.user_id, v.email, admin=v.is_admin)


async def test_as_of_reproduces_every_recorded_state(settings, client, token):
    b = new_user("borrower")
    l1, l2, l3, l4 = (new_user("lender") for _ in range(4))
    B, L1, L2, L3, L4 = (actor(v) for v in (b, l1, l2, l3, l4))
    tb = tok(token, b)
    before_anything = datetime.now(UTC)
    recorded: list[tuple[str, datetime, dict]] = []
    gid = ""

    async def snap(step: str) -> None:
        at = datetime.now(UTC)
        r = await gql(client, STATE, {"id": gid}, token=tb)
        assert "errors" not in r, r
        recorded.append((step, at, r["data"]["loan"]))

    loan = await create_loan(
        B, title="Bakery oven", amount="1000.00", interest_rate="7.5", term_months=12
    )
    gid = to_global_id("Loan", loan.loan_id)
    lid = loan.loan_id
    await snap("created")
    p1 = await invite_participant(B, lid, l1.email, Decimal("300.00"))
    await snap("invited l1")
    batch = await invite_participants(
        B, lid, [(l2.email, Decimal("200.00")), (l3.email, Decimal("500.00"))]
    )
    p2, p3 = (r.participant for r in batch.results)
    await snap("invited l2, l3")
    await accept_invitation(L1, lid, p1.participant_id, 1)
    await snap("l1 accepted")
    await decline_invitation(L2, lid, p2.participant_id, 1)
    await snap("l2 declined")
    await update_loan_terms(
        B, lid, expected_version=1, change_reason="bigger", amount="1200.00", term_months=24
    )
    await snap("terms v2")
    await accept_invitation(L3, lid, p3.participant_id, 2)
    await snap("l3 accepted")
    await remove_participant(B, lid, p2.participant_id, "declined anyway")
    await snap("l2 removed")
    await revert_loan_terms(B, lid, to_version=1, expected_version=2, change_reason="back")
    await snap("reverted to v1")
    p4 = await invite_participant(B, lid, l4.email, Decimal("100.00"))
    await snap("invited l4")
    await delete_loan(B, lid, "paused")
    await snap("deleted")
    await restore_loan(B, lid)
    await snap("restored")
    await accept_invitation(L4, lid, p4.participant_id, 5)
    await snap("l4 accepted")
    await set_loan_status(B, lid, "CANCELLED", "borrower withdrew")
    await snap("cancelled")

    # the story moved every kind of figure
    states = [s for _, _, s in recorded]
    assert {s["status"] for s in states} == {"PENDING", "CANCELLED"}
    assert {s["amount"] for s in states} == {"1000.00", "1200.00"}
    assert any(s["deletedAt"] for s in states) and not states[-1]["deletedAt"]
    assert states[-1]["totalFunded"] == "900.00" and states[-1]["version"] == 6
    assert len({str(s) for s in states}) == len(states)

    # then asOf every recorded instant returns exactly the state recorded then
    for step, at, state in recorded:
        r = await gql(client, STATE, {"id": gid, "at": at.isoformat()}, token=tb)
        assert "errors" not in r, (step, r)
        assert r["data"]["loan"] == state, step
    # and asOf an instant between two steps is the earlier state
    (_, t_a, s_a), (_, t_b, _) = recorded[3], recorded[4]
    mid = t_a + (t_b - t_a) / 2
    r = await gql(client, STATE, {"id": gid, "at": mid.isoformat()}, token=tb)
    assert r["data"]["loan"] == s_a
    # before the loan existed: null
    r = await gql(client, STATE, {"id": gid, "at": before_anything.isoformat()}, token=tb)
    assert r["data"]["loan"] is None
    # a deleted instant shows only with includeDeleted (as today)
    _, t_del, _ = recorded[10]
    q = "query($id: ID!, $at: DateTime) { loan(id: $id, asOf: $at) { status } }"
    r = await gql(client, q, {"id": gid, "at": t_del.isoformat()}, token=tb)
    assert r["data"]["loan"] is None
    r = await gql(client, q, {"id": gid, "at": recorded[9][1].isoformat()}, token=tb)
    assert r["data"]["loan"] == {"status": "PENDING"}

    # a lender sees the loan then, but only their own participation
    _, t_l3, _ = recorded[6]
    r = await gql(client, LENDER_VIEW, {"id": gid, "at": t_l3.isoformat()}, token=tok(token, l3))
    assert r["data"]["loan"]["totalFunded"] == "800.00"
    assert r["data"]["loan"]["participants"]["edges"] == [
        {"node": {"lenderEmail": l3.email, "status": "ACCEPTED"}}
    ]
    # a stranger sees nothing, at any instant
    r = await gql(
        client, LENDER_VIEW, {"id": gid, "at": t_l3.isoformat()}, token=tok(token, new_user("x"))
    )
    assert r["data"]["loan"] is None

    # the point-in-time participants page with cursors bound to the instant
    seen, after = [], None
    while True:
        r = await gql(client, PAGE, {"id": gid, "at": t_l3.isoformat(), "after": after}, token=tb)
        conn = r["data"]["loan"]["participants"]
        seen += [e["node"]["participantId"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == [e["node"]["participantId"] for e in recorded[6][2]["live"]["edges"]]
    assert len(seen) == 3
    other = (t_l3 + timedelta(milliseconds=1)).isoformat()
    r = await gql(client, PAGE, {"id": gid, "at": other, "after": after}, token=tb)
    assert r["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
