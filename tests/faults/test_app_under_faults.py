"""The app (real Starlette app, real DynamoDB Local) behind the fault proxy:
each fault kind against the code path it hits. Reads answer correctly or fail
with a code; every mutation commits exactly once or returns SERVICE_UNAVAILABLE
and leaves no trace."""

from __future__ import annotations

import pytest

from core import db
from models import AuditEntry, Loan, tables
from tests.conftest import new_user
from tests.graphql_client import gql

B, L1 = new_user("b"), new_user("l1")

CREATE = """mutation($i: CreateLoanInput!) { createLoan(input: $i) {
  loan { id loanId title version } errors { code } } }"""
UPDATE = """mutation($i: UpdateLoanTermsInput!) { updateLoanTerms(input: $i) {
  loan { version amount } errors { code } } }"""
INVITE = """mutation($i: InviteParticipantInput!) { inviteParticipant(input: $i) {
  participant { id } errors { code } } }"""
LOAN = """query($id: ID!) { loan(id: $id) { loanId title version amount
  participants(first: 50) { edges { node { lenderEmail contributionAmount } } } } }"""
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Loan { loanId title } } }"""


def tb(token):
    return token(B.user_id, B.email)


def audit_count(loan_id: str) -> int:
    return sum(1 for _ in AuditEntry.by_loan.query(loan_id))


async def create_loan(client, token, title: str = "Roof") -> dict:
    r = await gql(
        client,
        CREATE,
        {"i": {"title": title, "amount": "1000", "interestRate": "5", "termMonths": 12}},
        token=tb(token),
    )
    return r


@pytest.fixture(scope="module")
def settings(fault_proxy):
    """The proxied settings with the record cache off: every read reaches DynamoDB."""
    import uuid

    from tests.conftest import make_settings

    s = make_settings(
        fault_proxy.endpoint,
        table_prefix=f"f{uuid.uuid4().hex[:8]}_",
        db_read_timeout=2.0,
        db_max_attempts=3,
        cache_ttl_seconds=0,
    )
    # Tables are created with the default (patient) timeouts: a loaded machine
    # can take more than the tests' short read timeout to create one.
    tables.configure(s.with_(db_read_timeout=30.0, db_max_attempts=5))
    tables.create_tables(s)
    tables.configure(s)
    return s


# ---------------------------------------------------------------- reads
async def test_reads_ride_out_throttling_and_5xx(client, token, fault_proxy) -> None:
    r = await create_loan(client, token)
    loan = r["data"]["createLoan"]["loan"]
    fault_proxy.set_rules(
        [
            # Within botocore's 3 attempts: throttled, then a 500, then answered;
            # afterwards every other attempt is refused.
            {"kind": "throttling", "targets": ["BatchGetItem", "Query"], "first": 1},
            {"kind": "internal_error", "targets": ["BatchGetItem", "Query"], "first": 1},
            {"kind": "provisioned_throughput", "targets": ["BatchGetItem", "Query"], "every": 2},
        ]
    )
    for _ in range(3):
        r = await gql(client, LOAN, {"id": loan["id"]}, token=tb(token))
        assert "errors" not in r, r
        assert r["data"]["loan"]["title"] == "Roof" and r["data"]["loan"]["version"] == 1
    assert fault_proxy.injected() >= 3  # the faults did hit these reads


async def test_a_read_that_keeps_failing_is_service_unavailable(client, token, fault_proxy) -> None:
    r = await create_loan(client, token)
    gid = r["data"]["createLoan"]["loan"]["id"]
    fault_proxy.set_rules([{"kind": "request_limit", "targets": ["BatchGetItem"]}])
    r = await client.post(
        "/graphql",
        json={"query": LOAN, "variables": {"id": gid}},
        headers={"Authorization": f"Bearer {tb(token)}"},
    )
    assert r.status_code == 200
    body = r.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"]
    assert "throttling" in body["errors"][0]["message"]
    assert fault_proxy.injected("request_limit", "BatchGetItem") == 3  # db_max_attempts


async def test_batch_read_completes_unprocessed_keys(client, token, fault_proxy) -> None:
    ids = []
    for i in range(7):
        r = await create_loan(client, token, title=f"L{i}")
        ids.append(r["data"]["createLoan"]["loan"]["id"])
    # Every BatchGetItem answers only half its keys, three times over.
    fault_proxy.set_rules([{"kind": "unprocessed_keys", "first": 3, "keep": 0.5}])
    r = await gql(client, NODES, {"ids": ids}, token=tb(token))
    assert "errors" not in r, r
    assert [n["title"] for n in r["data"]["nodes"]] == [f"L{i}" for i in range(7)]
    assert fault_proxy.injected("unprocessed_keys", "BatchGetItem") == 3


# ---------------------------------------------------------------- transactions
async def test_transaction_conflicts_are_retried_and_commit_once(
    client, token, fault_proxy
) -> None:
    fault_proxy.set_rules(
        [{"kind": "transaction_conflict", "targets": ["TransactWriteItems"], "first": 3}]
    )
    r = await create_loan(client, token)
    assert r["data"]["createLoan"]["errors"] == [], r
    fault_proxy.reset()
    loan_id = r["data"]["createLoan"]["loan"]["loanId"]
    assert await db.run_db(audit_count, loan_id) == 1


@pytest.mark.parametrize("kind,times", [("slow", 1), ("drop_after", 1), ("drop_after", 5)])
async def test_a_transaction_applied_but_unanswered_is_not_applied_twice(
    client, token, fault_proxy, kind, times
) -> None:
    r = await create_loan(client, token)
    loan = r["data"]["createLoan"]["loan"]
    # The update is applied by DynamoDB, but its answer is lost (timed out or the
    # connection dropped): botocore resends the same request, same token; past
    # botocore's 3 attempts (times=5) the Tx resends it with the same token.
    fault_proxy.set_rules(
        [{"kind": kind, "targets": ["TransactWriteItems"], "first": times, "delay": 3.5}]
    )
    r = await gql(
        client,
        UPDATE,
        {"i": {"id": loan["id"], "expectedVersion": 1, "amount": "1500", "changeReason": "more"}},
        token=tb(token),
    )
    assert fault_proxy.injected(kind, "TransactWriteItems") == times
    assert r["data"]["updateLoanTerms"]["errors"] == [], r
    assert r["data"]["updateLoanTerms"]["loan"] == {"version": 2, "amount": "1500.00"}
    fault_proxy.reset()
    stored = await db.run_db(Loan.get, loan["loanId"], consistent_read=True)
    assert int(stored.version) == 2
    assert await db.run_db(audit_count, loan["loanId"]) == 2  # create + one update


async def test_a_transaction_that_keeps_failing_leaves_no_trace(client, token, fault_proxy) -> None:
    fault_proxy.set_rules([{"kind": "throttling", "targets": ["TransactWriteItems"]}])
    r = await client.post(
        "/graphql",
        json={
            "query": CREATE,
            "variables": {
                "i": {"title": "Never", "amount": "1000", "interestRate": "5", "termMonths": 12}
            },
        },
        headers={"Authorization": f"Bearer {tb(token)}"},
    )
    assert r.status_code == 200
    body = r.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"], body
    fault_proxy.reset()
    mine = await db.run_db(
        lambda: [l.title for l in Loan.scan(Loan.borrower_id == B.user_id, consistent_read=True)]
    )
    assert "Never" not in mine


async def test_a_transaction_with_5xx_answers_is_resent_with_its_token(
    client, token, fault_proxy
) -> None:
    # More 500s than botocore's attempts: the Tx resends the same request.
    fault_proxy.set_rules(
        [{"kind": "internal_error", "targets": ["TransactWriteItems"], "first": 4}]
    )
    r = await create_loan(client, token, title="Late")
    assert r["data"]["createLoan"]["errors"] == [], r
    assert fault_proxy.injected("internal_error") == 4
    fault_proxy.reset()
    assert await db.run_db(audit_count, r["data"]["createLoan"]["loan"]["loanId"]) == 1
