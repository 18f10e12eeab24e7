"""Helpers every resolver uses: paging through DynamoDB, loading users."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pynamodb.attributes import UTCDateTimeAttribute

from core.pagination import Page, PageArgs, QuerySpec
from resolvers.context import Context


async def run_page(ctx: Context, spec: QuerySpec, args: PageArgs) -> Page[Any]:
    """One page of a connection, through the request's PageLoader."""
    return await ctx.loaders.pages(ctx.settings).load((spec, args))


def viewer_scope(ctx: Context) -> str:
    """Part of a cursor fingerprint: a cursor works only for the viewer it was issued to."""
    return ctx.viewer.user_id if ctx.viewer else "-"


def time_range(sk: Any, from_: dt.datetime | None, to: dt.datetime | None) -> Any:
    """Key condition on a "<UTC timestamp>#<id>" sort key between `from_` and
    `to` (both inclusive); "~" sorts after every "#..." suffix."""

    def ts(value: dt.datetime) -> str:
        return UTCDateTimeAttribute().serialize(value)

    if from_ is not None and to is not None:
        return sk.between(ts(from_), ts(to) + "~")
    if from_ is not None:
        return sk >= ts(from_)
    if to is not None:
        return sk <= ts(to) + "~"
    return None


def connection(conn_cls: Any, edge_cls: Any, page: Page[Any], node: Any, **extra: Any) -> Any:
    """A Relay connection of `page`: one edge per row (`node(row)`), its PageInfo."""
    from schema.common import PageInfo

    return conn_cls(
        edges=[
            edge_cls(cursor=c, node=node(m)) for m, c in zip(page.items, page.cursors, strict=True)
        ],
        page_info=PageInfo.of(page),
        **extra,
    )
