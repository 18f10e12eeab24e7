"""The record cache under the loaders: a repeated read makes no DynamoDB
request; this process's own writes and events from other replicas invalidate;
mutations read fresh; hits and misses are counted; the TTL bounds staleness."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import pytest

from core import db
from events.types import DomainEvent
from loaders import Loaders, cache
from models import Loan
from tests.conftest import new_user
from tests.guards.conftest import app_client, post

CREATE = """mutation($i: CreateLoanInput!) {
  createLoan(input: $i) { loan { id version } errors { code message } } }"""
UPDATE = """mutation($i: UpdateLoanTermsInput!) {
  updateLoanTerms(input: $i) { loan { title version } errors { code message } } }"""
READ = "query($id: ID!) { loan(id: $id) { title version borrower { userId } } }"


@pytest.fixture
def borrower(token):
    v = new_user("cache")
    return v, token(v.user_id, v.email)


async def _create(c, t) -> tuple[str, str]:
    r = (
        await post(
            c,
            CREATE,
            {"i": {"title": "Before", "amount": "1000.00", "interestRate": "5", "termMonths": 12}},
            token=t,
        )
    ).json()
    assert r["data"]["createLoan"]["errors"] == [], r
    gid = r["data"]["createLoan"]["loan"]["id"]
    from core.ids import expect_global_id

    return gid, expect_global_id(gid, "Loan")


async def _read(c, t, gid) -> tuple[dict, int]:
    before = db.TOTALS.total
    r = (await post(c, READ, {"id": gid}, token=t)).json()
    assert "errors" not in r, r
    return r["data"]["loan"], db.TOTALS.total - before


async def test_repeated_read_makes_no_dynamodb_request(settings, borrower):
    v, t = borrower
    async with app_client(settings) as c:
        gid, loan_id = await _create(c, t)
        first, _ = await _read(c, t, gid)
        hits = cache.stats()["loans"]["hits"]
        second, requests = await _read(c, t, gid)
    assert first == second == {"title": "Before", "version": 1, "borrower": {"userId": v.user_id}}
    assert requests == 0
    assert cache.stats()["loans"]["hits"] == hits + 1
    assert cache.stats()["users"]["hits"] >= 1


async def test_own_write_invalidates(settings, borrower):
    v, t = borrower
    async with app_client(settings) as c:
        gid, _ = await _create(c, t)
        await _read(c, t, gid)
        assert (await _read(c, t, gid))[1] == 0  # cached
        r = (
            await post(
                c,
                UPDATE,
                {"i": {"id": gid, "expectedVersion": 1, "changeReason": "typo", "title": "After"}},
                token=t,
            )
        ).json()
        assert r["data"]["updateLoanTerms"]["errors"] == [], r
        # the very next read on this replica sees the change
        loan, requests = await _read(c, t, gid)
    assert (loan["title"], loan["version"]) == ("After", 2)
    assert requests > 0


async def test_event_from_another_replica_invalidates(settings, borrower):
    v, t = borrower
    async with app_client(settings) as c:
        gid, loan_id = await _create(c, t)
        await _read(c, t, gid)
        # another replica changes the loan (written straight to the table: no hook here)
        Loan(loan_id=loan_id).update(actions=[Loan.title.set("Elsewhere")])
        stale, requests = await _read(c, t, gid)
        assert (stale["title"], requests) == ("Before", 0)  # within the TTL, until the event
        # when its event arrives through the dispatcher's invalidation hook
        cache.on_event(
            DomainEvent(
                id=uuid.uuid4().hex,
                type="LOAN_UPDATED",
                loan_id=loan_id,
                seq=2,
                occurred_at=dt.datetime.now(dt.UTC),
                actor_id=v.user_id,
                record_id=loan_id,
                table_name="loans",
                action="UPDATE",
                borrower_id=v.user_id,
            )
        )
        fresh, requests = await _read(c, t, gid)
    assert fresh["title"] == "Elsewhere" and requests > 0


async def test_mutations_and_fresh_loaders_bypass_the_cache(settings, borrower):
    v, t = borrower
    async with app_client(settings) as c:
        gid, loan_id = await _create(c, t)
        await _read(c, t, gid)  # cached now
    Loan(loan_id=loan_id).update(actions=[Loan.title.set("Direct")])
    before = db.TOTALS.total
    row = await Loaders().loan_by_id.load(loan_id)
    assert row.title == "Before" and db.TOTALS.total == before
    row = await Loaders(fresh=True).loan_by_id.load(loan_id)
    assert row.title == "Direct" and db.TOTALS.total == before + 1


async def test_ttl_bounds_staleness(settings, borrower):
    v, t = borrower
    async with app_client(settings, cache_ttl_seconds=0.3) as c:
        try:
            gid, loan_id = await _create(c, t)
            await _read(c, t, gid)
            Loan(loan_id=loan_id).update(actions=[Loan.title.set("Later")])
            assert (await _read(c, t, gid))[0]["title"] == "Before"
            # Past the TTL the change shows (no event invalidated it: only the TTL can).
            deadline = time.monotonic() + 10
            while (await _read(c, t, gid))[0]["title"] != "Later":
                assert time.monotonic() < deadline, "the cached title outlived its TTL"
                await asyncio.sleep(0.05)
        finally:
            cache.configure(settings)  # back to the default TTL


def test_a_fill_that_raced_an_invalidation_is_dropped(settings):
    c = cache.RecordCache(ttl=5)
    epoch = c.epoch()  # a loader starts reading
    c.invalidate("loans", "L1")  # a commit lands meanwhile
    c.fill("loans", [("L1", object())], epoch)  # the (maybe old) row arrives
    assert c.get_many("loans", ["L1"]) == ({}, ["L1"])
    c.fill("loans", [("L1", "row")], c.epoch())
    assert c.get_many("loans", ["L1", "L1"]) == ({"L1": "row"}, [])
