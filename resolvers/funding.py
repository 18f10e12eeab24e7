"""Time-bucketed funding history: one point per hour or day, the last state in it.

Buckets are read from the raw series with one Query (paged by DynamoDB): going
forward a bucket is complete when the next bucket's first point shows up; going
backward the first point met in a bucket is its last state. Each bucket's cursor
is the key of that last point, so paging is exact and stable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import models
from core.cursors import decode_cursor, encode_cursor
from core.pagination import Page, PageArgs, item_key

M = models.LoanMetric


def bucket_of(ts: dt.datetime, bucket: str) -> dt.datetime:
    ts = ts.astimezone(dt.UTC)
    if bucket == "HOUR":
        return ts.replace(minute=0, second=0, microsecond=0)
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def _key_attrs() -> list[Any]:
    attrs = M.get_attributes()
    return [attrs["loan_id"], attrs["sk"]]


def _rows(loan_id: str, cond: Any, forward: bool, start: dict[str, Any] | None) -> Iterator[Any]:
    return iter(
        M.query(
            loan_id,
            range_key_condition=cond,
            scan_index_forward=forward,
            last_evaluated_key=start,
            page_size=100,
        )
    )


def fetch_bucketed(
    loan_id: str, cond: Any, bucket: str, args: PageArgs, fp: str, secret: bytes, ttl: int
) -> Page[Any]:
    """Blocking: run through `core.db.run_db`."""
    args = args.validate()
    forward, size = args.forward, args.size
    start = None
    skip_bucket = None
    if args.cursor is not None:
        name, raw = args.cursor
        start = decode_cursor(raw, fp, secret, name)
        # A cursor is a bucket's last point: going backward, skip the rest of its bucket.
        ts = M.timestamp.deserialize(start["sk"]["S"].split("#", 1)[0])
        skip_bucket = bucket_of(ts, bucket) if not forward else None
    points: list[Any] = []  # (bucket, last row)
    for row in _rows(loan_id, cond, forward, start):
        b = bucket_of(row.timestamp, bucket)
        if skip_bucket is not None and b == skip_bucket:
            continue
        if forward:
            if points and points[-1][0] == b:
                points[-1] = (b, row)  # a later point of the same bucket
                continue
            if len(points) == size + 1:
                break
            points.append((b, row))
        else:
            if points and points[-1][0] == b:
                continue  # earlier points of a bucket we already have
            points.append((b, row))
            if len(points) == size + 1:
                break
    more = len(points) > size
    points = points[:size]
    if not forward:
        points.reverse()
    rows = [r for _, r in points]
    cursors = [encode_cursor(item_key(r, _key_attrs()), fp, secret, ttl) for r in rows]
    beyond = start is not None  # the cursor's own bucket lies on the other side
    if forward:
        return Page(rows, cursors, has_next_page=more, has_previous_page=beyond)
    return Page(rows, cursors, has_next_page=beyond, has_previous_page=more)
