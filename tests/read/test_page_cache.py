"""The page cache (loaders.page_cache): a repeated loan page makes no DynamoDB
request; this process's own writes show at once; pages are evicted at the
size limit; access is decided per request whatever is cached.

(Invalidation across replicas through Redis: tests/subscriptions/test_page_cache_replicas.py.)"""

from __future__ import annotations

import uuid

import pytest

from core import db
from core.ids import expect_global_id
from loaders import page_cache
from loaders.page_cache import PageCache
from tests.conftest import new_user
from tests.guards.conftest import app_client, post

LOAN_PAGE = """query LoanPage($id: ID!) { loan(id: $id) {
  id title amount status version totalFunded participantCount acceptedParticipantCount
  borrower { userId displayName }
  participants(first: 10) { edges { node { participantId lenderEmail contributionAmount status lender { userId } } } }
  versions(last: 3) { edges { node { version changeReason } } }
  fundingHistory(last: 20) { edges { node { totalFunded } } }
} }"""
CREATE = (
    """mutation($i: CreateLoanInput!) { createLoan(input: $i) { loan { id } errors { code } } }"""
)
INVITE = """mutation($i: InviteParticipantInput!) {
  inviteParticipant(input: $i) { participant { id } errors { code message } } }"""
ACCEPT = """mutation($i: RespondToInvitationInput!) {
  acceptInvitation(input: $i) { errors { code message } } }"""
REMOVE = """mutation($i: RemoveParticipantInput!) {
  removeParticipant(input: $i) { errors { code message } } }"""
UPDATE = """mutation($i: UpdateLoanTermsInput!) {
  updateLoanTerms(input: $i) { errors { code message } } }"""
# A lender's view of the same page: the funding history is the borrower's and
# admins' only (it reveals single contributions, docs/security.md).
LENDER_PAGE = LOAN_PAGE.replace("  fundingHistory(last: 20) { edges { node { totalFunded } } }\n", "")
MY_LOANS = "{ loans(first: 20) { edges { node { id title totalFunded } } } }"


@pytest.fixture(autouse=True)
def _clean_page_cache():
    page_cache.PAGES.clear()
    yield
    page_cache.PAGES.clear()


async def gql(c, query, variables, token) -> dict:
    r = (await post(c, query, variables, token=token)).json()
    assert "errors" not in r, r
    return r["data"]


async def counted(c, query, variables, token) -> tuple[dict, int]:
    """The result and the DynamoDB requests it cost (counted at the botocore client)."""
    before = db.TOTALS.total
    data = await gql(c, query, variables, token)
    return data, db.TOTALS.total - before


class Market:
    """A borrower's loan with invited lenders, over one app."""

    def __init__(self, c, token) -> None:
        self.c, self.token = c, token
        self.borrower = new_user("pc-b")
        self.tb = token(self.borrower.user_id, self.borrower.email)
        self.lenders: list[tuple[object, str, str]] = []  # (viewer, token, participant gid)

    async def create(self, lenders: int = 2) -> str:
        d = await gql(
            self.c,
            CREATE,
            {"i": {"title": "Paged", "amount": "1000", "interestRate": "5", "termMonths": 12}},
            self.tb,
        )
        self.loan = d["createLoan"]["loan"]["id"]
        for _ in range(lenders):
            await self.invite()
        return self.loan

    async def invite(self) -> tuple[object, str, str]:
        v = new_user("pc-l")
        d = await gql(
            self.c, INVITE, {"i": {"loanId": self.loan, "email": v.email, "amount": "10"}}, self.tb
        )
        assert d["inviteParticipant"]["errors"] == [], d
        entry = (v, self.token(v.user_id, v.email), d["inviteParticipant"]["participant"]["id"])
        self.lenders.append(entry)
        return entry


async def test_repeated_loan_page_makes_zero_dynamodb_requests(settings, token):
    async with app_client(settings) as c:
        m = Market(c, token)
        loan = await m.create(lenders=3)
        first, cold = await counted(c, LOAN_PAGE, {"id": loan}, m.tb)
        hits = page_cache.stats()["hits"]
        second, warm = await counted(c, LOAN_PAGE, {"id": loan}, m.tb)
        third, again = await counted(c, LOAN_PAGE, {"id": loan}, m.tb)
    assert cold > 0
    assert (warm, again) == (0, 0)
    assert first == second == third
    assert len(first["loan"]["participants"]["edges"]) == 3
    assert page_cache.stats()["hits"] >= hits + 3  # participants, versions, funding history


async def test_without_the_page_cache_the_same_page_asks_dynamodb(settings, token):
    """The control: the zero above is the page cache's doing (size 0 turns it off)."""
    async with app_client(settings, page_cache_size=0) as c:
        m = Market(c, token)
        loan = await m.create(lenders=2)
        await counted(c, LOAN_PAGE, {"id": loan}, m.tb)
        _, warm = await counted(c, LOAN_PAGE, {"id": loan}, m.tb)
    assert warm >= 3


