"""The DynamoDB rate-limit backend reserves points in blocks: one write per
block, and the shared limit still holds across replicas."""

from __future__ import annotations

import uuid

import models
from core import db
from guards.ratelimit import DynamoDBBackend

WINDOW = 1_800_000_000


def test_one_write_per_block(settings):
    backend, caller = DynamoDBBackend(), f"user:{uuid.uuid4().hex}"
    before = db.TOTALS.calls["UpdateItem"]
    for i in range(1, 201):
        allowed, used = backend.spend(caller, 1, 5000, WINDOW)
        assert allowed and used == i
    writes = db.TOTALS.calls["UpdateItem"] - before
    assert writes == 2  # blocks of 5000 / 50 = 100 points
    shared = models.RateLimitCounter.get(f"{caller}#{WINDOW}", consistent_read=True)
    assert shared.used == 200


def test_replicas_never_pass_the_shared_limit(settings):
    a, b, caller = DynamoDBBackend(), DynamoDBBackend(), f"user:{uuid.uuid4().hex}"
    spent, refused = 0, 0
    for i in range(200):
        allowed, _ = (a if i % 2 else b).spend(caller, 3, 500, WINDOW)
        spent += 3 if allowed else 0
        refused += 0 if allowed else 1
    shared = models.RateLimitCounter.get(f"{caller}#{WINDOW}", consistent_read=True)
    assert shared.used <= 500
    assert spent <= 500
    # each replica may hold at most one unspent block (500 / 50 = 10 points)
    assert spent >= 500 - 2 * 10
    assert refused > 0


def test_small_limits_stay_exact(settings):
    backend, caller = DynamoDBBackend(), f"user:{uuid.uuid4().hex}"
    results = [backend.spend(caller, 1, 5, WINDOW)[0] for _ in range(8)]
    assert results == [True] * 5 + [False] * 3
