"""An execution leaves nothing for the garbage collector (schema/event_memo.py):
graphql-core's executor referred to itself through its `async_helpers`, so each
request's executor, context and loaders were freed only by a collection."""

from __future__ import annotations

import gc

from graphql.execution.executor import Executor

from loaders import page_cache
from resolvers.context import Context
from tests.guards.conftest import app_client
from tests.read.test_page_cache import LOAN_PAGE, Market, gql


async def test_a_loan_page_leaves_no_cycle_to_collect(settings, token):
    page_cache.PAGES.clear()
    async with app_client(settings) as c:
        m = Market(c, token)
        loan = await m.create(lenders=2)
        first = await gql(c, LOAN_PAGE, {"id": loan}, m.tb)
        gc.collect()
        flags = gc.get_debug()
        gc.disable()
        try:
            for _ in range(3):
                assert await gql(c, LOAN_PAGE, {"id": loan}, m.tb) == first
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            left = [type(o).__name__ for o in gc.garbage if isinstance(o, (Executor, Context))]
        finally:
            gc.set_debug(flags)
            gc.garbage.clear()
            gc.enable()
    page_cache.PAGES.clear()
    assert left == []
