"""Idempotency-Key store/replay helpers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.errors import DomainError
from models import IdempotencyKey
from services import idempotency
from services.common import utcnow
from services.idempotency import IdempotencyInProgress, IdempotencyKeyReused, abandon, begin, finish


async def test_first_request_claims_then_replays(settings):
    # given a first request that claims the key and finishes
    claim = await begin("u1", "key-1", "hash-a")
    assert not claim.is_replay
    await finish("u1", "key-1", {"data": {"createLoan": {"loan": {"id": "x"}}}}, "hash-a")
    # when the same user sends the same body again
    again = await begin("u1", "key-1", "hash-a")
    # then the first response is replayed
    assert again.is_replay and again.replay == {"data": {"createLoan": {"loan": {"id": "x"}}}}
    stored = IdempotencyKey.get(idempotency.storage_key("u1", "key-1"), consistent_read=True)
    assert stored.expires_at - stored.created_at >= timedelta(hours=23, minutes=59)


async def test_same_key_other_body_is_an_error(settings):
    await begin("u2", "k", "hash-a")
    await finish("u2", "k", {"ok": True})
    with pytest.raises(IdempotencyKeyReused) as info:
        await begin("u2", "k", "hash-b")
    assert info.value.code == "CONFLICT"


async def test_keys_are_per_user(settings):
    await begin("u3", "shared", "h")
    await finish("u3", "shared", {"who": "u3"})
    other = await begin("u4", "shared", "h")
    assert not other.is_replay


async def test_in_progress_and_abandon(settings):
    await begin("u5", "k", "h")
    with pytest.raises(IdempotencyInProgress):
        await begin("u5", "k", "h")
    await abandon("u5", "k")
    assert not (await begin("u5", "k", "h")).is_replay


async def test_concurrent_claims_only_one_wins(settings):
    async def claim():
        try:
            return await begin("u6", "race", "h")
        except DomainError as exc:
            return exc

    outcomes = await asyncio.gather(*(claim() for _ in range(10)))
    assert sum(1 for o in outcomes if not isinstance(o, DomainError)) == 1


async def test_expired_and_stale_claims_are_taken_over(settings):
    now = utcnow()
    IdempotencyKey(
        key="u7#old",
        body_hash="h",
        status="DONE",
        response={"x": 1},
        created_at=now - timedelta(days=2),
        expires_at=now - timedelta(days=1),
    ).save()
    assert not (await begin("u7", "old", "other-body")).is_replay
    IdempotencyKey(
        key="u7#stuck",
        body_hash="h",
        status="IN_PROGRESS",
        created_at=now - idempotency.STALE_AFTER - timedelta(seconds=5),
        expires_at=now + timedelta(hours=1),
    ).save()
    assert not (await begin("u7", "stuck", "h")).is_replay


async def test_key_length(settings):
    with pytest.raises(DomainError):
        await begin("u8", "", "h")
    with pytest.raises(DomainError):
        await begin("u8", "k" * 256, "h")
    assert not (await begin("u8", "k" * 255, "h")).is_replay
