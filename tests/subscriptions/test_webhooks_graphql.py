"""Webhooks through the GraphQL API of a real server: register (secret shown
once), a signed delivery of a real change to a loopback receiver, deliveries in
`webhooks`, refusals, delete."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from events.signing import verify
from tests.events.conftest import receiver  # noqa: F401  (a loopback HTTP receiver)
from tests.ops.conftest import start_server
from tests.subscriptions.client import ACCEPT, http_gql, loan_with_invites, token_for

REGISTER = """mutation($i: RegisterWebhookInput!) { registerWebhook(input: $i) {
  webhook { id webhookId url events active } secret errors { field code message } } }"""
LIST = """{ webhooks { edges { node { webhookId url active
  deliveries { edges { node { eventId event status attempts lastStatusCode } } } } } } }"""
DELETE = "mutation($i: DeleteWebhookInput!) { deleteWebhook(input: $i) { webhook { active } errors { code } } }"


@pytest.fixture(scope="module")
def hooks_server(dynamodb_endpoint, tmp_path_factory):
    s = start_server(
        dynamodb_endpoint,
        tmp_path_factory.mktemp("hooks"),
        LOANGRAPH_WEBHOOK_ALLOW_PRIVATE="true",
        LOANGRAPH_WEBHOOK_RETRY_BASE_SECONDS="0.2",
    )
    try:
        yield s
    finally:
        s.stop()


async def gql_raw(base: str, query: str, variables: dict, token: str) -> dict:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        return r.json()


async def test_register_receive_signed_event_list_and_delete(hooks_server, receiver):
    rx = receiver()
    borrower, lender = f"b-{uuid.uuid4().hex[:6]}", f"l-{uuid.uuid4().hex[:6]}"
    tb = token_for(borrower, f"{borrower}@example.com")
    d = await http_gql(
        hooks_server.url,
        REGISTER,
        {"i": {"url": rx.url, "events": ["PARTICIPANT_ACCEPTED", "LOAN_CREATED"]}},
        tb,
    )
    reg = d["registerWebhook"]
    assert reg["errors"] == [] and reg["webhook"]["active"] and len(reg["secret"]) >= 32
    secret = reg["secret"]

    loan, (pid,) = await loan_with_invites(hooks_server.url, borrower, [f"{lender}@example.com"])
    await http_gql(
        hooks_server.url,
        ACCEPT,
        {"i": {"participantId": pid}},
        token_for(lender, f"{lender}@example.com"),
    )

    deadline = time.monotonic() + 10
    while len(rx.requests) < 2:
        assert time.monotonic() < deadline, f"got {len(rx.requests)} deliveries"
        await asyncio.sleep(0.1)
    types = sorted(r.json["type"] for r in rx.requests)
    assert types == ["loan.created", "participant.accepted"]  # invitations were not subscribed to
    for r in rx.requests:
        assert verify(secret, r.body, r.headers["X-Loangraph-Signature"])
        assert r.headers["X-Loangraph-Event-Id"] == r.json["id"]
        assert set(r.json) == {"id", "type", "createdAt", "data"}

    # the secret is never shown again; deliveries are listed with their outcome
    listed = await gql_raw(hooks_server.url, LIST, {}, tb)
    hook = listed["data"]["webhooks"]["edges"][0]["node"]
    assert "secret" not in str(listed)
    deadline = time.monotonic() + 5
    while True:
        statuses = {e["node"]["status"] for e in hook["deliveries"]["edges"]}
        if statuses == {"DELIVERED"} and len(hook["deliveries"]["edges"]) == 2:
            break
        assert time.monotonic() < deadline, hook
        await asyncio.sleep(0.2)
        hook = (await gql_raw(hooks_server.url, LIST, {}, tb))["data"]["webhooks"]["edges"][0][
            "node"
        ]
    assert {e["node"]["lastStatusCode"] for e in hook["deliveries"]["edges"]} == {200}

    # only the owner may delete
    other = token_for(f"x-{uuid.uuid4().hex[:6]}", "x@example.com")
    r = await http_gql(hooks_server.url, DELETE, {"i": {"id": reg["webhook"]["id"]}}, other)
    assert r["deleteWebhook"]["errors"][0]["code"] in ("NOT_FOUND", "FORBIDDEN")
    r = await http_gql(hooks_server.url, DELETE, {"i": {"id": reg["webhook"]["id"]}}, tb)
    assert r["deleteWebhook"]["errors"] == [] and r["deleteWebhook"]["webhook"]["active"] is False


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "not a url", "http://169.254.169.254/latest/meta-data"]
)
async def test_bad_urls_are_refused(hooks_server, url):
    tb = token_for(f"b-{uuid.uuid4().hex[:6]}", "b@example.com")
    d = await http_gql(
        hooks_server.url, REGISTER, {"i": {"url": url, "events": ["LOAN_FUNDED"]}}, tb
    )
    reg = d["registerWebhook"]
    assert reg["webhook"] is None and reg["secret"] is None
    assert reg["errors"][0]["code"] == "VALIDATION" and reg["errors"][0]["field"][-1] == "url"
