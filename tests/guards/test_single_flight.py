"""Single-flight refills of the record cache (loaders.cache): concurrent misses of
one key share one BatchGetItem; a reader that starts after a commit never waits
for a read that began before it; the owner's exception reaches its waiters; a
waiter whose owner was cancelled reads for itself."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from core import db
from loaders import Loaders, cache
from loaders.records import LoanByIdLoader
from models import Loan
from tests.conftest import new_user
from tests.guards.conftest import app_client
from tests.guards.test_cache import _create


class GatedLoans(LoanByIdLoader):
    """The real loader, its read held at a gate the test opens (and optionally failing)."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.started = threading.Event()
        self.gate = threading.Event()
        self.reads = 0

    def read(self, keys: Sequence[str]) -> list[Loan | None]:
        self.reads += 1
        self.started.set()
        assert self.gate.wait(30), "the test never opened the gate"
        if self.fail:
            raise RuntimeError("boom")
        return super().read(keys)


@pytest.fixture
async def loan_id(settings, token):
    v = new_user("flight")
    async with app_client(settings) as c:
        _, loan_id = await _create(c, token(v.user_id, v.email))
    cache.CACHE.invalidate("loans", loan_id)  # not cached: the next read refills
    return loan_id


async def _joined(before: int) -> None:
    """Wait (with a deadline) until a reader has joined a flight."""
    deadline = time.monotonic() + 10
    while cache.CACHE.joined["loans"] == before:
        assert time.monotonic() < deadline, "no reader joined the flight"
        await asyncio.sleep(0.005)


async def _owner(loader: GatedLoans, loan_id: str) -> asyncio.Task:
    task = asyncio.create_task(loader.batch_load_fn([loan_id]))
    assert await asyncio.to_thread(loader.started.wait, 10)
    return task


async def test_concurrent_misses_share_one_read(loan_id):
    before, joined = db.TOTALS.total, cache.CACHE.joined["loans"]
    rows = await asyncio.gather(*(Loaders().loan_by_id.load(loan_id) for _ in range(8)))
    assert {r.title for r in rows} == {"Before"}
    assert db.TOTALS.total - before == 1  # one BatchGetItem for eight requests
    assert cache.CACHE.joined["loans"] - joined == 7
    before = db.TOTALS.total
    await asyncio.gather(*(Loaders().loan_by_id.load(loan_id) for _ in range(8)))
    assert db.TOTALS.total == before  # and it filled the cache


async def test_a_reader_after_a_commit_does_not_wait_for_an_older_read(loan_id):
    owner = GatedLoans()
    task = await _owner(owner, loan_id)
    try:
        joined = cache.CACHE.joined["loans"]
        waiter = asyncio.ensure_future(Loaders().loan_by_id.load(loan_id))
        await _joined(joined)  # started before the commit: shares the read
        # a commit lands while the read is in flight (as services.tx does: write, then the hook)
        await asyncio.to_thread(Loan(loan_id=loan_id).update, actions=[Loan.title.set("After")])
        cache.CACHE.invalidate("loans", loan_id)
        fresh = await asyncio.wait_for(Loaders().loan_by_id.load(loan_id), 10)
        assert fresh.title == "After"
        assert not task.done() and not waiter.done()
    finally:
        owner.gate.set()
    (row,) = await task
    assert (await waiter) is row and owner.reads == 1


async def test_the_owners_error_reaches_its_waiters(loan_id):
    owner = GatedLoans(fail=True)
    task = await _owner(owner, loan_id)
    joined = cache.CACHE.joined["loans"]
    waiter = asyncio.ensure_future(Loaders().loan_by_id.load(loan_id))
    await _joined(joined)
    owner.gate.set()
    with pytest.raises(RuntimeError, match="boom"):
        await task
    with pytest.raises(RuntimeError, match="boom"):
        await waiter
    # the failed flight is over: the next reader reads
    assert (await Loaders().loan_by_id.load(loan_id)).title == "Before"


async def test_a_waiter_reads_for_itself_when_its_owner_is_cancelled(loan_id):
    owner = GatedLoans()
    task = await _owner(owner, loan_id)
    try:
        joined = cache.CACHE.joined["loans"]
        waiter = asyncio.ensure_future(Loaders().loan_by_id.load(loan_id))
        await _joined(joined)
        task.cancel()
        row = await asyncio.wait_for(waiter, 10)  # the gate is still shut
        assert row.title == "Before"
    finally:
        owner.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
