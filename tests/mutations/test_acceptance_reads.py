"""What an acceptance asks DynamoDB (counted at the botocore client): the loan,
its participants and the one transaction. The payload's `loan` is shown with
the acceptor's access, known from the acceptance itself (their invitation's
guard, which it found live and left in place), not read again."""

from __future__ import annotations

from tests.read.test_page_cache import Market, counted, gql

ACCEPT_WITH_LOAN = """mutation($i: RespondToInvitationInput!) {
  acceptInvitation(input: $i) {
    participant { status } loan { id totalFunded acceptedParticipantCount }
    errors { code } } }"""
WHO_AM_I = "{ viewer { userId } }"


async def test_an_acceptance_costs_three_requests_and_shows_the_loan(settings, token):
    from tests.guards.conftest import app_client

    async with app_client(settings) as c:
        m = Market(c, token)
        loan = await m.create(lenders=2)
        (_, t1, p1), _second = m.lenders
        await gql(c, WHO_AM_I, {}, t1)  # the profile upsert of a first request, out of the count
        d, requests = await counted(c, ACCEPT_WITH_LOAN, {"i": {"participantId": p1}}, t1)
        out = d["acceptInvitation"]
        assert out["errors"] == []
        assert out["participant"]["status"] == "ACCEPTED"
        assert out["loan"] == {"id": loan, "totalFunded": "10.00", "acceptedParticipantCount": 1}
        # GetItem (loan), Query (participants), TransactWriteItems; no guard read.
        assert requests == 3
