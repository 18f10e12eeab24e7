"""Relay pagination on DynamoDB keys: forward, backward, page edges, empty,
exactly 100, 101, and cursors that are tampered, foreign or expired."""

from __future__ import annotations

import datetime as dt

import pytest

from core.cursors import encode_cursor, fingerprint
from tests.conftest import new_user
from tests.factories import make_loan, write_all
from tests.graphql_client import gql

UTC = dt.UTC

LOANS = """
query($first: Int, $after: String, $last: Int, $before: String, $status: LoanStatus) {
  loans(first: $first, after: $after, last: $last, before: $before, filter: {status: $status}) {
    edges { cursor node { title } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}
"""


def seed(n: int, prefix: str = "b"):
    borrower = new_user(prefix)
    base = dt.datetime(2026, 3, 1, tzinfo=UTC)
    loans = [
        make_loan(borrower, title=f"L{i:03d}", created_at=base + dt.timedelta(minutes=i))
        for i in range(n)
    ]
    write_all(loans)
    return borrower


async def page(client, tok, **variables):
    r = await gql(client, LOANS, variables, token=tok)
    assert "errors" not in r, r
    conn = r["data"]["loans"]
    return [e["node"]["title"] for e in conn["edges"]], conn["pageInfo"], conn


@pytest.fixture(scope="module")
def b250(settings):
    return seed(250, "p250")


async def test_forward_pages_walk_everything_in_order(client, token, b250):
    tok = token(b250.user_id, b250.email)
    seen, after, pages = [], None, 0
    while True:
        titles, info, _ = await page(client, tok, first=100, after=after)
        pages += 1
        seen += titles
        assert info["hasPreviousPage"] is (after is not None)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert pages == 3
    assert seen == [f"L{i:03d}" for i in range(250)]


async def test_backward_pages_walk_everything_in_order(client, token, b250):
    tok = token(b250.user_id, b250.email)
    seen, before = [], None
    while True:
        titles, info, _ = await page(client, tok, last=100, before=before)
        seen = titles + seen
        assert info["hasNextPage"] is (before is not None)
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
    assert seen == [f"L{i:03d}" for i in range(250)]


async def test_page_edges_and_cursors_of_edges(client, token, b250):
    tok = token(b250.user_id, b250.email)
    titles, info, conn = await page(client, tok, first=3)
    assert titles == ["L000", "L001", "L002"]
    assert info["startCursor"] == conn["edges"][0]["cursor"]
    assert info["endCursor"] == conn["edges"][-1]["cursor"]
    # after an edge's own cursor comes the next item
    titles, info, _ = await page(client, tok, first=2, after=conn["edges"][1]["cursor"])
    assert titles == ["L002", "L003"] and info["hasPreviousPage"] and info["hasNextPage"]
    # before an edge's cursor come the items ahead of it
    titles, info, _ = await page(client, tok, last=2, before=conn["edges"][2]["cursor"])
    assert titles == ["L000", "L001"] and not info["hasPreviousPage"] and info["hasNextPage"]
    # the very end
    titles, info, _ = await page(client, tok, last=1)
    assert titles == ["L249"] and info["hasPreviousPage"] and not info["hasNextPage"]
    # totalCount has no counter behind it
    assert conn["totalCount"] is None


async def test_default_page_is_20(client, token, b250):
    titles, info, _ = await page(client, token(b250.user_id, b250.email))
    assert len(titles) == 20 and info["hasNextPage"]


@pytest.mark.parametrize(
    "n,first,expect_next", [(0, 10, False), (100, 100, False), (101, 100, True)]
)
async def test_sizes(client, token, settings, n, first, expect_next):
    borrower = seed(n, f"s{n}")
    titles, info, _ = await page(client, token(borrower.user_id, borrower.email), first=first)
    assert len(titles) == min(n, first)
    assert info["hasNextPage"] is expect_next
    assert info["hasPreviousPage"] is False
    if n == 0:
        assert info["startCursor"] is None and info["endCursor"] is None
    if n == 101:
        rest, info2, _ = await page(
            client, token(borrower.user_id, borrower.email), first=100, after=info["endCursor"]
        )
        assert (
            rest == ["L100"] and info2["hasNextPage"] is False and info2["hasPreviousPage"] is True
        )


async def _error(client, tok, **variables):
    r = await gql(client, LOANS, variables, token=tok)
    assert r.get("data") in (None, {"loans": None}) or r["data"] is None, r
    return r["errors"][0]


@pytest.mark.parametrize(
    "variables",
    [
        {"first": 0},
        {"first": 101},
        {"last": 0},
        {"first": 5, "last": 5},
        {"first": 5, "before": "x"},
        {"last": 5, "after": "x"},
    ],
)
async def test_bad_arguments_are_bad_user_input(client, token, b250, variables):
    err = await _error(client, token(b250.user_id, b250.email), **variables)
    assert err["extensions"]["code"] == "BAD_USER_INPUT", err


async def test_tampered_cursor(client, token, b250):
    tok = token(b250.user_id, b250.email)
    _, info, _ = await page(client, tok, first=2)
    cursor = info["endCursor"]
    body, sig = cursor.split(".")
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + sig
    for bad in (tampered, cursor[:-3], "not-a-cursor", ""):
        err = await _error(client, tok, first=2, after=bad)
        assert err["extensions"]["code"] == "BAD_USER_INPUT", (bad, err)


async def test_foreign_cursor_from_another_filter(client, token, b250):
    tok = token(b250.user_id, b250.email)
    _, info, _ = await page(client, tok, first=2)
    err = await _error(client, tok, first=2, after=info["endCursor"], status="PENDING")
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert "different query" in err["message"]


async def test_cursor_of_another_viewer_is_refused(client, token, b250):
    admin = token("admin-pager", "admin-pager@example.com", admin=True)
    _, info, _ = await page(client, token(b250.user_id, b250.email), first=2)
    r = await gql(
        client,
        LOANS.replace("filter: {status: $status}", "filter: {status: $status}"),
        {"first": 2, "after": info["endCursor"]},
        token=admin,
    )
    assert r["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_expired_cursor(client, token, settings, b250):
    tok = token(b250.user_id, b250.email)
    fp = fingerprint("loans", b250.user_id, None, False, b250.user_id)
    key = {"loan_id": {"S": "x"}, "borrower_id": {"S": b250.user_id}, "created_at": {"S": "2026"}}
    expired = encode_cursor(key, fp, settings.signing_secret, ttl_seconds=-10)
    err = await _error(client, tok, first=2, after=expired)
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and "expired" in err["message"]