async def test_own_writes_are_read_at_once(settings, token):
    async with app_client(settings) as c:
        m = Market(c, token)
        loan = await m.create(lenders=1)
        await gql(c, LOAN_PAGE, {"id": loan}, m.tb)
        assert (await counted(c, LOAN_PAGE, {"id": loan}, m.tb))[1] == 0  # warm

        # a new participant: the participants page
        await m.invite()
        page = (await gql(c, LOAN_PAGE, {"id": loan}, m.tb))["loan"]
        assert len(page["participants"]["edges"]) == 2

        # an acceptance: participant status and the funding history
        v, tl, pid = m.lenders[0]
        d = await gql(c, ACCEPT, {"i": {"participantId": pid}}, tl)
        assert d["acceptInvitation"]["errors"] == [], d
        page = (await gql(c, LOAN_PAGE, {"id": loan}, m.tb))["loan"]
        statuses = {
            e["node"]["lenderEmail"]: e["node"]["status"] for e in page["participants"]["edges"]
        }
        assert statuses[v.email] == "ACCEPTED"
        assert page["fundingHistory"]["edges"][-1]["node"]["totalFunded"] == "10.00"

        # new terms: the versions page
        d = await gql(
            c,
            UPDATE,
            {
                "i": {
                    "id": loan,
                    "expectedVersion": page["version"],
                    "changeReason": "fresh",
                    "title": "Renamed",
                }
            },
            m.tb,
        )
        assert d["updateLoanTerms"]["errors"] == [], d
        page = (await gql(c, LOAN_PAGE, {"id": loan}, m.tb))["loan"]
        assert page["title"] == "Renamed"
        assert page["versions"]["edges"][-1]["node"]["changeReason"] == "fresh"

        # and the borrower's loan list
        before = (await gql(c, MY_LOANS, {}, m.tb))["loans"]["edges"]
        await gql(
            c,
            CREATE,
            {"i": {"title": "Second", "amount": "50", "interestRate": "5", "termMonths": 6}},
            m.tb,
        )
        after = (await gql(c, MY_LOANS, {}, m.tb))["loans"]["edges"]
        assert len(after) == len(before) + 1
        assert "Second" in {e["node"]["title"] for e in after}


async def test_a_change_by_another_process_stays_unseen_until_its_event(settings, token):
    """Without an event the cache keeps serving (the TTL is the safety net);
    the event hook makes the loan's pages unreachable."""
    from events.types import DomainEvent
    from models import Participant

    async with app_client(settings) as c:
        m = Market(c, token)
        loan = await m.create(lenders=1)
        loan_id = expect_global_id(loan, "Loan")
        await gql(c, LOAN_PAGE, {"id": loan}, m.tb)
        v, _, pid = m.lenders[0]
        row = next(iter(Participant.query(loan_id)))
        row.update(actions=[Participant.contribution_amount.set(row.contribution_amount * 3)])
        page, requests = await counted(c, LOAN_PAGE, {"id": loan}, m.tb)
        assert requests == 0
        assert page["loan"]["participants"]["edges"][0]["node"]["contributionAmount"] == "10.00"
        import datetime as dt

        page_cache.on_event(
            DomainEvent(
                id=uuid.uuid4().hex,
                type="PARTICIPANT_INVITED",
                loan_id=loan_id,
                seq=99,
                occurred_at=dt.datetime.now(dt.UTC),
                actor_id=m.borrower.user_id,
                record_id=row.participant_id,
                table_name="participants",
                action="UPDATE",
                borrower_id=m.borrower.user_id,
            )
        )
        page, requests = await counted(c, LOAN_PAGE, {"id": loan}, m.tb)
    assert requests > 0
    assert page["loan"]["participants"]["edges"][0]["node"]["contributionAmount"] == "30.00"


async def test_pages_are_evicted_at_the_size_limit(settings, token):
    # each loan page caches 3 pages weighing 2 + 2 + 2 rows (1 participant, 1 version, 1 point)
    async with app_client(settings, page_cache_size=14) as c:
        try:
            m = Market(c, token)
            loans = []
            for _ in range(3):
                loans.append(await m.create(lenders=1))
            for loan in loans:
                await gql(c, LOAN_PAGE, {"id": loan}, m.tb)
            st = page_cache.stats()
            assert st["rows"] <= 14 and st["evictions"] >= 1
            # the last loan is still served from memory, the first was evicted
            assert (await counted(c, LOAN_PAGE, {"id": loans[-1]}, m.tb))[1] == 0
            assert (await counted(c, LOAN_PAGE, {"id": loans[0]}, m.tb))[1] > 0
        finally:
            page_cache.configure(settings)


