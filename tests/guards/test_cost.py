"""Query cost on known documents (hand-computed), `extensions.cost` on every
response, and QUERY_TOO_COMPLEX before anything runs (no DynamoDB request)."""

from __future__ import annotations

import pytest
from graphql import parse

from core import db
from guards.cost import analyze
from schema import default_schema
from tests.conftest import new_user
from tests.factories import make_loan, make_participant
from tests.guards.conftest import app_client, post

VIEWER = "{ viewer { userId } }"
# 1 (loans) + 10 (participants, once per loan) = 11; nodes 10 + 10*5 = 60; depth 7
LOANS_10x5 = """{ loans(first: 10) { pageInfo { hasNextPage } edges { cursor node {
  loanId participants(first: 5) { edges { node { participantId } } } } } } }"""
# the foundation benchmark: 1 + 100 = 101; nodes 100 + 100*10 = 1,100
NESTED_100x10 = """{ loans(first: 100) { edges { node { loanId participants(first: 10) {
  edges { node { participantId lender { userId } } } } } } } }"""
# default page 20: 1 + 20 = 21; nodes 20 + 20*20 = 420
DEFAULT_PAGES = "{ loans { edges { node { versions { edges { node { version } } } } } } }"
VARIABLES = """query($n: Int = 7) { loans(first: $n) { edges { node {
  participants(last: 3) { edges { node { participantId } } } } } } }"""
# the fragment is spread twice: its connection counts twice: 2 * (1 + 4) = 10
FRAGMENTS = """{ a: loans(first: 4) { ...L } b: loans(first: 4) { ...L } }
fragment L on LoanConnection {
  edges { node { versions(first: 2) { edges { node { version } } } } } }"""
# list argument of 3 ids: 3 participant connections of 2; nodes 3*2 = 6
NODES_LIST = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Loan {
  participants(first: 2) { edges { node { participantId } } } } } }"""
# a mutation's root field: 10, plus the connection in its payload: 11
MUTATION = """mutation {
  createLoan(input: {title: "t", amount: "1", interestRate: "1", termMonths: 1}) {
  loan { participants(first: 3) { edges { node { participantId } } } } errors { code } } }"""
# 1 + 100 + 100*100 = 10,101; nodes 100 + 10,000 + 100,000 = 110,100; depth 10
TOO_COMPLEX = """{ loans(first: 100) { edges { node { participants(first: 100) { edges { node {
  loan { versions(first: 10) { pageInfo { hasNextPage } } } } } } } } } }"""


@pytest.mark.parametrize(
    ("document", "variables", "cost", "nodes", "depth"),
    [
        (VIEWER, None, 0, 0, 2),
        (LOANS_10x5, None, 11, 60, 7),
        (NESTED_100x10, None, 101, 1100, 8),
        (DEFAULT_PAGES, None, 21, 420, 7),
        (VARIABLES, None, 8, 28, 7),
        (VARIABLES, {"n": 4}, 5, 16, 7),
        (FRAGMENTS, None, 10, 24, 7),
        (NODES_LIST, {"ids": ["a", "b", "c"]}, 3, 6, 5),
        (MUTATION, None, 11, 3, 6),
        (TOO_COMPLEX, None, 10101, 110100, 10),
    ],
)
def test_cost_of_known_documents(document, variables, cost, nodes, depth):
    a = analyze(default_schema()._schema, parse(document), None, variables, max_depth=20)
    assert (a.cost, a.nodes, a.depth) == (cost, nodes, depth)


async def test_every_response_carries_cost_and_throttle_status(settings, token):
    # given a borrower with 2 loans, one participant each
    b = new_user("cost")
    loans = [make_loan(b), make_loan(b)]
    for loan in loans:
        loan.save()
        make_participant(loan, "l@example.com").save()
    async with app_client(settings) as c:
        # when they read 10 loans with 5 participants each
        r = await post(c, LOANS_10x5, token=token(b.user_id, b.email))
    body = r.json()
    # then the requested cost is 11, the actual 1 + 2 (two loans came back), and the
    # budget and the headers show the 11 points spent
    assert "errors" not in body, body
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 11 and cost["actualQueryCost"] == 3 and cost["nodes"] == 60
    status = cost["throttleStatus"]
    assert (status["maximumAvailable"], status["currentlyAvailable"], status["used"]) == (
        5000,
        4989,
        11,
    )
    assert status["windowSeconds"] == 3600
    assert r.headers["X-RateLimit-Limit"] == "5000"
    assert r.headers["X-RateLimit-Remaining"] == "4989"
    assert r.headers["X-RateLimit-Used"] == "11"
    assert int(r.headers["X-RateLimit-Reset"]) % 3600 == 0


async def test_rate_limit_field_reports_this_request(settings, token):
    v = new_user("rl")
    async with app_client(settings) as c:
        r = await post(
            c, "{ rateLimit { limit cost remaining resetAt } }", token=token(v.user_id, v.email)
        )
    data = r.json()["data"]["rateLimit"]
    # a document without connections costs the minimum: 1
    assert (data["limit"], data["cost"], data["remaining"]) == (5000, 1, 4999)
    assert data["resetAt"].endswith(("Z", "+00:00"))


async def test_too_complex_is_refused_before_anything_runs(settings, token):
    v = new_user("complex")
    t = token(v.user_id, v.email)
    async with app_client(settings, rate_limit_backend="dynamodb") as c:
        await post(c, VIEWER, token=t)  # first use upserts the user
        before = db.TOTALS.total
        r = await post(c, TOO_COMPLEX, token=t)
        after = db.TOTALS.total
    body = r.json()
    assert r.status_code == 200 and body["data"] is None
    (error,) = body["errors"]
    ext = error["extensions"]
    assert ext["code"] == "QUERY_TOO_COMPLEX"
    assert (ext["cost"], ext["maxCost"], ext["nodes"], ext["maxNodes"]) == (
        10101,
        1000,
        110100,
        50000,
    )
    # not even the DynamoDB rate limiter was asked: refused queries are not charged
    assert after == before
    assert body["extensions"]["cost"]["requestedQueryCost"] == 10101
    assert body["extensions"]["cost"]["throttleStatus"] is None


async def test_node_limit_alone_refuses(settings, token):
    # 1 + 100 = 101 points but 100 + 100*100 + ... nodes: 4 connections of 100 under 100 loans
    doc = """{ loans(first: 100) { edges { node {
      a: participants(first: 100) { edges { node { participantId } } }
      b: versions(first: 100) { edges { node { version } } }
      c: auditTrail(first: 100) { edges { node { auditId } } }
      d: fundingHistory(first: 100) { edges { node { totalFunded } } }
      e: participants(first: 100) { edges { node { participantId } } }
    } } } }"""
    a = analyze(default_schema()._schema, parse(doc))
    assert (a.cost, a.nodes) == (501, 50100)
    v = new_user("nodes")
    async with app_client(settings) as c:
        r = await post(c, doc, token=token(v.user_id, v.email))
    assert r.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
