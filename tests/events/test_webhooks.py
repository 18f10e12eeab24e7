"""Webhooks end to end: registration rules, signed deliveries to real loopback
receivers, who receives what, retries, giving up, disabling, SSRF at delivery."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client import REGISTRY

import services.webhooks
from core import db
from core.actor import Actor
from core.errors import DomainError
from events.broker import MemoryBroker
from events.runtime import EventRuntime
from events.signing import verify
from models import AuditEntry, Webhook, WebhookDelivery, tables
from models.audit import EVENT_TYPES
from services.webhooks import SYSTEM_ACTOR, count_attempt, delete_webhook, register_webhook
from tests.conftest import new_user
from tests.events.conftest import eventually, make_guard, make_user, new_id, write_audit

ALL = list(EVENT_TYPES)  # subscribe to every event


def actor(user_id: str | None = None, admin: bool = False) -> Actor:
    viewer = new_user("u", admin=admin)
    if user_id is not None:
        viewer = type(viewer)(user_id=user_id, email=f"{user_id}@example.com", roles=viewer.roles)
    return Actor(viewer=viewer, ip_address="127.0.0.1", request_id=new_id("req"))


def deliveries(webhook_id: str) -> list[WebhookDelivery]:
    return list(WebhookDelivery.query(webhook_id, consistent_read=True))


def audited_trail(webhook_id: str) -> list[AuditEntry]:
    """The webhook's audit trail, checked to hold every write to its row: one
    entry per version (1..the row's version, in order), the last one showing
    the row as it is (so no write bypassed the audited path)."""
    row = Webhook.get(webhook_id, consistent_read=True)
    trail = list(AuditEntry.query(f"webhooks#{webhook_id}", consistent_read=True))
    assert [e.after["version"] for e in trail] == list(range(1, row.version + 1))
    last = trail[-1].after
    assert last["consecutive_failures"] == row.consecutive_failures
    assert last["active"] == row.active and last["updated_by"] == row.updated_by
    return trail


def delivery_counts() -> dict[str, float]:
    """loangraph_webhook_deliveries_total by status, read from the default registry."""
    return {
        status: REGISTRY.get_sample_value("loangraph_webhook_deliveries_total", {"status": status})
        or 0.0
        for status in ("delivered", "retrying", "failed")
    }


def moved(before: dict[str, float]) -> dict[str, float]:
    now = delivery_counts()
    return {status: now[status] - before[status] for status in now}


def runtime(settings, **overrides: Any) -> EventRuntime:
    return EventRuntime(
        settings.with_(**overrides),
        dispatch=True,
        deliver=True,
        broker=MemoryBroker(),
        dispatcher_options={"lease_seconds": 3, "poll_interval": 0.05},
        deliverer_options={"poll_interval": 0.1},
    )


# ---------------------------------------------------------------- registration
async def test_register_and_delete(settings, receiver) -> None:
    r = receiver()
    owner = actor()
    hook, secret = await db.run_db(
        register_webhook, owner, r.url, ["loan.funded", "PARTICIPANT_ACCEPTED", "LOAN_FUNDED"]
    )
    assert secret.startswith("whsec_") and len(secret) > 40
    assert hook.events == ["LOAN_FUNDED", "PARTICIPANT_ACCEPTED"] and hook.active
    trail = list(AuditEntry.query(f"webhooks#{hook.webhook_id}"))
    assert [e.action for e in trail] == ["CREATE"] and trail[0].actor_id == owner.user_id
    assert secret not in json.dumps(trail[0].after) and trail[0].event is None

    for url, events, field in [
        (r.url, [], ["events"]),
        (r.url, ["LOAN_EXPLODED"], ["events", "0"]),
        ("ftp://example.com/x", ["LOAN_FUNDED"], ["url"]),
        ("http://169.254.169.254/latest/meta-data", ["LOAN_FUNDED"], ["url"]),
        ("https://[fd00:ec2::254]/", ["LOAN_FUNDED"], ["url"]),
    ]:
        with pytest.raises(DomainError) as err:
            await db.run_db(register_webhook, owner, url, events)
        assert err.value.code == "VALIDATION" and err.value.field == field

    # Without WEBHOOK_ALLOW_PRIVATE, loopback and private targets are refused.
    tables.configure(settings.with_(webhook_allow_private=False))
    try:
        for url in (r.url, "https://127.0.0.1/x", "https://10.0.0.8/x", "https://localhost/x"):
            with pytest.raises(DomainError, match="refused") as err:
                await db.run_db(register_webhook, owner, url, ["LOAN_FUNDED"])
            assert err.value.code == "VALIDATION"
    finally:
        tables.configure(settings)

    with pytest.raises(DomainError) as err:
        await db.run_db(delete_webhook, actor(), hook.webhook_id)
    assert err.value.code == "FORBIDDEN"
    deleted = await db.run_db(delete_webhook, owner, hook.webhook_id)
    assert deleted.deleted_at is not None and not deleted.active
    with pytest.raises(DomainError) as err:
        await db.run_db(delete_webhook, owner, hook.webhook_id)
    assert err.value.code == "NOT_FOUND"
    with pytest.raises(DomainError) as err:
        await db.run_db(delete_webhook, owner, "no-such-webhook")
    assert err.value.code == "NOT_FOUND"
    trail = list(AuditEntry.query(f"webhooks#{hook.webhook_id}"))
    assert [e.action for e in trail] == ["CREATE", "DELETE"]
    assert "deleted_at" in trail[1].changed_fields


# ---------------------------------------------------------------- delivery
async def test_signed_delivery_and_who_receives_what(settings, receiver) -> None:
    loan = new_id()
    borrower = actor()
    admin_user, lender, stranger = new_id("admin"), new_id("lender"), new_id("stranger")
    await db.run_db(make_user, admin_user, f"{admin_user}@example.com", True)
    await db.run_db(make_user, lender, f"{lender}@example.com")
    await db.run_db(make_user, stranger, f"{stranger}@example.com")
    await db.run_db(make_guard, loan, f"{lender}@example.com", "p-lender")
    r_b, r_a, r_l, r_s = receiver(), receiver(), receiver(), receiver()
    hooks = {}
    for name, who, r in (
        ("b", borrower, r_b),
        ("a", actor(admin_user), r_a),
        ("l", actor(lender), r_l),
        ("s", actor(stranger), r_s),
    ):
        hooks[name] = await db.run_db(register_webhook, who, r.url, ALL)
    rt = runtime(settings)
    await rt.start()
    try:
        b_id = borrower.user_id
        e1 = await db.run_db(write_audit, loan, 1, "LOAN_UPDATED", borrower_id=b_id)
        e2 = await db.run_db(
            write_audit,
            loan,
            2,
            "PARTICIPANT_INVITED",
            borrower_id=b_id,
            participant={
                "participant_id": "p-lender",
                "lender_email": f"{lender}@example.com",
                "contribution_amount": "500.00",
                "status": "PENDING",
            },
        )
        e3 = await db.run_db(
            write_audit,
            loan,
            3,
            "PARTICIPANT_INVITED",
            borrower_id=b_id,
            participant={
                "participant_id": "p-other",
                "lender_email": "other@example.com",
                "contribution_amount": "700.00",
                "status": "PENDING",
            },
        )
        mine = {e1.audit_id, e2.audit_id, e3.audit_id}
        await eventually(lambda: set(r_b.event_ids()) == mine, timeout=10)
        await eventually(lambda: mine <= set(r_a.event_ids()), timeout=10)
        await eventually(lambda: set(r_l.event_ids()) == {e1.audit_id, e2.audit_id}, timeout=10)
        assert r_s.event_ids() == []

        secret = hooks["b"][1]
        for req in r_b.requests:
            assert verify(secret, req.body, req.headers["X-Loangraph-Signature"])
            body = req.json
            assert set(body) == {"id", "type", "createdAt", "data"}
            assert req.headers["X-Loangraph-Event-Id"] == body["id"]
            assert req.headers["X-Loangraph-Event-Type"] == body["type"]
            assert body["data"]["loanId"] == loan
        by_id = {req.json["id"]: req.json for req in r_b.requests}
        assert by_id[e1.audit_id]["type"] == "loan.updated"
        assert by_id[e2.audit_id]["type"] == "participant.invited"
        assert by_id[e3.audit_id]["data"]["participant"]["contributionAmount"] == "700.00"
        # The lender's webhook never carries another lender's email or amount.
        assert all("other@example.com" not in req.body.decode() for req in r_l.requests)
        # Signed with each webhook's own secret.
        assert all(
            verify(hooks["l"][1], q.body, q.headers["X-Loangraph-Signature"]) for q in r_l.requests
        )

        ds = await db.run_db(deliveries, hooks["b"][0].webhook_id)
        assert {d.event_id for d in ds} == mine
        await eventually(
            lambda: all(d.status == "DELIVERED" for d in deliveries(hooks["b"][0].webhook_id))
        )
        d = (await db.run_db(deliveries, hooks["b"][0].webhook_id))[0]
        assert d.attempts == 1 and d.last_status_code == 200 and d.due_shard is None
        assert d.attempt_log[0].status_code == 200 and d.claimed_by is None
    finally:
        await rt.stop()


async def test_retries_until_the_receiver_recovers(settings, receiver) -> None:
    r = receiver(respond=lambda n: 500 if n <= 2 else 200)
    owner = actor()
    hook, secret = await db.run_db(register_webhook, owner, r.url, ["LOAN_FUNDED"])
    rt = runtime(settings, webhook_retry_base_seconds=0.2)
    counts = delivery_counts()
    await rt.start()
    try:
        loan = new_id()
        e = await db.run_db(write_audit, loan, 1, "LOAN_FUNDED", borrower_id=owner.user_id)
        await eventually(
            lambda: [d.status for d in deliveries(hook.webhook_id)] == ["DELIVERED"], timeout=15
        )
        # The counter moves once per attempt: two failed attempts retried, one delivered.
        # (At least: the deliverer also picks up deliveries other tests left due.)
        await eventually(lambda: moved(counts)["delivered"] >= 1, timeout=5)
        assert moved(counts)["retrying"] >= 2
        (d,) = await db.run_db(deliveries, hook.webhook_id)
        assert d.attempts == 3 and d.last_status_code == 200 and d.last_error is None
        assert [a.status_code for a in d.attempt_log] == [500, 500, 200]
        assert r.event_ids() == [e.audit_id] * 3  # same event id each time: receivers de-duplicate
        gaps = [b.at - a.at for a, b in zip(r.requests, r.requests[1:], strict=False)]
        assert gaps[0] >= 0.15 and gaps[1] >= 0.3  # exponential: ~0.2 s, then ~0.4 s
        assert all(verify(secret, q.body, q.headers["X-Loangraph-Signature"]) for q in r.requests)
        # The worker counted two failures, then the recovery: each one an audited change.
        await eventually(lambda: len(audited_trail(hook.webhook_id)) == 4, timeout=5)
        trail = await db.run_db(audited_trail, hook.webhook_id)
        assert [e.after["consecutive_failures"] for e in trail] == [0, 1, 2, 0]
        assert [e.actor_id for e in trail[1:]] == [SYSTEM_ACTOR] * 3
        assert all(
            "consecutive_failures" in e.changed_fields and "active" not in e.changed_fields
            for e in trail[1:]
        )
        h = await db.run_db(Webhook.get, hook.webhook_id, consistent_read=True)
        assert h.consecutive_failures == 0 and h.active
    finally:
        await rt.stop()


async def test_disabled_after_consecutive_failures(settings, receiver) -> None:
    r = receiver(respond=lambda n: 503)
    owner = actor()
    hook, _ = await db.run_db(register_webhook, owner, r.url, ["LOAN_UPDATED"])
    rt = runtime(settings, webhook_retry_base_seconds=0.1, webhook_disable_after=3)
    await rt.start()
    try:
        loan = new_id()
        for seq in (1, 2):
            await db.run_db(write_audit, loan, seq, "LOAN_UPDATED", borrower_id=owner.user_id)

        def disabled() -> bool:
            return not Webhook.get(hook.webhook_id, consistent_read=True).active

        await eventually(disabled, timeout=15)
        await eventually(
            lambda: all(d.status == "FAILED" for d in deliveries(hook.webhook_id)), timeout=10
        )
        ds = await db.run_db(deliveries, hook.webhook_id)
        # Both deliveries run concurrently: one attempt already in flight when the
        # third failure disables the webhook still completes (and is recorded).
        attempts = sum(d.attempts for d in ds)
        assert len(ds) == 2 and 3 <= attempts <= 4 and attempts == len(r.requests)
        assert {d.last_error for d in ds} <= {"HTTP 503", "webhook disabled"}
        # Every failure counted, and the disabling, is an audited change by the system;
        # the attempt still in flight after it changes nothing.
        trail = await db.run_db(audited_trail, hook.webhook_id)
        assert [e.after["consecutive_failures"] for e in trail] == [0, 1, 2, 3]
        assert [e.after["active"] for e in trail] == [True, True, True, False]
        assert trail[-1].actor_id == "system:webhooks" and trail[-1].changed_fields
        assert "active" in trail[-1].changed_fields
        assert trail[-1].after["disabled_reason"] == "3 consecutive failed attempts"
    finally:
        await rt.stop()


@pytest.mark.parametrize("serialized", [True, False], ids=["in-process-lock", "db-race"])
async def test_counting_attempts_is_audited_and_loses_no_race(
    settings, monkeypatch, serialized: bool
) -> None:
    """services.webhooks.count_attempt, the worker's only write to the webhook:
    concurrent failures each count once (version races are re-read and retried),
    a success resets, the failure at the limit disables, and then nothing is written."""
    hook, _ = await db.run_db(register_webhook, actor(), "http://127.0.0.1:9/x", ["LOAN_UPDATED"])
    wid = hook.webhook_id
    # Without the in-process lock, the concurrent counts race at the version condition.
    monkeypatch.setattr(services.webhooks, "SERIALIZE_PER_WEBHOOK", serialized)
    # A success with no failures to reset writes nothing.
    assert not await db.run_db(count_attempt, wid, ok=True, disable_after=0)
    assert len(await db.run_db(audited_trail, wid)) == 1
    disabled = await asyncio.gather(
        *(db.run_db(count_attempt, wid, ok=False, disable_after=0) for _ in range(6))
    )
    assert not any(disabled)
    trail = await db.run_db(audited_trail, wid)
    assert [e.after["consecutive_failures"] for e in trail] == [0, 1, 2, 3, 4, 5, 6]
    assert await db.run_db(count_attempt, wid, ok=True, disable_after=2) is False
    assert await db.run_db(count_attempt, wid, ok=False, disable_after=2) is False  # 1 < 2
    assert await db.run_db(count_attempt, wid, ok=False, disable_after=2) is True
    after_disable = await db.run_db(audited_trail, wid)
    assert [e.after["consecutive_failures"] for e in after_disable[-3:]] == [0, 1, 2]
    assert not after_disable[-1].after["active"]
    assert {e.actor_id for e in after_disable[1:]} == {SYSTEM_ACTOR}
    # Disabled: later outcomes are not written (no entry, no version).
    assert await db.run_db(count_attempt, wid, ok=False, disable_after=2) is False
    assert await db.run_db(count_attempt, wid, ok=True, disable_after=2) is False
    assert len(await db.run_db(audited_trail, wid)) == len(after_disable)


async def test_gives_up_after_the_horizon(settings, receiver) -> None:
    r = receiver(respond=lambda n: 500)
    owner = actor()
    hook, _ = await db.run_db(register_webhook, owner, r.url, ["LOAN_DELETED"])
    rt = runtime(settings, webhook_retry_base_seconds=0.2, webhook_retry_horizon_seconds=1.0)
    counts = delivery_counts()
    await rt.start()
    try:
        await db.run_db(write_audit, new_id(), 1, "LOAN_DELETED", borrower_id=owner.user_id)
        await eventually(
            lambda: [d.status for d in deliveries(hook.webhook_id)] == ["FAILED"], timeout=10
        )
        (d,) = await db.run_db(deliveries, hook.webhook_id)
        assert 2 <= d.attempts <= 4 and d.last_status_code == 500 and d.next_attempt_at is None
        assert len(d.attempt_log) == d.attempts == len(r.requests)
        # Every attempt but the last was retried; the last one gave up.
        await eventually(lambda: moved(counts)["failed"] >= 1, timeout=5)
        assert moved(counts)["retrying"] >= d.attempts - 1
    finally:
        await rt.stop()


async def test_ssrf_checked_again_at_delivery(settings, receiver) -> None:
    r = receiver()
    owner = actor()
    hook, _ = await db.run_db(register_webhook, owner, r.url, ["LOAN_RESTORED"])  # allowed then
    rt = runtime(settings, webhook_allow_private=False, webhook_retry_horizon_seconds=0.5)
    await rt.start()
    try:
        await db.run_db(write_audit, new_id(), 1, "LOAN_RESTORED", borrower_id=owner.user_id)
        await eventually(
            lambda: [d.status for d in deliveries(hook.webhook_id)] == ["FAILED"], timeout=10
        )
        (d,) = await db.run_db(deliveries, hook.webhook_id)
        assert d.attempt_log[0].error.startswith("refused:") and d.last_status_code is None
        assert r.requests == []
    finally:
        await rt.stop()