async def test_a_removed_lender_stops_seeing_the_loan_at_once(settings, token):
    async with app_client(settings) as c:
        m = Market(c, token)
        loan = await m.create(lenders=2)
        (v1, t1, p1), (v2, t2, _) = m.lenders
        # every view of the loan is warm: the borrower's (all participants), each lender's own
        full = (await gql(c, LOAN_PAGE, {"id": loan}, m.tb))["loan"]
        assert len(full["participants"]["edges"]) == 2
        for v, t in ((v1, t1), (v2, t2)):
            own = (await gql(c, LENDER_PAGE, {"id": loan}, t))["loan"]
            # a lender never gets the borrower's cached page: only their own participation
            assert [e["node"]["lenderEmail"] for e in own["participants"]["edges"]] == [v.email]
            assert (await counted(c, LENDER_PAGE, {"id": loan}, t))[1] <= 1  # the guard lookup

        d = await gql(c, REMOVE, {"i": {"participantId": p1, "reason": "gone"}}, m.tb)
        assert d["removeParticipant"]["errors"] == [], d
        assert (await gql(c, LENDER_PAGE, {"id": loan}, t1))["loan"] is None
        still = (await gql(c, LENDER_PAGE, {"id": loan}, t2))["loan"]
        assert [e["node"]["lenderEmail"] for e in still["participants"]["edges"]] == [v2.email]
        # a stranger never sees it, warm cache or not
        s = new_user("pc-s")
        assert (await gql(c, LOAN_PAGE, {"id": loan}, token(s.user_id, s.email)))["loan"] is None


async def test_funding_points_are_built_once_per_cached_page(settings, token, monkeypatch):
    """A cached funding-history page's points are converted from its rows once
    and shared by the requests that read it; a change makes a new page, whose
    points are built anew; who may read them is still decided per request."""
    from resolvers import loans

    built: list[object] = []

    def counting(m):
        built.append(m)
        return funding_point(m)

    funding_point = loans.funding_point
    monkeypatch.setattr(loans, "funding_point", counting)
    async with app_client(settings) as c:
        m = Market(c, token)
        loan = await m.create(lenders=1)
        first = (await gql(c, LOAN_PAGE, {"id": loan}, m.tb))["loan"]
        points = len(first["fundingHistory"]["edges"])
        assert points >= 1 and len(built) == points
        for _ in range(3):
            assert (await gql(c, LOAN_PAGE, {"id": loan}, m.tb))["loan"] == first
        assert len(built) == points  # not once per request

        v, tl, pid = m.lenders[0]
        d = await gql(c, ACCEPT, {"i": {"participantId": pid}}, tl)
        assert d["acceptInvitation"]["errors"] == [], d
        after = (await gql(c, LOAN_PAGE, {"id": loan}, m.tb))["loan"]
        assert after["fundingHistory"]["edges"][-1]["node"]["totalFunded"] == "10.00"
        assert len(built) == points + len(after["fundingHistory"]["edges"])

        # the warm page is the borrower's: the lender is refused it all the same
        r = (await post(c, LOAN_PAGE, {"id": loan}, token=tl)).json()
        assert r["data"]["loan"] is None
        assert r["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_page_read_across_a_change_is_never_found():
    cache = PageCache(maxsize=100, ttl=60)
    scope = ("loan", "L1")
    gen, page = cache.get(scope, "k")  # a loader misses and starts reading
    assert page is None
    cache.invalidate([scope])  # a commit lands meanwhile
    cache.put(scope, "k", gen, _page(1))  # the (maybe old) page arrives
    gen2, page = cache.get(scope, "k")
    assert page is None and gen2 != gen
    cache.put(scope, "k", gen2, _page(1))
    assert cache.get(scope, "k")[1] is not None
    cache.invalidate([("loan", "L2")])  # another loan's change leaves it alone
    assert cache.get(scope, "k")[1] is not None


def test_a_forgotten_scope_never_revives_old_pages():
    cache = PageCache(maxsize=1, ttl=60)  # the generation table holds 10,000 scopes
    scope = ("loan", "L0")
    gen, _ = cache.get(scope, "k")
    cache.invalidate([scope])
    old_gen, _ = cache.get(scope, "k")
    cache.invalidate([("loan", f"L{i}") for i in range(1, 10_001)])  # overflows the table
    assert cache.generation(scope) not in (gen, old_gen)


def test_size_counts_rows_and_evicts_least_recently_used():
    cache = PageCache(maxsize=10, ttl=60)
    for i in range(3):
        s = ("loan", f"L{i}")
        cache.put(s, "k", cache.generation(s), _page(3))  # weighs 4
    assert len(cache) == 2 and cache.stats()["evictions"] == 1
    assert cache.get(("loan", "L0"), "k")[1] is None
    assert cache.get(("loan", "L2"), "k")[1] is not None
    big = ("loan", "big")
    cache.put(big, "k", cache.generation(big), _page(20))  # larger than the cache: not kept
    assert cache.get(big, "k")[1] is None and len(cache) == 2


def _page(rows: int):
    from core.pagination import Page

    return Page(list(range(rows)), [None] * rows, False, False)
