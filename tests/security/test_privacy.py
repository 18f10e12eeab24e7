"""What each party may see (docs/security.md): a lender sees aggregates, never
another lender's figures or identity; request metadata of audit entries only
to admins and the entry's actor. Every rule for the borrower, a lender and an
admin, against a real server process.

(Just over 400 lines on purpose: one module is the whole table of
docs/security.md, row by row, on one server and one story.)"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.subscriptions.client import recv, token_for, ws_connect

CREATE = """mutation($i: CreateLoanInput!) { createLoan(input: $i) { loan { id loanId } errors { code } } }"""
INVITE = """mutation($i: InviteParticipantInput!) { inviteParticipant(input: $i) {
  participant { id participantId } errors { code } } }"""
ACCEPT = """mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { errors { code } } }"""
UPDATE = """mutation($i: UpdateLoanTermsInput!) { updateLoanTerms(input: $i) { loan { version } errors { code } } }"""
REGISTER = """mutation($i: RegisterWebhookInput!) { registerWebhook(input: $i) {
  webhook { id } errors { field code message } } }"""


@dataclass
class Party:
    name: str
    user_id: str
    email: str
    token: str


def party(name: str, admin: bool = False) -> Party:
    uid = f"{name}-{uuid.uuid4().hex[:8]}"
    email = f"{uid}@example.com"
    return Party(name, uid, email, token_for(uid, email, admin=admin))


async def post(base: str, query: str, variables: dict[str, Any] | None, who: Party, **headers: str):
    async with httpx.AsyncClient(base_url=base, timeout=15) as c:
        r = await c.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {who.token}", **headers},
        )
    assert r.status_code == 200, r.text
    return r.json()


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return body["data"]


def refused(body: dict[str, Any], *paths: list[Any]) -> None:
    """Exactly these paths were refused, each with FORBIDDEN."""
    errors = body.get("errors") or []
    assert sorted(e["path"] for e in errors) == sorted(paths), body
    assert {e["extensions"]["code"] for e in errors} == {"FORBIDDEN"}, body


@pytest.fixture(scope="module")
async def world(server, receivers):
    """A loan of 1,000 with lenders L1 (300, accepted), L2 (200, accepted), a terms
    change, then L3 (500) accepting, which fills it. L1 and the borrower each
    have a webhook."""
    base = server.url
    b, l1, l2, l3, admin = (party("b"), party("l1"), party("l2"), party("l3"), party("a", True))
    rx_b, rx_l1 = receivers
    for who, rx in ((b, rx_b), (l1, rx_l1)):
        d = ok(
            await post(
                base,
                REGISTER,
                {"i": {"url": rx.url, "events": ["LOAN_UPDATED", "LOAN_FUNDED"]}},
                who,
            )
        )
        assert d["registerWebhook"]["errors"] == [], d
    d = ok(
        await post(
            base,
            CREATE,
            {"i": {"title": "Privacy", "amount": "1000", "interestRate": "5", "termMonths": 12}},
            b,
            **{"X-Request-ID": "req-borrower-create"},
        )
    )
    loan_gid, loan_id = d["createLoan"]["loan"]["id"], d["createLoan"]["loan"]["loanId"]
    pids = {}
    for who, amount in ((l1, "300"), (l2, "200"), (l3, "500")):
        d = ok(
            await post(
                base, INVITE, {"i": {"loanId": loan_gid, "email": who.email, "amount": amount}}, b
            )
        )
        assert d["inviteParticipant"]["errors"] == [], d
        pids[who.name] = d["inviteParticipant"]["participant"]
    for who in (l1, l2):
        d = ok(
            await post(
                base,
                ACCEPT,
                {"i": {"participantId": pids[who.name]["id"]}},
                who,
                **{"User-Agent": f"agent-of-{who.name}", "X-Request-ID": f"req-{who.name}"},
            )
        )
        assert d["acceptInvitation"]["errors"] == [], d
    d = ok(
        await post(
            base,
            UPDATE,
            {"i": {"id": loan_gid, "expectedVersion": 1, "changeReason": "rename", "title": "P2"}},
            b,
        )
    )
    assert d["updateLoanTerms"]["loan"]["version"] == 2, d
    d = ok(await post(base, ACCEPT, {"i": {"participantId": pids["l3"]["id"]}}, l3))
    assert d["acceptInvitation"]["errors"] == [], d
    return {
        "base": base,
        "loan": loan_gid,
        "loan_id": loan_id,
        "pids": pids,
        "b": b,
        "l1": l1,
        "l2": l2,
        "l3": l3,
        "admin": admin,
        "rx": {"b": rx_b, "l1": rx_l1},
    }


STATS = "query($id: ID!) { loan(id: $id) { totalFunded acceptedParticipantCount averageContribution largestContribution smallestContribution } }"


async def test_contribution_statistics(world):
    base, gid = world["base"], world["loan"]
    for who in (world["b"], world["admin"]):
        loan = ok(await post(base, STATS, {"id": gid}, who))["loan"]
        assert loan == {
            "totalFunded": "1000.00",
            "acceptedParticipantCount": 3,
            "averageContribution": "333.33",
            "largestContribution": "500.00",
            "smallestContribution": "200.00",
        }, who.name
    body = await post(base, STATS, {"id": gid}, world["l1"])
    # the aggregates stay; each statistic is null with a FORBIDDEN error
    assert body["data"]["loan"] == {
        "totalFunded": "1000.00",
        "acceptedParticipantCount": 3,
        "averageContribution": None,
        "largestContribution": None,
        "smallestContribution": None,
    }
    refused(
        body,
        ["loan", "averageContribution"],
        ["loan", "largestContribution"],
        ["loan", "smallestContribution"],
    )


HISTORY = """query($id: ID!, $bucket: FundingBucket) { loan(id: $id) {
  fundingHistory(bucket: $bucket) { edges { node { totalFunded acceptedParticipantCount } } } } }"""


@pytest.mark.parametrize("bucket", [None, "RAW", "HOUR", "DAY"])
async def test_funding_history_every_bucket(world, bucket):
    base, gid = world["base"], world["loan"]
    for who in (world["b"], world["admin"]):
        edges = ok(await post(base, HISTORY, {"id": gid, "bucket": bucket}, who))["loan"][
            "fundingHistory"
        ]["edges"]
        assert edges and edges[-1]["node"] == {
            "totalFunded": "1000.00",
            "acceptedParticipantCount": 3,
        }, (who.name, edges)
        if bucket in (None, "RAW"):
            # the steps are exactly what a lender must not get: 300, +200, +500
            totals = [e["node"]["totalFunded"] for e in edges]
            assert [t for t in totals if t != "0.00"][-3:] == ["300.00", "500.00", "1000.00"]
    body = await post(base, HISTORY, {"id": gid, "bucket": bucket}, world["l1"])
    refused(body, ["loan", "fundingHistory"])
    assert body["data"]["loan"] is None  # non-null field: the refusal nulls its parent


VERSIONS = """query($id: ID!) { loan(id: $id) { updatedBy { userId } versions { edges { node {
  version snapshot changedBy { userId } terms { title amount } } } } } }"""
FUNDING_KEYS = {
    "total_funded",
    "funding_percentage",
    "accepted_participant_count",
    "average_contribution",
    "largest_contribution",
    "smallest_contribution",
    "last_funding_update",
    "updated_by",
}


async def test_versions_and_actors(world):
    base, gid = world["base"], world["loan"]
    b, l1, l3 = world["b"], world["l1"], world["l3"]
    for who in (b, world["admin"]):
        loan = ok(await post(base, VERSIONS, {"id": gid}, who))["loan"]
        # the acceptance that filled the loan: L3 changed it last
        assert loan["updatedBy"] == {"userId": l3.user_id}
        nodes = [e["node"] for e in loan["versions"]["edges"]]
        assert [n["version"] for n in nodes] == [1, 2, 3]
        assert nodes[1]["snapshot"]["total_funded"] == "500.00"
        assert nodes[1]["snapshot"]["largest_contribution"] == "300.00"
        assert set(nodes[2]["snapshot"]) >= FUNDING_KEYS
        assert [n["changedBy"] for n in nodes] == [
            {"userId": b.user_id},
            {"userId": b.user_id},
            {"userId": l3.user_id},
        ]
    loan = ok(await post(base, VERSIONS, {"id": gid}, l1))["loan"]
    assert loan["updatedBy"] is None  # another lender acted last
    nodes = [e["node"] for e in loan["versions"]["edges"]]
    for n in nodes:
        assert not FUNDING_KEYS & set(n["snapshot"]), n["snapshot"]
        assert n["snapshot"]["title"] == n["terms"]["title"]  # the terms stay provable
        assert n["snapshot"]["amount"] == "1000.00"
    assert [n["changedBy"] for n in nodes] == [{"userId": b.user_id}, {"userId": b.user_id}, None]
    # the lender who acted sees themself
    loan = ok(await post(base, VERSIONS, {"id": gid}, l3))["loan"]
    assert loan["updatedBy"] == {"userId": l3.user_id}
    assert loan["versions"]["edges"][2]["node"]["changedBy"] == {"userId": l3.user_id}


PARTICIPANTS = """query($id: ID!) { loan(id: $id) { participantCount participants {
  totalCount edges { node { lenderEmail contributionAmount } } } } }"""
NODE = """query($id: ID!) { node(id: $id) { __typename ... on Participant { lenderEmail contributionAmount } } }"""


async def test_participants_and_nodes_of_other_lenders(world):
    base, gid = world["base"], world["loan"]
    l1, l2 = world["l1"], world["l2"]
    everyone = {
        (world[n].email, a) for n, a in (("l1", "300.00"), ("l2", "200.00"), ("l3", "500.00"))
    }
    for who in (world["b"], world["admin"]):
        loan = ok(await post(base, PARTICIPANTS, {"id": gid}, who))["loan"]
        got = {
            (e["node"]["lenderEmail"], e["node"]["contributionAmount"])
            for e in loan["participants"]["edges"]
        }
        assert got == everyone and loan["participants"]["totalCount"] == 3
        node = ok(await post(base, NODE, {"id": world["pids"]["l2"]["id"]}, who))["node"]
        assert node["lenderEmail"] == l2.email
    loan = ok(await post(base, PARTICIPANTS, {"id": gid}, l1))["loan"]
    assert loan["participantCount"] == 3  # a count is an aggregate
    got = {
        (e["node"]["lenderEmail"], e["node"]["contributionAmount"])
        for e in loan["participants"]["edges"]
    }
    assert got == {(l1.email, "300.00")} and loan["participants"]["totalCount"] is None
    assert ok(await post(base, NODE, {"id": world["pids"]["l2"]["id"]}, l1))["node"] is None
    assert ok(await post(base, NODE, {"id": world["pids"]["l1"]["id"]}, l1))["node"] == {
        "__typename": "Participant",
        "lenderEmail": l1.email,
        "contributionAmount": "300.00",
    }


TRAIL = """query($id: ID!) { loan(id: $id) { auditTrail(first: 50) { edges { node {
  id tableName action actor { userId } ipAddress userAgent requestId before after } } } } }"""
AUDIT_NODE = """query($id: ID!) { node(id: $id) { ... on AuditEntry { actor { userId } ipAddress userAgent requestId } } }"""


async def test_audit_request_metadata(world):
    base, gid = world["base"], world["loan"]
    b, l1, admin = world["b"], world["l1"], world["admin"]
    # the lender: no audit trail at all (other lenders' before/after images)
    body = await post(base, TRAIL, {"id": gid}, l1)
    refused(body, ["loan", "auditTrail"])

    admin_view = [
        e["node"]
        for e in ok(await post(base, TRAIL, {"id": gid}, admin))["loan"]["auditTrail"]["edges"]
    ]
    b_view = [
        e["node"]
        for e in ok(await post(base, TRAIL, {"id": gid}, b))["loan"]["auditTrail"]["edges"]
    ]
    assert [e["id"] for e in admin_view] == [e["id"] for e in b_view]
    lender_entries = [e for e in admin_view if e["actor"]["userId"] == l1.user_id]
    assert lender_entries
    # admins: everyone's origin
    for e in lender_entries:
        assert (e["ipAddress"], e["userAgent"], e["requestId"]) == (
            "127.0.0.1",
            "agent-of-l1",
            "req-l1",
        )
    create = next(e for e in admin_view if e["tableName"] == "loans" and e["action"] == "CREATE")
    assert create["requestId"] == "req-borrower-create"
    # the borrower: their own entries' origin, never a lender's
    for e in b_view:
        if e["actor"]["userId"] == b.user_id:
            assert e["ipAddress"] == "127.0.0.1" and e["userAgent"] and e["requestId"], e
        else:
            assert (e["ipAddress"], e["userAgent"], e["requestId"]) == (None, None, None), e
    b_create = next(e for e in b_view if e["id"] == create["id"])
    assert b_create["requestId"] == "req-borrower-create"
    # node(id:) follows the same rule; a lender gets no audit entry at all
    entry_id = lender_entries[0]["id"]
    assert (
        ok(await post(base, AUDIT_NODE, {"id": entry_id}, admin))["node"]["userAgent"]
        == "agent-of-l1"
    )
    assert ok(await post(base, AUDIT_NODE, {"id": entry_id}, b))["node"] == {
        "actor": {"userId": l1.user_id},
        "ipAddress": None,
        "userAgent": None,
        "requestId": None,
    }
    assert ok(await post(base, AUDIT_NODE, {"id": entry_id}, l1))["node"] is None


SUB = """subscription($id: ID!) { fundingProgress(loanId: $id) {
  totalFunded acceptedParticipantCount loan { title largestContribution } } }"""


async def first_update(base: str, who: Party, gid: str) -> dict[str, Any]:
    ws = await ws_connect(base, "graphql-transport-ws")
    try:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {who.token}"}}
            )
        )
        assert (await recv(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUB, "variables": {"id": gid}},
                }
            )
        )
        while True:
            msg = await recv(ws, 10)
            if msg["type"] == "next":
                return msg["payload"]
            assert msg["type"] in ("ping", "pong"), msg
    finally:
        await ws.close()


async def test_funding_progress_updates(world):
    base, gid = world["base"], world["loan"]
    for who in (world["b"], world["admin"]):
        payload = await first_update(base, who, gid)
        assert "errors" not in payload, payload
        assert payload["data"]["fundingProgress"]["loan"]["largestContribution"] == "500.00"
    payload = await first_update(base, world["l1"], gid)
    update = payload["data"]["fundingProgress"]
    # the aggregates come through; the loan's statistics do not
    assert (update["totalFunded"], update["acceptedParticipantCount"]) == ("1000.00", 3)
    assert update["loan"] == {"title": "P2", "largestContribution": None}
    assert [e["extensions"]["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    assert payload["errors"][0]["path"] == ["fundingProgress", "loan", "largestContribution"]


async def test_webhook_payloads(world):
    rx_b, rx_l1 = world["rx"]["b"], world["rx"]["l1"]
    l3 = world["l3"]
    deadline = time.monotonic() + 15
    while not (len(rx_b.requests) >= 2 and len(rx_l1.requests) >= 2):
        assert time.monotonic() < deadline, (len(rx_b.requests), len(rx_l1.requests))
        await asyncio.sleep(0.1)
    by_type_b = {r.json["type"]: r.json["data"] for r in rx_b.requests}
    by_type_l1 = {r.json["type"]: r.json["data"] for r in rx_l1.requests}
    assert set(by_type_b) == set(by_type_l1) == {"loan.updated", "loan.funded"}
    # the borrower's receiver: the whole record
    funded_b = by_type_b["loan.funded"]
    assert funded_b["actorId"] == l3.user_id
    assert Decimal(funded_b["loan"]["largestContribution"]) == 500
    assert funded_b["loan"]["updatedBy"] == l3.user_id
    assert Decimal(by_type_b["loan.updated"]["loan"]["smallestContribution"]) == 200
    # the lender's receiver: aggregates only, and not which lender acted
    for data in by_type_l1.values():
        loan = data["loan"]
        for key in (
            "averageContribution",
            "largestContribution",
            "smallestContribution",
            "updatedBy",
        ):
            assert key not in loan, (key, data)
        assert Decimal(loan["totalFunded"]) in (Decimal(500), Decimal(1000))  # aggregates stay
    assert by_type_l1["loan.funded"]["actorId"] is None
    assert by_type_l1["loan.updated"]["actorId"] == world["b"].user_id  # the borrower may be named
